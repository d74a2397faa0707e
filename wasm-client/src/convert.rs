//! Pixel format conversions between the socket formats and what `VideoFrame` takes or gives.
//! Pure, tested natively.

/// Packed RGB to RGBA with opaque alpha, into `out` (resized).
pub fn rgb_to_rgba(rgb: &[u8], out: &mut Vec<u8>) {
    // Four pixels per step as three 32-bit loads and four stores: the size-optimised wasm
    // build neither unrolls nor vectorises a per-pixel loop, and this runs on every pixel of
    // every frame from the socket.
    out.clear();
    out.resize(rgb.len() / 3 * 4, 255);
    let mut dst = out.chunks_exact_mut(16);
    let mut src = rgb.chunks_exact(12);
    for (d, s) in (&mut dst).zip(&mut src) {
        let (a, b, c) = (word(&s[0..4]), word(&s[4..8]), word(&s[8..12]));
        let opaque = 0xff00_0000;
        let pixels = [a, (a >> 24) | (b << 8), (b >> 16) | (c << 16), c >> 8];
        for (d, p) in d.chunks_exact_mut(4).zip(pixels) {
            d.copy_from_slice(&(p | opaque).to_le_bytes());
        }
    }
    for (d, s) in dst
        .into_remainder()
        .chunks_exact_mut(4)
        .zip(src.remainder().chunks_exact(3))
    {
        d[..3].copy_from_slice(s);
    }
}

/// Packed RGBA to RGB (alpha dropped), into `out`.
pub fn rgba_to_rgb(rgba: &[u8], out: &mut Vec<u8>) {
    // Four pixels per step, as in `rgb_to_rgba`: this runs on every played-back frame.
    out.clear();
    out.resize(rgba.len() / 4 * 3, 0);
    let mut dst = out.chunks_exact_mut(12);
    let mut src = rgba.chunks_exact(16);
    for (d, s) in (&mut dst).zip(&mut src) {
        let px = |i: usize| word(&s[i * 4..i * 4 + 4]) & 0x00ff_ffff;
        let (p0, p1, p2, p3) = (px(0), px(1), px(2), px(3));
        let words = [
            p0 | (p1 << 24),
            (p1 >> 8) | (p2 << 16),
            (p2 >> 16) | (p3 << 8),
        ];
        for (d, w) in d.chunks_exact_mut(4).zip(words) {
            d.copy_from_slice(&w.to_le_bytes());
        }
    }
    for (d, s) in dst
        .into_remainder()
        .chunks_exact_mut(3)
        .zip(src.remainder().chunks_exact(4))
    {
        d.copy_from_slice(&s[..3]);
    }
}

/// Four bytes as a little-endian word.
fn word(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Packed RGBA to I420 (BT.601, limited range, chroma averaged over 2×2), into `out`. The
/// relay's `rtc_protocol::pixels::rgb_to_i420` gives the same bytes several times faster, but
/// adds more than a kilobyte to this package, which is at its size budget; here the conversion
/// only serves played frames that the browser gives in another layout.
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
    fn conversions_handle_every_remainder() {
        for pixels in 0..10usize {
            let rgb: Vec<u8> = (0..pixels * 3).map(|i| (i * 7 + 1) as u8).collect();
            let mut rgba = Vec::new();
            rgb_to_rgba(&rgb, &mut rgba);
            let expected: Vec<u8> = rgb
                .chunks_exact(3)
                .flat_map(|p| [p[0], p[1], p[2], 255])
                .collect();
            assert_eq!(rgba, expected, "{pixels} pixels");
            let mut back = Vec::new();
            rgba_to_rgb(&rgba, &mut back);
            assert_eq!(back, rgb, "{pixels} pixels back");
        }
    }

    #[test]
    fn i420_matches_the_relays_conversion() {
        for (w, h) in [(1, 1), (3, 3), (7, 4), (64, 48), (33, 17)] {
            let rgba: Vec<u8> = (0..w * h * 4).map(|i| (i * 131 % 251) as u8).collect();
            let mut ours = Vec::new();
            rgba_to_i420(&rgba, w, h, &mut ours);
            let mut relays = vec![0; rtc_protocol::pixels::i420_len(w, h)];
            rtc_protocol::pixels::rgb_to_i420(&rgba, w, h, 4, &mut relays);
            assert_eq!(ours, relays, "{w}x{h}");
        }
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
