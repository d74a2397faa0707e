//! PNG input (the legacy `/input` route): any bytes are decoded or refused, and a PNG is
//! refused by its declared size before its pixels are allocated.

use proptest::collection::vec;
use proptest::prelude::*;
use rtc_relay::pixels::decode_png_rgb;

use super::check;

const MAX_BYTES: usize = 1 << 20;
const RESERVE: usize = 36;

fn color_type() -> impl Strategy<Value = (png::ColorType, usize)> {
    prop_oneof![
        Just((png::ColorType::Rgb, 3)),
        Just((png::ColorType::Rgba, 4)),
        Just((png::ColorType::Grayscale, 1)),
        Just((png::ColorType::GrayscaleAlpha, 2)),
    ]
}

/// A real 8-bit PNG and its pixels.
fn png_image() -> impl Strategy<Value = (Vec<u8>, u32, u32, png::ColorType, Vec<u8>)> {
    (1..=40u32, 1..=40u32, color_type()).prop_flat_map(|(width, height, (color, channels))| {
        let len = width as usize * height as usize * channels;
        vec(any::<u8>(), len).prop_map(move |pixels| {
            let mut out = Vec::new();
            let mut encoder = png::Encoder::new(&mut out, width, height);
            encoder.set_color(color);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder.write_header().unwrap();
            writer.write_image_data(&pixels).unwrap();
            writer.finish().unwrap();
            (out, width, height, color, pixels)
        })
    })
}

fn refusal_is_documented(message: &str) -> bool {
    [
        "not a PNG",
        "corrupt PNG",
        "the PNG decodes to",
        "the PNG is too large",
    ]
    .iter()
    .any(|prefix| message.starts_with(prefix))
}

#[test]
fn pngs_round_trip_to_rgb() {
    check(300, png_image(), |(data, width, height, color, pixels)| {
        let decoded = decode_png_rgb(&data, RESERVE, MAX_BYTES).unwrap();
        prop_assert_eq!((decoded.width, decoded.height), (width, height));
        prop_assert_eq!(
            decoded.buffer.len(),
            RESERVE + (width * height * 3) as usize
        );
        let rgb = &decoded.buffer[RESERVE..];
        let expected: Vec<u8> = match color {
            png::ColorType::Rgb => pixels,
            png::ColorType::Rgba => pixels.chunks(4).flat_map(|p| [p[0], p[1], p[2]]).collect(),
            png::ColorType::Grayscale => pixels.iter().flat_map(|&g| [g, g, g]).collect(),
            _ => pixels.chunks(2).flat_map(|p| [p[0], p[0], p[0]]).collect(),
        };
        prop_assert_eq!(rgb, &expected[..]);
        Ok(())
    });
}

#[test]
fn any_bytes_are_decoded_whole_or_refused_with_a_reason() {
    let mutated = (
        png_image(),
        vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    )
        .prop_map(|((mut data, ..), edits)| {
            for (at, byte) in edits {
                let i = at.index(data.len());
                data[i] = byte;
            }
            data
        });
    let truncated = (png_image(), any::<prop::sample::Index>())
        .prop_map(|((data, ..), at)| data[..at.index(data.len())].to_vec());
    let input = prop_oneof![mutated, truncated, vec(any::<u8>(), 0..128)];
    check(2_000, input, |data| {
        match decode_png_rgb(&data, RESERVE, MAX_BYTES) {
            Ok(decoded) => prop_assert_eq!(
                decoded.buffer.len(),
                RESERVE + decoded.width as usize * decoded.height as usize * 3
            ),
            Err(message) => prop_assert!(refusal_is_documented(&message), "{message}"),
        }
        Ok(())
    });
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A well-formed PNG header declaring `width` × `height`, then a few bytes of compressed data:
/// the shape of a decompression bomb.
fn declared(width: u32, height: u32, color: u8, depth: u8) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[depth, color, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    // zlib stream of a few zero bytes: far fewer than the header promises.
    chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01],
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

#[test]
fn declared_sizes_over_the_limit_are_refused_before_decoding() {
    let side = prop_oneof![1..=2_000u32, 1..=0x7fff_ffffu32];
    let format = prop_oneof![
        Just((2u8, 8u8, 3usize)),
        Just((6, 8, 4)),
        Just((0, 8, 1)),
        Just((6, 16, 4)),
    ];
    check(
        2_000,
        (side.clone(), side, format),
        |(width, height, (color, depth, channels))| {
            let data = declared(width, height, color, depth);
            let decoded_bytes = width as u128 * height as u128 * channels as u128;
            match decode_png_rgb(&data, RESERVE, MAX_BYTES) {
                // The zlib stream holds almost nothing; only a tiny image can be complete.
                Ok(decoded) => prop_assert!(decoded.buffer.len() <= RESERVE + 3),
                Err(message) if decoded_bytes > MAX_BYTES as u128 => prop_assert!(
                    message.starts_with("the PNG decodes to")
                        || message.starts_with("not a PNG")
                        || message.starts_with("the PNG is too large"),
                    "{width}x{height} refused late: {message}"
                ),
                Err(message) => prop_assert!(refusal_is_documented(&message), "{message}"),
            }
            Ok(())
        },
    );
}
