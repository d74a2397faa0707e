//! Pixel-format conversion. `GET /output?format=`: the player sends what the browser gives
//! cheaply (RGBA or I420); the workflow usually wants RGB. Frames to the publisher: the
//! workflow posts RGB(A); the encoder wants I420, which is half the bytes of RGB.

use rtc_protocol::{FRAME_HEADER_LEN, FrameHeader, PixelFormat};

/// Converts `pixels` (`from`, `width`×`height`) to another format.
pub fn convert(
    pixels: &[u8],
    from: PixelFormat,
    to: PixelFormat,
    width: u32,
    height: u32,
) -> Result<Vec<u8>, String> {
    let (w, h) = (width as usize, height as usize);
    match (from, to) {
        (PixelFormat::Rgba8, PixelFormat::Rgb8) => Ok(pixels
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect()),
        (PixelFormat::Rgb8, PixelFormat::Rgba8) => Ok(pixels
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect()),
        (PixelFormat::I420, PixelFormat::Rgb8 | PixelFormat::Rgba8) => {
            let bpp = if to == PixelFormat::Rgb8 { 3 } else { 4 };
            Ok(i420_to_rgb(pixels, w, h, bpp))
        }
        _ => Err(format!("cannot convert {from} frames to {to}")),
    }
}

/// An RGB or RGBA frame message (header + pixels) re-encoded as I420, or `None` when it is
/// already I420 (or JPEG) or its header is unreadable (it is then sent as it is and the agent reports
/// the fault).
pub fn frame_message_as_i420(message: &[u8]) -> Option<Vec<u8>> {
    let (header, pixels) = FrameHeader::decode(message).ok()?;
    let bpp = match header.format {
        PixelFormat::Rgb8 => 3,
        PixelFormat::Rgba8 => 4,
        PixelFormat::I420 | PixelFormat::Jpeg => return None,
    };
    let (w, h) = (header.width as usize, header.height as usize);
    let mut out = vec![0u8; FRAME_HEADER_LEN + rtc_protocol::pixels::i420_len(w, h)];
    let converted = FrameHeader {
        format: PixelFormat::I420,
        ..header
    };
    out[..FRAME_HEADER_LEN].copy_from_slice(&converted.encode());
    rtc_protocol::pixels::rgb_to_i420(pixels, w, h, bpp, &mut out[FRAME_HEADER_LEN..]);
    Some(out)
}

/// BT.601 limited-range YUV → RGB, what browsers' H.264 decoders produce by default, in the
/// usual 8-bit fixed-point coefficients (1.164 × 256 = 298, and so on).
fn i420_to_rgb(pixels: &[u8], w: usize, h: usize, bpp: usize) -> Vec<u8> {
    if bpp == 3 {
        i420_to_packed::<3>(pixels, w, h)
    } else {
        i420_to_packed::<4>(pixels, w, h)
    }
}

/// Two pixels (one chroma sample) per step, without bounds checks in the loop: this runs on
/// every pixel of every frame Frame Output takes.
fn i420_to_packed<const BPP: usize>(pixels: &[u8], w: usize, h: usize) -> Vec<u8> {
    let cw = w.div_ceil(2);
    let (y_plane, rest) = pixels.split_at(w * h);
    let (u_plane, v_plane) = rest.split_at(cw * h.div_ceil(2));
    let mut out = vec![255u8; w * h * BPP];
    let rows = out.chunks_exact_mut(w * BPP).zip(y_plane.chunks_exact(w));
    for (row, (dst, luma)) in rows.enumerate() {
        let (u_row, v_row) = (&u_plane[row / 2 * cw..], &v_plane[row / 2 * cw..]);
        let pairs = dst
            .chunks_mut(2 * BPP)
            .zip(luma.chunks(2))
            .zip(u_row.iter().zip(v_row));
        for ((dst, luma), (&u, &v)) in pairs {
            let (d, e) = (i32::from(u) - 128, i32::from(v) - 128);
            let (r, g, b) = (409 * e + 128, 128 - 100 * d - 208 * e, 516 * d + 128);
            for (px, &y) in dst.chunks_exact_mut(BPP).zip(luma) {
                let c = 298 * (i32::from(y) - 16);
                let byte = |v: i32| u8::try_from((v >> 8).clamp(0, 255)).unwrap_or(u8::MAX);
                [px[0], px[1], px[2]] = [byte(c + r), byte(c + g), byte(c + b)];
            }
        }
    }
    out
}

/// A PNG decoded to RGB8, placed after `reserve` spare bytes (room for a frame header).
#[derive(Debug)]
pub struct DecodedPng {
    /// `reserve` bytes, then width × height × 3 RGB bytes.
    pub buffer: Vec<u8>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// Decodes a PNG of any colour type to RGB8, refusing to allocate more than `max_bytes`.
pub fn decode_png_rgb(data: &[u8], reserve: usize, max_bytes: usize) -> Result<DecodedPng, String> {
    let limits = png::Limits { bytes: max_bytes };
    let mut decoder = png::Decoder::new_with_limits(std::io::Cursor::new(data), limits);
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(|e| format!("not a PNG: {e}"))?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| "the PNG is too large".to_owned())?;
    if size > max_bytes {
        return Err(format!(
            "the PNG decodes to {size} bytes, more than {max_bytes}"
        ));
    }
    let mut raw = vec![0; size];
    let info = reader
        .next_frame(&mut raw)
        .map_err(|e| format!("corrupt PNG: {e}"))?;
    let (width, height) = (info.width, info.height);
    let pixels = &raw[..info.buffer_size()];
    let mut buffer = Vec::with_capacity(reserve + width as usize * height as usize * 3);
    buffer.resize(reserve, 0);
    match info.color_type {
        png::ColorType::Rgb => buffer.extend_from_slice(pixels),
        png::ColorType::Rgba => {
            buffer.extend(pixels.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]));
        }
        png::ColorType::Grayscale => buffer.extend(pixels.iter().flat_map(|&g| [g, g, g])),
        png::ColorType::GrayscaleAlpha => {
            buffer.extend(pixels.chunks_exact(2).flat_map(|p| [p[0], p[0], p[0]]));
        }
        png::ColorType::Indexed => return Err("indexed PNG was not expanded".into()),
    }
    Ok(DecodedPng {
        buffer,
        width,
        height,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode_png(width: u32, height: u32, color: png::ColorType, pixels: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(color);
        encoder.set_depth(png::BitDepth::Eight);
        encoder
            .write_header()
            .unwrap()
            .write_image_data(pixels)
            .unwrap();
        out
    }

    #[test]
    fn png_of_any_colour_type_becomes_rgb() {
        let rgba = encode_png(2, 1, png::ColorType::Rgba, &[1, 2, 3, 9, 4, 5, 6, 9]);
        let decoded = decode_png_rgb(&rgba, 4, 1 << 20).unwrap();
        assert_eq!((decoded.width, decoded.height), (2, 1));
        assert_eq!(decoded.buffer, [0, 0, 0, 0, 1, 2, 3, 4, 5, 6]);
        let grey = encode_png(1, 1, png::ColorType::Grayscale, &[7]);
        assert_eq!(decode_png_rgb(&grey, 0, 1 << 20).unwrap().buffer, [7, 7, 7]);
        assert!(decode_png_rgb(b"not a png", 0, 1 << 20).is_err());
        let big = encode_png(64, 64, png::ColorType::Rgb, &[0; 64 * 64 * 3]);
        assert!(decode_png_rgb(&big, 0, 1000).is_err());
    }

    #[test]
    fn rgba_and_rgb_round_trip() {
        let rgba = [1, 2, 3, 4, 5, 6, 7, 8];
        let rgb = convert(&rgba, PixelFormat::Rgba8, PixelFormat::Rgb8, 2, 1).unwrap();
        assert_eq!(rgb, [1, 2, 3, 5, 6, 7]);
        let back = convert(&rgb, PixelFormat::Rgb8, PixelFormat::Rgba8, 2, 1).unwrap();
        assert_eq!(back, [1, 2, 3, 255, 5, 6, 7, 255]);
    }

    #[test]
    fn rgb_frames_become_i420_with_the_same_header() {
        // 3×3 (odd, so the last chroma row and column cover one pixel each): white, black, grey.
        let mut rgb = Vec::new();
        for value in [255u8, 0, 128, 255, 0, 128, 255, 0, 128] {
            rgb.extend([value; 3]);
        }
        let header = FrameHeader {
            stream_index: 2,
            sequence: 7,
            capture_us: 99,
            width: 3,
            height: 3,
            format: PixelFormat::Rgb8,
        };
        let out = frame_message_as_i420(&header.encode_with(&rgb)).unwrap();
        let (converted, i420) = FrameHeader::decode(&out).unwrap();
        assert_eq!(
            converted,
            FrameHeader {
                format: PixelFormat::I420,
                ..header
            }
        );
        let (y, chroma) = i420.split_at(9);
        assert_eq!(y, [235, 16, 126, 235, 16, 126, 235, 16, 126]);
        assert!(chroma.iter().all(|&c| c == 128), "{chroma:?}");
        // And back through the player's conversion, within rounding.
        let back = convert(i420, PixelFormat::I420, PixelFormat::Rgb8, 3, 3).unwrap();
        for (got, want) in back.iter().zip(&rgb) {
            assert!(got.abs_diff(*want) <= 2, "{back:?}");
        }

        let rgba = header_with(PixelFormat::Rgba8).encode_with(&[255, 0, 0, 255]);
        let red = frame_message_as_i420(&rgba).unwrap();
        assert_eq!(&red[FRAME_HEADER_LEN..], [82, 90, 240]);

        let i420_message = header_with(PixelFormat::I420).encode_with(&[16, 128, 128]);
        assert_eq!(frame_message_as_i420(&i420_message), None);
        assert_eq!(frame_message_as_i420(b"short"), None);
    }

    fn header_with(format: PixelFormat) -> FrameHeader {
        FrameHeader {
            stream_index: 0,
            sequence: 0,
            capture_us: 0,
            width: 1,
            height: 1,
            format,
        }
    }

    #[test]
    fn i420_of_every_size_matches_the_per_pixel_definition() {
        fn reference(i420: &[u8], w: usize, h: usize, x: usize, y: usize) -> [u8; 3] {
            let cw = w.div_ceil(2);
            let chroma = |plane: usize| {
                i32::from(i420[w * h + plane * cw * h.div_ceil(2) + (y / 2) * cw + x / 2]) - 128
            };
            let (c, d, e) = (i32::from(i420[y * w + x]) - 16, chroma(0), chroma(1));
            [
                298 * c + 409 * e,
                298 * c - 100 * d - 208 * e,
                298 * c + 516 * d,
            ]
            .map(|v| u8::try_from(((v + 128) >> 8).clamp(0, 255)).unwrap())
        }
        for (w, h) in [(1, 1), (2, 2), (3, 3), (5, 2), (2, 5), (33, 17)] {
            let i420: Vec<u8> = (0..rtc_protocol::pixels::i420_len(w, h))
                .map(|i| (i * 37 % 251) as u8)
                .collect();
            let rgb = convert(
                &i420,
                PixelFormat::I420,
                PixelFormat::Rgb8,
                w as u32,
                h as u32,
            );
            let rgba = convert(
                &i420,
                PixelFormat::I420,
                PixelFormat::Rgba8,
                w as u32,
                h as u32,
            );
            let (rgb, rgba) = (rgb.unwrap(), rgba.unwrap());
            for (i, (x, y)) in (0..h).flat_map(|y| (0..w).map(move |x| (x, y))).enumerate() {
                let want = reference(&i420, w, h, x, y);
                assert_eq!(rgb[i * 3..i * 3 + 3], want, "{w}x{h} at {x},{y}");
                assert_eq!(rgba[i * 4..i * 4 + 4], [want[0], want[1], want[2], 255]);
            }
        }
    }

    #[test]
    fn i420_grey_becomes_grey() {
        // 2×2 frame: Y = 126 (mid grey in limited range), U = V = 128.
        let i420 = [126, 126, 126, 126, 128, 128];
        let rgb = convert(&i420, PixelFormat::I420, PixelFormat::Rgb8, 2, 2).unwrap();
        assert!(rgb.iter().all(|&c| (127..=129).contains(&c)), "{rgb:?}");
        assert!(convert(&rgb, PixelFormat::Rgb8, PixelFormat::I420, 2, 2).is_err());
    }
}
