//! What crosses one agent socket: the link format negotiated at `hello` (raw pixels on
//! loopback, JPEG when the browser is across a network), the JPEG codec glue for it, and the
//! bound on frames in flight to an agent that acknowledges them.
//!
//! Nothing here does IO; `agent.rs` calls it from its socket loops.

use std::sync::Mutex;

use rtc_protocol::{
    FRAME_HEADER_LEN, FrameError, FrameHeader, LinkChoice, LinkFormat, PixelFormat,
};
use thiserror::Error;

use crate::lock;

/// Header the pack's proxy puts on the agent socket's upgrade: `loopback` or `remote`, from
/// the browser's address. The proxy drops the browser's own copy, so a page cannot set it.
pub const LOCALITY_HEADER: &str = "x-rtc-client-locality";

/// Quality of the JPEGs either side makes when the agent names none: markers and edges stay
/// clean, and a 512×512 frame is about 30 KB instead of 393 KB of I420.
pub const DEFAULT_JPEG_QUALITY: u8 = 80;

/// Frames per stream sent to an acknowledging agent and not yet acknowledged: one being
/// consumed, one on the way. More only adds latency on a slow link.
pub const MAX_IN_FLIGHT: usize = 2;

/// Where the agent's browser is, as far as the relay can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locality {
    /// On this machine, or connected straight to the relay (which listens on loopback).
    Loopback,
    /// Elsewhere, according to the pack's proxy.
    Remote,
}

impl Locality {
    /// From the proxy's header; a missing or unknown value means the agent reached the relay
    /// directly.
    pub fn from_header(value: Option<&str>) -> Self {
        match value.map(str::trim) {
            Some(v) if v.eq_ignore_ascii_case("remote") => Self::Remote,
            _ => Self::Loopback,
        }
    }
}

/// What one agent socket carries, decided at `hello`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// Raw or JPEG, both directions.
    pub format: LinkFormat,
    /// Quality of the JPEGs both sides make.
    pub jpeg_quality: u8,
}

/// The link for an agent that asked for `choice` (nothing: an agent that predates links,
/// which gets raw pixels) from `locality`.
pub fn choose(choice: Option<LinkChoice>, quality: Option<u8>, locality: Locality) -> Link {
    let format = match (choice, locality) {
        (Some(LinkChoice::Jpeg), _) | (Some(LinkChoice::Auto), Locality::Remote) => {
            LinkFormat::Jpeg
        }
        _ => LinkFormat::Raw,
    };
    Link {
        format,
        jpeg_quality: quality.unwrap_or(DEFAULT_JPEG_QUALITY).clamp(1, 100),
    }
}

/// The format `play` asks the player to return frames in: JPEG on a compressed link; on a raw
/// one I420 to an agent that works in I420 (what the browser's decoder gives, so the copy-out
/// needs no conversion, and 3/8 of RGBA's bytes), else RGBA as before.
pub fn output_format(link: LinkFormat, prefer_i420: bool) -> PixelFormat {
    match (link, prefer_i420) {
        (LinkFormat::Jpeg, _) => PixelFormat::Jpeg,
        (LinkFormat::Raw, true) => PixelFormat::I420,
        (LinkFormat::Raw, false) => PixelFormat::Rgba8,
    }
}

/// Why a JPEG could not be made or read.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum JpegError {
    /// The frame message itself is malformed.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The payload is not a JPEG this decoder reads.
    #[error("the JPEG frame does not decode: {0}")]
    Corrupt(String),
    /// The JPEG's size is not the header's.
    #[error("the JPEG is {actual_width}x{actual_height}, the frame header says {width}x{height}")]
    SizeMismatch {
        /// Header width.
        width: u32,
        /// Header height.
        height: u32,
        /// Width in the JPEG.
        actual_width: u32,
        /// Height in the JPEG.
        actual_height: u32,
    },
    /// The encoder refused the frame.
    #[error("JPEG encoding failed: {0}")]
    Encode(String),
}

/// A frame message (header + pixels in any layout) re-encoded as a JPEG frame message with
/// the same header but the `jpeg` format.
pub fn encode_message(message: &[u8], quality: u8) -> Result<Vec<u8>, JpegError> {
    let (header, pixels) = FrameHeader::decode(message)?;
    let (width, height) = (header.width, header.height);
    let converted;
    let (data, color) = match header.format {
        PixelFormat::Rgb8 => (pixels, jpeg_encoder::ColorType::Rgb),
        PixelFormat::Rgba8 => (pixels, jpeg_encoder::ColorType::Rgba),
        PixelFormat::I420 => {
            converted =
                crate::pixels::convert(pixels, PixelFormat::I420, PixelFormat::Rgb8, width, height)
                    .map_err(JpegError::Encode)?;
            (&converted[..], jpeg_encoder::ColorType::Rgb)
        }
        PixelFormat::Jpeg => return Ok(message.to_vec()),
    };
    let mut out = Vec::with_capacity(FRAME_HEADER_LEN + pixels.len() / 8);
    out.extend_from_slice(
        &FrameHeader {
            format: PixelFormat::Jpeg,
            ..header
        }
        .encode(),
    );
    // Dimensions were checked against the 8192 cap by `decode`, so they fit in u16.
    let side = |v: u32| u16::try_from(v).map_err(|_| JpegError::Encode("frame too large".into()));
    jpeg_encoder::Encoder::new(&mut out, quality)
        .encode(data, side(width)?, side(height)?, color)
        .map_err(|e| JpegError::Encode(e.to_string()))?;
    Ok(out)
}

/// Decodes the JPEG payload of a frame whose header is `header` to RGB8 of the header's size.
pub fn decode_rgb(header: &FrameHeader, jpeg: &[u8]) -> Result<Vec<u8>, JpegError> {
    use zune_jpeg::zune_core::bytestream::ZCursor;
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;

    rtc_protocol::check_payload(PixelFormat::Jpeg, header.width, header.height, jpeg.len())?;
    // Only the file's headers are read before its size is compared with the frame header's;
    // the pixels are allocated after, at the (already capped) header size.
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(jpeg), options);
    decoder
        .decode_headers()
        .map_err(|e| JpegError::Corrupt(e.to_string()))?;
    let (actual_width, actual_height) = decoder
        .dimensions()
        .map(|(w, h)| (w as u32, h as u32))
        .ok_or_else(|| JpegError::Corrupt("no frame header".into()))?;
    if (actual_width, actual_height) != (header.width, header.height) {
        return Err(JpegError::SizeMismatch {
            width: header.width,
            height: header.height,
            actual_width,
            actual_height,
        });
    }
    let mut rgb = vec![0; PixelFormat::Rgb8.frame_len(header.width, header.height)];
    decoder
        .decode_into(&mut rgb)
        .map_err(|e| JpegError::Corrupt(e.to_string()))?;
    Ok(rgb)
}

/// Frames sent to one acknowledging agent and not yet acknowledged, per stream index.
#[derive(Debug, Default)]
pub struct InFlight {
    sent: Mutex<Vec<(u32, u64)>>,
}

impl InFlight {
    /// Whether another frame of `stream_index` may go out now.
    pub fn has_room(&self, stream_index: u32) -> bool {
        lock(&self.sent)
            .iter()
            .filter(|(index, _)| *index == stream_index)
            .count()
            < MAX_IN_FLIGHT
    }

    /// A frame went out.
    pub fn sent(&self, stream_index: u32, sequence: u64) {
        lock(&self.sent).push((stream_index, sequence));
    }

    /// The agent is done with `sequence` and everything before it (an ack may be lost or
    /// skipped; a later one settles the earlier frames).
    pub fn acked(&self, stream_index: u32, sequence: u64) {
        lock(&self.sent).retain(|&(index, seq)| index != stream_index || seq > sequence);
    }

    /// Forgets a stream's frames (its lease was granted anew: frames sent under an older
    /// grant may never be acknowledged).
    pub fn reset(&self, stream_index: u32) {
        lock(&self.sent).retain(|&(index, _)| index != stream_index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(format: PixelFormat, width: u32, height: u32) -> FrameHeader {
        FrameHeader {
            stream_index: 3,
            sequence: 11,
            capture_us: 42,
            width,
            height,
            format,
        }
    }

    /// Left half dark, right half light, as a marker block would be.
    fn halves(width: u32, height: u32) -> Vec<u8> {
        (0..height)
            .flat_map(|_| (0..width).flat_map(move |x| [if x < width / 2 { 20 } else { 230 }; 3]))
            .collect()
    }

    #[test]
    fn the_link_follows_the_proxy_unless_the_agent_insists() {
        let remote = Locality::from_header(Some("remote"));
        let here = Locality::from_header(Some("loopback"));
        assert_eq!(remote, Locality::Remote);
        assert_eq!(Locality::from_header(None), Locality::Loopback);
        assert_eq!(Locality::from_header(Some("mars")), Locality::Loopback);
        let format = |choice, locality| choose(choice, None, locality).format;
        assert_eq!(format(None, remote), LinkFormat::Raw, "old agents stay raw");
        assert_eq!(format(Some(LinkChoice::Auto), remote), LinkFormat::Jpeg);
        assert_eq!(format(Some(LinkChoice::Auto), here), LinkFormat::Raw);
        assert_eq!(format(Some(LinkChoice::Raw), remote), LinkFormat::Raw);
        assert_eq!(format(Some(LinkChoice::Jpeg), here), LinkFormat::Jpeg);
        assert_eq!(choose(None, Some(0), here).jpeg_quality, 1);
        assert_eq!(output_format(LinkFormat::Jpeg, true), PixelFormat::Jpeg);
        assert_eq!(output_format(LinkFormat::Raw, true), PixelFormat::I420);
        assert_eq!(output_format(LinkFormat::Raw, false), PixelFormat::Rgba8);
        assert_eq!(choose(None, None, here).jpeg_quality, DEFAULT_JPEG_QUALITY);
    }

    #[test]
    fn frames_round_trip_through_jpeg_with_their_header() {
        for (format, pixels) in [
            (PixelFormat::Rgb8, halves(64, 48)),
            (
                PixelFormat::Rgba8,
                halves(64, 48)
                    .chunks_exact(3)
                    .flat_map(|p| [p[0], p[1], p[2], 255])
                    .collect(),
            ),
        ] {
            let h = header(format, 64, 48);
            let jpeg = encode_message(&h.encode_with(&pixels), 80).unwrap();
            let (back, payload) = FrameHeader::decode(&jpeg).unwrap();
            assert_eq!(
                back,
                FrameHeader {
                    format: PixelFormat::Jpeg,
                    ..h
                }
            );
            assert!(payload.len() < pixels.len() / 4, "{} bytes", payload.len());
            let rgb = decode_rgb(&back, payload).unwrap();
            let want = halves(64, 48);
            let worst = rgb.iter().zip(&want).map(|(a, b)| a.abs_diff(*b)).max();
            assert!(worst.unwrap() < 40, "worst error {worst:?}");
            // Away from the edge the halves are as dark and as light as they were.
            assert!(rgb[3 * 8].abs_diff(20) < 8 && rgb[3 * 56].abs_diff(230) < 8);
        }
        let i420 = crate::pixels::frame_message_as_i420(
            &header(PixelFormat::Rgb8, 64, 48).encode_with(&halves(64, 48)),
        )
        .unwrap();
        let jpeg = encode_message(&i420, 80).unwrap();
        let (back, payload) = FrameHeader::decode(&jpeg).unwrap();
        assert_eq!(decode_rgb(&back, payload).unwrap().len(), 64 * 48 * 3);
    }

    #[test]
    fn bad_jpegs_are_typed_errors() {
        let h = header(PixelFormat::Rgb8, 32, 16);
        let jpeg = encode_message(&h.encode_with(&halves(32, 16)), 70).unwrap();
        let (good, payload) = FrameHeader::decode(&jpeg).unwrap();

        let larger = FrameHeader { width: 64, ..good };
        assert_eq!(
            decode_rgb(&larger, payload),
            Err(JpegError::SizeMismatch {
                width: 64,
                height: 16,
                actual_width: 32,
                actual_height: 16
            })
        );
        let smaller = FrameHeader { height: 8, ..good };
        assert!(matches!(
            decode_rgb(&smaller, payload),
            Err(JpegError::SizeMismatch {
                actual_height: 16,
                ..
            })
        ));

        let truncated = &payload[..payload.len() / 2];
        assert!(decode_rgb(&good, truncated).is_err());
        assert!(matches!(
            decode_rgb(&good, b"definitely not a jpeg"),
            Err(JpegError::Corrupt(_))
        ));
        assert!(matches!(
            decode_rgb(&good, &[]),
            Err(JpegError::Frame(FrameError::WrongLength { .. }))
        ));
        assert!(matches!(
            encode_message(b"short", 80),
            Err(JpegError::Frame(FrameError::Truncated(5)))
        ));
    }

    #[test]
    fn in_flight_frames_are_bounded_per_stream_and_settled_by_acks() {
        let flight = InFlight::default();
        flight.sent(1, 10);
        flight.sent(1, 11);
        assert!(!flight.has_room(1));
        assert!(flight.has_room(2), "streams are counted apart");
        flight.acked(1, 10);
        assert!(flight.has_room(1));
        flight.sent(1, 12);
        // One ack settles everything before it.
        flight.acked(1, 12);
        flight.sent(1, 13);
        flight.sent(1, 14);
        assert!(!flight.has_room(1));
        flight.reset(1);
        assert!(flight.has_room(1));
    }
}
