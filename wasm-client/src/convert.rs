//! Pixel format conversions between the socket formats and what `VideoFrame` takes or gives.
//! Pure, tested natively.

/// Packed RGB to RGBA with opaque alpha, into `out` (resized).
pub fn rgb_to_rgba(rgb: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(rgb.len() / 3 * 4);
    for px in rgb.chunks_exact(3) {
        out.extend_from_slice(&[px[0], px[1], px[2], 255]);
    }
}

/// Packed RGBA to RGB (alpha dropped), into `out`.
pub fn rgba_to_rgb(rgba: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(rgba.len() / 4 * 3);
    for px in rgba.chunks_exact(4) {
        out.extend_from_slice(&px[..3]);
    }
}

/// Packed RGBA to I420 (BT.601, limited range, chroma averaged over 2×2), into `out`.
pub fn rgba_to_i420(rgba: &[u8], width: usize, height: usize, out: &mut Vec<u8>) {
    let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
    out.clear();
    out.resize(width * height + 2 * cw * ch, 0);
    let (y_plane, chroma) = out.split_at_mut(width * height);
    let (u_plane, v_plane) = chroma.split_at_mut(cw * ch);
    let px = |x: usize, y: usize| {
        let i = (y * width + x) * 4;
        (
            i32::from(rgba[i]),
            i32::from(rgba[i + 1]),
            i32::from(rgba[i + 2]),
        )
    };
    for y in 0..height {
        for x in 0..width {
            let (r, g, b) = px(x, y);
            y_plane[y * width + x] = (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16) as u8;
        }
    }
    for cy in 0..ch {
        for cx in 0..cw {
            let (mut r, mut g, mut b, mut n) = (0, 0, 0, 0);
            for (x, y) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                let (x, y) = (cx * 2 + x, cy * 2 + y);
                if x < width && y < height {
                    let p = px(x, y);
                    (r, g, b, n) = (r + p.0, g + p.1, b + p.2, n + 1);
                }
            }
            let (r, g, b) = (r / n, g / n, b / n);
            u_plane[cy * cw + cx] = (((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128) as u8;
            v_plane[cy * cw + cx] = (((112 * r - 94 * g - 18 * b + 128) >> 8) + 128) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb_rgba_round_trip() {
        let rgb = [1, 2, 3, 4, 5, 6];
        let mut rgba = Vec::new();
        rgb_to_rgba(&rgb, &mut rgba);
        assert_eq!(rgba, [1, 2, 3, 255, 4, 5, 6, 255]);
        let mut back = Vec::new();
        rgba_to_rgb(&rgba, &mut back);
        assert_eq!(back, rgb);
    }

    #[test]
    fn i420_of_white_black_and_odd_sizes() {
        let mut out = Vec::new();
        rgba_to_i420(&[255; 3 * 3 * 4], 3, 3, &mut out);
        assert_eq!(out.len(), 9 + 2 * 4);
        assert!(out[..9].iter().all(|&y| y == 235));
        assert!(out[9..].iter().all(|&c| c == 128));
        let black: Vec<u8> = [0, 0, 0, 255].repeat(4);
        rgba_to_i420(&black, 2, 2, &mut out);
        assert_eq!(out, [16, 16, 16, 16, 128, 128]);
    }
}
