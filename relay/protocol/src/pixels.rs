//! RGB(A) → I420, the conversion the relay makes before a frame posted as RGB reaches the
//! agent's encoder. The agent keeps a compact copy for its package size
//! (`wasm-client/src/convert.rs`); a test there checks that both give the same bytes.
//!
//! BT.601 limited range with chroma averaged over each 2×2 block, what browsers' encoders
//! apply to RGB frames themselves, so the picture is unchanged.

/// Bytes of an I420 frame of `width` × `height` (chroma planes rounded up on odd sizes).
pub fn i420_len(width: usize, height: usize) -> usize {
    width * height + 2 * width.div_ceil(2) * height.div_ceil(2)
}

/// Packed RGB (`bpp` 3) or RGBA (`bpp` 4, alpha ignored; any other `bpp` is taken as 4) of `width` × `height` into `out`,
/// which holds [`i420_len`] bytes.
///
/// # Panics
/// If a buffer is shorter than the size says.
pub fn rgb_to_i420(pixels: &[u8], width: usize, height: usize, bpp: usize, out: &mut [u8]) {
    debug_assert!(bpp == 3 || bpp == 4, "{bpp} bytes per pixel");
    if bpp == 3 {
        convert::<3>(pixels, width, height, out);
    } else {
        convert::<4>(pixels, width, height, out);
    }
}

/// Luma row by row, then chroma from each pair of rows, without bounds checks in the loops
/// (this runs on every pixel of every posted frame, 0.9 M of them at 720p).
fn convert<const BPP: usize>(pixels: &[u8], w: usize, h: usize, out: &mut [u8]) {
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let stride = w * BPP;
    let pixels = &pixels[..stride * h];
    let (y_plane, chroma) = out[..i420_len(w, h)].split_at_mut(w * h);
    let (u_plane, v_plane) = chroma.split_at_mut(cw * ch);
    for (src, luma) in pixels.chunks_exact(stride).zip(y_plane.chunks_exact_mut(w)) {
        for (p, y) in src.chunks_exact(BPP).zip(luma.iter_mut()) {
            *y = luma_of(rgb(p));
        }
    }
    // On an odd height the last row stands in for the missing one below it, and on an odd
    // width the last column for the one to its right: a pixel averaged with itself gives the
    // mean of the pixels there are.
    let row = |y: usize| &pixels[y.min(h - 1) * stride..][..stride];
    let chroma_rows = u_plane
        .chunks_exact_mut(cw)
        .zip(v_plane.chunks_exact_mut(cw));
    for (crow, (u_row, v_row)) in chroma_rows.enumerate() {
        let (top, bottom) = (row(2 * crow), row(2 * crow + 1));
        let blocks = top.chunks_exact(2 * BPP).zip(bottom.chunks_exact(2 * BPP));
        let mut samples = u_row.iter_mut().zip(v_row.iter_mut());
        for ((t, b), (u, v)) in blocks.zip(&mut samples) {
            [*u, *v] = block_chroma([rgb(t), rgb(&t[BPP..]), rgb(b), rgb(&b[BPP..])]);
        }
        if let Some((u, v)) = samples.next() {
            let (t, b) = (rgb(&top[stride - BPP..]), rgb(&bottom[stride - BPP..]));
            [*u, *v] = block_chroma([t, t, b, b]);
        }
    }
}

fn rgb(p: &[u8]) -> [u8; 3] {
    [p[0], p[1], p[2]]
}

/// U and V of the mean of four pixels.
#[allow(clippy::cast_possible_truncation)]
fn block_chroma([a, b, c, d]: [[u8; 3]; 4]) -> [u8; 2] {
    let mean = |i: usize| {
        let sum = u16::from(a[i]) + u16::from(b[i]) + u16::from(c[i]) + u16::from(d[i]);
        (sum >> 2) as u8
    };
    chroma_of([mean(0), mean(1), mean(2)])
}

// Every sum fits in 16 bits: at most (66 + 129 + 25) × 255 + 128 for luma, and chroma is
// biased by 128 × 256 so that it never goes negative (the bias is its +128 offset, applied
// before the shift instead of after). Every result is in 16..=240.
#[allow(clippy::cast_possible_truncation)]
fn luma_of([r, g, b]: [u8; 3]) -> u8 {
    let [r, g, b] = [r, g, b].map(u16::from);
    (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16) as u8
}

#[allow(clippy::cast_possible_truncation)]
fn chroma_of([r, g, b]: [u8; 3]) -> [u8; 2] {
    let [r, g, b] = [r, g, b].map(u16::from);
    const BIAS: u16 = 128 * 256 + 128;
    [
        ((BIAS + 112 * b - 38 * r - 74 * g) >> 8) as u8,
        ((BIAS + 112 * r - 94 * g - 18 * b) >> 8) as u8,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, one output sample at a time, in signed arithmetic.
    fn reference(pixels: &[u8], w: usize, h: usize, bpp: usize) -> Vec<u8> {
        let px = |x: usize, y: usize| {
            let at = (y * w + x) * bpp;
            [pixels[at], pixels[at + 1], pixels[at + 2]].map(i32::from)
        };
        let byte = |v: i32| u8::try_from(v).unwrap();
        let mut out: Vec<u8> = (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .map(|(x, y)| {
                let [r, g, b] = px(x, y);
                byte(((66 * r + 129 * g + 25 * b + 128) >> 8) + 16)
            })
            .collect();
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let mut planes = [Vec::new(), Vec::new()];
        for cy in 0..ch {
            for cx in 0..cw {
                let inside: Vec<_> = [(0, 0), (1, 0), (0, 1), (1, 1)]
                    .into_iter()
                    .map(|(dx, dy)| (2 * cx + dx, 2 * cy + dy))
                    .filter(|&(x, y)| x < w && y < h)
                    .map(|(x, y)| px(x, y))
                    .collect();
                let n = inside.len() as i32;
                let mean = |c: usize| inside.iter().map(|p| p[c]).sum::<i32>() / n;
                let [r, g, b] = [mean(0), mean(1), mean(2)];
                planes[0].push(byte(((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128));
                planes[1].push(byte(((112 * r - 94 * g - 18 * b + 128) >> 8) + 128));
            }
        }
        out.extend(planes.concat());
        out
    }

    #[test]
    fn every_size_and_layout_matches_the_definition() {
        let mut seed = 0x2545_f491_u32;
        // Extremes first: the 16-bit arithmetic must neither overflow nor round differently.
        let extremes = [
            [0, 0, 0],
            [255, 255, 255],
            [255, 0, 0],
            [0, 255, 255],
            [0, 0, 255],
        ];
        let pixels: Vec<u8> = extremes.iter().flat_map(|p| p.repeat(4)).collect();
        let mut out = vec![0; i420_len(2, 10)];
        rgb_to_i420(&pixels, 2, 10, 3, &mut out);
        assert_eq!(out, reference(&pixels, 2, 10, 3));
        for bpp in [3, 4] {
            for (w, h) in [
                (1, 1),
                (2, 2),
                (3, 3),
                (5, 2),
                (2, 5),
                (7, 9),
                (64, 48),
                (33, 17),
            ] {
                let pixels: Vec<u8> = (0..w * h * bpp)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 17;
                        seed ^= seed << 5;
                        seed.to_le_bytes()[0]
                    })
                    .collect();
                let mut out = vec![0; i420_len(w, h)];
                rgb_to_i420(&pixels, w, h, bpp, &mut out);
                assert_eq!(
                    out,
                    reference(&pixels, w, h, bpp),
                    "{w}x{h}, {bpp} bytes per pixel"
                );
            }
        }
    }

    #[test]
    fn white_black_and_red_are_what_encoders_expect() {
        let mut out = vec![0; i420_len(3, 1)];
        rgb_to_i420(&[255, 255, 255, 0, 0, 0, 128, 128, 128], 3, 1, 3, &mut out);
        assert_eq!(out, [235, 16, 126, 128, 128, 128, 128]);
        let mut red = vec![0; 3];
        rgb_to_i420(&[255, 0, 0, 255], 1, 1, 4, &mut red);
        assert_eq!(red, [82, 90, 240]);
    }
}
