//! The 36-byte frame header and the pixel conversions that trust it.

use proptest::collection::vec;
use proptest::prelude::*;
use rtc_protocol::{
    FRAME_HEADER_LEN, FRAME_MAGIC, FRAME_VERSION, FrameError, FrameHeader, PixelFormat,
};
use rtc_relay::pixels;

use super::check;

const MAX_SIDE: u32 = 8192;

fn format() -> impl Strategy<Value = PixelFormat> {
    prop_oneof![
        Just(PixelFormat::Rgba8),
        Just(PixelFormat::Rgb8),
        Just(PixelFormat::I420)
    ]
}

/// Any side, biased towards the edges of the accepted range and the largest values.
fn side() -> impl Strategy<Value = u32> {
    prop_oneof![
        1..=64u32,
        Just(0u32),
        Just(MAX_SIDE),
        Just(MAX_SIDE + 1),
        Just(u32::MAX),
        any::<u32>(),
    ]
}

fn header() -> impl Strategy<Value = FrameHeader> {
    (
        any::<u32>(),
        any::<u64>(),
        any::<u64>(),
        side(),
        side(),
        format(),
    )
        .prop_map(
            |(stream_index, sequence, capture_us, width, height, format)| FrameHeader {
                stream_index,
                sequence,
                capture_us,
                width,
                height,
                format,
            },
        )
}

/// A header that is valid but for its payload, followed by `extra` bytes.
pub(super) fn near_valid_message() -> impl Strategy<Value = Vec<u8>> {
    (header(), vec(any::<u8>(), 0..256), any::<[u8; 2]>()).prop_map(|(h, pixels, reserved)| {
        let mut message = h.encode_with(&pixels);
        message[6..8].copy_from_slice(&reserved);
        message
    })
}

fn valid_sides(width: u32, height: u32) -> bool {
    (1..=MAX_SIDE).contains(&width) && (1..=MAX_SIDE).contains(&height)
}

#[test]
fn decoding_any_bytes_returns_a_frame_error_or_a_consistent_frame() {
    let bytes = prop_oneof![vec(any::<u8>(), 0..80), near_valid_message()];
    check(2_000, bytes, |message| {
        match FrameHeader::decode(&message) {
            Ok((header, pixels)) => {
                prop_assert!(valid_sides(header.width, header.height));
                prop_assert_eq!(pixels.len(), header.payload_len().unwrap());
                prop_assert_eq!(message.len(), FRAME_HEADER_LEN + pixels.len());
                // Everything but the reserved bytes comes back as it was.
                let encoded = header.encode();
                prop_assert_eq!(&encoded[..6], &message[..6]);
                prop_assert_eq!(&encoded[8..], &message[8..FRAME_HEADER_LEN]);
            }
            Err(FrameError::Truncated(n)) => {
                prop_assert!(n == message.len() && n < FRAME_HEADER_LEN);
            }
            Err(FrameError::BadMagic) => prop_assert_ne!(&message[..4], &FRAME_MAGIC),
            Err(FrameError::UnsupportedVersion(v)) => prop_assert_ne!(v, FRAME_VERSION),
            Err(FrameError::UnknownFormat(code)) => {
                prop_assert!(PixelFormat::from_code(code).is_none());
            }
            Err(FrameError::BadDimensions { width, height }) => {
                prop_assert!(!valid_sides(width, height));
            }
            Err(FrameError::WrongLength {
                expected, actual, ..
            }) => {
                prop_assert_ne!(expected, actual);
                prop_assert_eq!(actual, message.len() - FRAME_HEADER_LEN);
            }
            Err(other @ FrameError::UnknownFormatName(_)) => {
                prop_assert!(false, "undocumented error for a binary header: {other}");
            }
        }
        Ok(())
    });
}

#[test]
fn sizes_are_checked_before_they_are_computed() {
    // The payload size of any header, even 4294967295 × 4294967295, is either refused or
    // exactly what the format needs; nothing overflows on the way.
    check(2_000, (header(), any::<usize>()), |(header, actual)| {
        let valid = valid_sides(header.width, header.height);
        match header.payload_len() {
            Ok(len) => {
                prop_assert!(valid);
                prop_assert_eq!(len, header.format.frame_len(header.width, header.height));
                prop_assert!(len <= MAX_SIDE as usize * MAX_SIDE as usize * 4);
            }
            Err(e) => prop_assert_eq!(
                e,
                FrameError::BadDimensions {
                    width: header.width,
                    height: header.height
                }
            ),
        }
        let checked =
            rtc_protocol::check_payload(header.format, header.width, header.height, actual);
        prop_assert_eq!(checked.is_ok(), valid && header.payload_len() == Ok(actual));
        Ok(())
    });
}

#[test]
fn headers_round_trip_through_their_encoding() {
    check(2_000, header(), |header| {
        let encoded = header.encode();
        prop_assert_eq!(FrameHeader::decode_header(&encoded), Ok(header));
        Ok(())
    });
}

pub(super) fn small_frame() -> impl Strategy<Value = (FrameHeader, Vec<u8>)> {
    (header(), 1..=24u32, 1..=24u32).prop_flat_map(|(header, width, height)| {
        let header = FrameHeader {
            width,
            height,
            ..header
        };
        let len = header.format.frame_len(width, height);
        (Just(header), vec(any::<u8>(), len))
    })
}

#[test]
fn frames_round_trip_with_their_pixels() {
    check(500, small_frame(), |(header, pixels)| {
        let message = header.encode_with(&pixels);
        let (decoded, decoded_pixels) = FrameHeader::decode(&message).unwrap();
        prop_assert_eq!(decoded, header);
        prop_assert_eq!(decoded_pixels, &pixels[..]);
        Ok(())
    });
}

#[test]
fn i420_hand_off_accepts_any_message_and_keeps_the_header() {
    let message = prop_oneof![
        small_frame().prop_map(|(h, p)| h.encode_with(&p)),
        near_valid_message(),
        vec(any::<u8>(), 0..64),
    ];
    check(1_000, message, |message| {
        let converted = pixels::frame_message_as_i420(&message);
        match FrameHeader::decode(&message) {
            Ok((header, _)) if header.format != PixelFormat::I420 => {
                let converted = converted.expect("RGB(A) frames are converted");
                let (out, out_pixels) = FrameHeader::decode(&converted).unwrap();
                prop_assert_eq!(
                    out,
                    FrameHeader {
                        format: PixelFormat::I420,
                        ..header
                    }
                );
                prop_assert_eq!(
                    out_pixels.len(),
                    PixelFormat::I420.frame_len(header.width, header.height)
                );
            }
            _ => prop_assert!(converted.is_none()),
        }
        Ok(())
    });
}

#[test]
fn output_conversions_give_whole_frames_of_the_asked_format() {
    let to = prop_oneof![Just(PixelFormat::Rgb8), Just(PixelFormat::Rgba8)];
    check(500, (small_frame(), to), |((header, pixels), to)| {
        let (w, h) = (header.width, header.height);
        match pixels::convert(&pixels, header.format, to, w, h) {
            Ok(out) => prop_assert_eq!(out.len(), to.frame_len(w, h)),
            // Only the same-format "conversions", which callers never ask for.
            Err(_) => prop_assert_eq!(header.format, to),
        }
        Ok(())
    });
}
