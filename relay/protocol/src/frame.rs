//! The binary frame envelope: a fixed 36-byte little-endian header, then the pixels.

use thiserror::Error;

/// `b"RTCF"`: lets either side reject a stray binary message before trusting its sizes.
pub const FRAME_MAGIC: [u8; 4] = *b"RTCF";
/// Bumped whenever the header layout changes.
pub const FRAME_VERSION: u8 = 1;
/// Size of the encoded header in bytes.
pub const FRAME_HEADER_LEN: usize = 36;

/// Largest accepted side, so a corrupt header cannot ask for gigabytes.
const MAX_SIDE: u32 = 8192;
/// Room for a JPEG's markers and tables above the raw RGB size.
const JPEG_SLACK: usize = 64 * 1024;

/// Pixel layout of a frame's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PixelFormat {
    /// 4 bytes per pixel, R G B A, rows packed.
    Rgba8,
    /// 3 bytes per pixel, R G B, rows packed (what ComfyUI's IMAGE tensors hold).
    Rgb8,
    /// Planar Y, then U and V at half resolution (rounded up), rows packed.
    I420,
    /// A baseline JPEG of `width` × `height` (agent socket only, on a compressed link): the
    /// payload is the compressed file, the header's size is the decoded one.
    Jpeg,
}

impl PixelFormat {
    /// The wire code used in the header.
    pub const fn code(self) -> u8 {
        match self {
            Self::Rgba8 => 0,
            Self::Rgb8 => 1,
            Self::I420 => 2,
            Self::Jpeg => 3,
        }
    }

    /// Inverse of [`PixelFormat::code`].
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::Rgba8),
            1 => Some(Self::Rgb8),
            2 => Some(Self::I420),
            3 => Some(Self::Jpeg),
            _ => None,
        }
    }

    /// Name used in HTTP headers and JSON (`rgba8`, `rgb8`, `i420`, `jpeg`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Rgba8 => "rgba8",
            Self::Rgb8 => "rgb8",
            Self::I420 => "i420",
            Self::Jpeg => "jpeg",
        }
    }

    /// Payload size for a `width` × `height` frame: exact for pixel layouts, the largest
    /// accepted for JPEG (the RGB size plus room for headers; a JPEG of real frames is a
    /// tenth of it). Saturates at `usize::MAX` for sizes that do not fit, so a header
    /// straight off the wire can be measured before its dimensions are checked (no such size
    /// passes [`check_payload`]).
    pub const fn frame_len(self, width: u32, height: u32) -> usize {
        let (w, h) = (width as usize, height as usize);
        let area = w.saturating_mul(h);
        match self {
            Self::Rgba8 => area.saturating_mul(4),
            Self::Rgb8 => area.saturating_mul(3),
            Self::Jpeg => area.saturating_mul(3).saturating_add(JPEG_SLACK),
            Self::I420 => {
                let chroma = w.div_ceil(2).saturating_mul(h.div_ceil(2));
                area.saturating_add(chroma.saturating_mul(2))
            }
        }
    }
}

impl std::str::FromStr for PixelFormat {
    type Err = FrameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "rgba8" | "rgba" => Ok(Self::Rgba8),
            "rgb8" | "rgb" => Ok(Self::Rgb8),
            "i420" => Ok(Self::I420),
            // `jpeg` is a link encoding, not a layout the HTTP API takes or gives.
            _ => Err(FrameError::UnknownFormatName(s.to_owned())),
        }
    }
}

impl std::fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a binary frame message was rejected.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer bytes than a header.
    #[error("frame message is {0} bytes, shorter than the {FRAME_HEADER_LEN}-byte header")]
    Truncated(usize),
    /// The first four bytes are not `RTCF`.
    #[error("frame message does not start with the RTCF magic")]
    BadMagic,
    /// A header version this build does not understand.
    #[error("frame header version {0} is not supported (expected {FRAME_VERSION})")]
    UnsupportedVersion(u8),
    /// Unknown pixel format code.
    #[error("unknown pixel format code {0}")]
    UnknownFormat(u8),
    /// Unknown pixel format name (HTTP header or JSON).
    // Quoted by hand: `{0:?}` would pull Rust's string escaping into the wasm package.
    #[error("unknown pixel format \"{0}\" (expected rgba8, rgb8 or i420)")]
    UnknownFormatName(String),
    /// Zero or larger than the supported maximum.
    #[error("frame size {width}x{height} is out of range (1..={MAX_SIDE} per side)")]
    BadDimensions {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
    },
    /// Payload length does not match width × height × format (JPEG: empty, or larger than
    /// [`PixelFormat::frame_len`] allows).
    #[error("{format} frame of {width}x{height} needs {expected} bytes of pixels, got {actual}")]
    WrongLength {
        /// Pixel format.
        format: PixelFormat,
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// Bytes the header implies.
        expected: usize,
        /// Bytes present.
        actual: usize,
    },
}

/// Header of a binary frame message on the agent socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Index the relay assigned to the stream in [`crate::LeaseGrant`] / [`crate::OutputRequest`].
    pub stream_index: u32,
    /// Per-stream, per-direction sequence number, increasing by one per frame produced.
    pub sequence: u64,
    /// When the frame was captured, in microseconds on the sender's clock.
    pub capture_us: u64,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Layout of the payload.
    pub format: PixelFormat,
}

impl FrameHeader {
    /// Checks the dimensions and returns the payload size the header implies.
    pub fn payload_len(&self) -> Result<usize, FrameError> {
        check_dimensions(self.width, self.height)?;
        Ok(self.format.frame_len(self.width, self.height))
    }

    /// Writes the 36-byte header.
    pub fn encode(&self) -> [u8; FRAME_HEADER_LEN] {
        let mut out = [0u8; FRAME_HEADER_LEN];
        out[0..4].copy_from_slice(&FRAME_MAGIC);
        out[4] = FRAME_VERSION;
        out[5] = self.format.code();
        // out[6..8] reserved for flags.
        out[8..12].copy_from_slice(&self.stream_index.to_le_bytes());
        out[12..20].copy_from_slice(&self.sequence.to_le_bytes());
        out[20..28].copy_from_slice(&self.capture_us.to_le_bytes());
        out[28..32].copy_from_slice(&self.width.to_le_bytes());
        out[32..36].copy_from_slice(&self.height.to_le_bytes());
        out
    }

    /// Header followed by `pixels`, ready to send as one binary message.
    pub fn encode_with(&self, pixels: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(FRAME_HEADER_LEN + pixels.len());
        out.extend_from_slice(&self.encode());
        out.extend_from_slice(pixels);
        out
    }

    /// Parses a whole binary message and checks the payload length; returns the header and
    /// the pixels (borrowed from `message`).
    pub fn decode(message: &[u8]) -> Result<(Self, &[u8]), FrameError> {
        let header = Self::decode_header(message)?;
        let pixels = &message[FRAME_HEADER_LEN..];
        check_payload(header.format, header.width, header.height, pixels.len())?;
        Ok((header, pixels))
    }

    /// Parses the header at the start of `bytes` without looking at the payload, for
    /// receivers that keep the pixels where they arrived (then check them with
    /// [`check_payload`]).
    pub fn decode_header(bytes: &[u8]) -> Result<Self, FrameError> {
        if bytes.len() < FRAME_HEADER_LEN {
            return Err(FrameError::Truncated(bytes.len()));
        }
        if bytes[0..4] != FRAME_MAGIC {
            return Err(FrameError::BadMagic);
        }
        if bytes[4] != FRAME_VERSION {
            return Err(FrameError::UnsupportedVersion(bytes[4]));
        }
        let format = PixelFormat::from_code(bytes[5]).ok_or(FrameError::UnknownFormat(bytes[5]))?;
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        Ok(Self {
            stream_index: u32_at(8),
            sequence: u64_at(12),
            capture_us: u64_at(20),
            width: u32_at(28),
            height: u32_at(32),
            format,
        })
    }
}

/// Checks that a `width` × `height` frame is in range.
pub(crate) fn check_dimensions(width: u32, height: u32) -> Result<(), FrameError> {
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(FrameError::BadDimensions { width, height });
    }
    Ok(())
}

/// Checks dimensions and that `actual` bytes is exactly what the format needs (for JPEG: at
/// least one byte and no more than [`PixelFormat::frame_len`]; whether the file decodes to
/// the declared size is the decoder's check).
pub fn check_payload(
    format: PixelFormat,
    width: u32,
    height: u32,
    actual: usize,
) -> Result<(), FrameError> {
    check_dimensions(width, height)?;
    let expected = format.frame_len(width, height);
    let fits = match format {
        PixelFormat::Jpeg => (1..=expected).contains(&actual),
        _ => expected == actual,
    };
    if !fits {
        return Err(FrameError::WrongLength {
            format,
            width,
            height,
            expected,
            actual,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(format: PixelFormat, width: u32, height: u32) -> FrameHeader {
        FrameHeader {
            stream_index: 7,
            sequence: u64::MAX - 1,
            capture_us: 123_456_789,
            width,
            height,
            format,
        }
    }

    #[test]
    fn round_trips_every_format() {
        for format in [PixelFormat::Rgba8, PixelFormat::Rgb8, PixelFormat::I420] {
            let h = header(format, 5, 3);
            let pixels: Vec<u8> = (0..format.frame_len(5, 3)).map(|i| i as u8).collect();
            let message = h.encode_with(&pixels);
            let (back, body) = FrameHeader::decode(&message).unwrap();
            assert_eq!(back, h);
            assert_eq!(body, &pixels[..]);
        }
    }

    #[test]
    fn header_alone_decodes_without_its_payload() {
        let h = header(PixelFormat::I420, 4, 2);
        assert_eq!(FrameHeader::decode_header(&h.encode()), Ok(h));
        assert_eq!(
            FrameHeader::decode_header(&h.encode()[..35]),
            Err(FrameError::Truncated(35))
        );
        assert!(FrameHeader::decode(&h.encode()).is_err());
    }

    #[test]
    fn i420_rounds_chroma_up_for_odd_sizes() {
        assert_eq!(PixelFormat::I420.frame_len(5, 3), 15 + 2 * 3 * 2);
        assert_eq!(PixelFormat::I420.frame_len(512, 512), 512 * 512 * 3 / 2);
    }

    #[test]
    fn rejects_bad_messages() {
        let good = header(PixelFormat::Rgb8, 2, 2).encode_with(&[0; 12]);
        assert_eq!(
            FrameHeader::decode(&good[..10]),
            Err(FrameError::Truncated(10))
        );

        let mut bad_magic = good.clone();
        bad_magic[0] = b'X';
        assert_eq!(FrameHeader::decode(&bad_magic), Err(FrameError::BadMagic));

        let mut bad_version = good.clone();
        bad_version[4] = 9;
        assert_eq!(
            FrameHeader::decode(&bad_version),
            Err(FrameError::UnsupportedVersion(9))
        );

        let mut bad_format = good.clone();
        bad_format[5] = 42;
        assert_eq!(
            FrameHeader::decode(&bad_format),
            Err(FrameError::UnknownFormat(42))
        );

        let short = &good[..good.len() - 1];
        assert!(matches!(
            FrameHeader::decode(short),
            Err(FrameError::WrongLength {
                expected: 12,
                actual: 11,
                ..
            })
        ));

        let huge = header(PixelFormat::Rgba8, 100_000, 1).encode();
        assert!(matches!(
            FrameHeader::decode(&huge),
            Err(FrameError::BadDimensions { .. })
        ));
        let zero = header(PixelFormat::Rgba8, 0, 4).encode();
        assert!(matches!(
            FrameHeader::decode(&zero),
            Err(FrameError::BadDimensions { .. })
        ));
    }

    #[test]
    fn largest_header_sizes_are_refused_without_overflow() {
        for format in [
            PixelFormat::Rgba8,
            PixelFormat::Rgb8,
            PixelFormat::I420,
            PixelFormat::Jpeg,
        ] {
            assert_eq!(format.frame_len(u32::MAX, u32::MAX), usize::MAX);
            assert_eq!(
                check_payload(
                    format,
                    u32::MAX,
                    u32::MAX,
                    format.frame_len(u32::MAX, u32::MAX)
                ),
                Err(FrameError::BadDimensions {
                    width: u32::MAX,
                    height: u32::MAX
                })
            );
            let huge = header(format, u32::MAX, u32::MAX).encode();
            assert!(matches!(
                FrameHeader::decode(&huge),
                Err(FrameError::BadDimensions { .. })
            ));
        }
    }

    #[test]
    fn jpeg_payloads_are_bounded_not_exact() {
        let h = header(PixelFormat::Jpeg, 4, 2);
        let message = h.encode_with(&[0xff, 0xd8, 0xff, 0xd9]);
        let (back, body) = FrameHeader::decode(&message).unwrap();
        assert_eq!(back, h);
        assert_eq!(body.len(), 4);
        assert!(matches!(
            FrameHeader::decode(&h.encode()),
            Err(FrameError::WrongLength { actual: 0, .. })
        ));
        let too_big = vec![0; PixelFormat::Jpeg.frame_len(4, 2) + 1];
        assert!(matches!(
            FrameHeader::decode(&h.encode_with(&too_big)),
            Err(FrameError::WrongLength { .. })
        ));
        assert_eq!(PixelFormat::from_code(3), Some(PixelFormat::Jpeg));
        // A link encoding only: the HTTP API's format names do not include it.
        assert!("jpeg".parse::<PixelFormat>().is_err());
    }

    #[test]
    fn format_names_parse() {
        assert_eq!("RGB8".parse::<PixelFormat>(), Ok(PixelFormat::Rgb8));
        assert_eq!("rgba".parse::<PixelFormat>(), Ok(PixelFormat::Rgba8));
        assert!("yuv".parse::<PixelFormat>().is_err());
    }
}
