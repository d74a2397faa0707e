//! Pixel-format conversion for `GET /output?format=`: the player sends what the browser
//! gives cheaply (RGBA or I420); the workflow usually wants RGB.

use rtc_protocol::PixelFormat;

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

/// BT.601 limited-range YUV → RGB, what browsers' H.264 decoders produce by default.
fn i420_to_rgb(pixels: &[u8], w: usize, h: usize, bpp: usize) -> Vec<u8> {
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let (y_plane, rest) = pixels.split_at(w * h);
    let (u_plane, v_plane) = rest.split_at(cw * ch);
    let mut out = vec![255u8; w * h * bpp];
    for row in 0..h {
        for col in 0..w {
            let y = f32::from(y_plane[row * w + col]) - 16.0;
            let u = f32::from(u_plane[(row / 2) * cw + col / 2]) - 128.0;
            let v = f32::from(v_plane[(row / 2) * cw + col / 2]) - 128.0;
            let c = 1.164 * y;
            let at = (row * w + col) * bpp;
            // Truncation after clamping to 0..=255 is the intent.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            {
                out[at] = (c + 1.596 * v).clamp(0.0, 255.0) as u8;
                out[at + 1] = (c - 0.392 * u - 0.813 * v).clamp(0.0, 255.0) as u8;
                out[at + 2] = (c + 2.017 * u).clamp(0.0, 255.0) as u8;
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
    fn i420_grey_becomes_grey() {
        // 2×2 frame: Y = 126 (mid grey in limited range), U = V = 128.
        let i420 = [126, 126, 126, 126, 128, 128];
        let rgb = convert(&i420, PixelFormat::I420, PixelFormat::Rgb8, 2, 2).unwrap();
        assert!(rgb.iter().all(|&c| (127..=129).contains(&c)), "{rgb:?}");
        assert!(convert(&rgb, PixelFormat::Rgb8, PixelFormat::I420, 2, 2).is_err());
    }
}
