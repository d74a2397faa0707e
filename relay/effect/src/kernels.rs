//! The effect's pixel work on I420 pictures: scaling, smoothing passes, contrast and
//! posterising, a Sobel edge overlay, depth-like shading, palette toning and grain.
//! Integer arithmetic on whole rows; no allocation once the scratch buffers exist.

use crate::look::Look;

/// Luma of black and of white in limited-range video.
const BLACK: u8 = 16;
const WHITE: u8 = 235;
/// Neutral chroma.
const GREY: u8 = 128;
/// Luma of the reloading frame's background and of its progress bar.
const RELOADING_BACKGROUND: u8 = 40;
const RELOADING_BAR: u8 = 200;

/// An I420 picture with tightly packed planes (chroma is half size, rounded up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Luma, `width × height`.
    pub y: Vec<u8>,
    /// Blue-difference chroma.
    pub u: Vec<u8>,
    /// Red-difference chroma.
    pub v: Vec<u8>,
}

impl Picture {
    /// A black picture.
    pub fn new(width: usize, height: usize) -> Self {
        let chroma = width.div_ceil(2) * height.div_ceil(2);
        Self {
            width,
            height,
            y: vec![BLACK; width * height],
            u: vec![GREY; chroma],
            v: vec![GREY; chroma],
        }
    }

    /// Width of the chroma planes.
    pub fn chroma_width(&self) -> usize {
        self.width.div_ceil(2)
    }

    /// Height of the chroma planes.
    pub fn chroma_height(&self) -> usize {
        self.height.div_ceil(2)
    }
}

/// One plane of a picture held elsewhere (a decoder's output), with its stride.
#[derive(Debug, Clone, Copy)]
pub struct PlaneRef<'a> {
    /// Rows of `stride` bytes.
    pub data: &'a [u8],
    /// Bytes from one row to the next.
    pub stride: usize,
    /// Visible width.
    pub width: usize,
    /// Visible height.
    pub height: usize,
}

/// Nearest-neighbour scale of `src` into `dst` (`width × height`, tightly packed).
pub fn scale_plane(src: PlaneRef<'_>, dst: &mut [u8], width: usize, height: usize) {
    if src.width == 0 || src.height == 0 {
        dst.fill(BLACK);
        return;
    }
    if (src.width, src.height) == (width, height) {
        // The common case (output at the input's size): a row copy, no per-pixel lookup.
        for (y, row) in dst.chunks_exact_mut(width).take(height).enumerate() {
            row.copy_from_slice(&src.data[y * src.stride..y * src.stride + width]);
        }
        return;
    }
    let columns: Vec<usize> = (0..width).map(|x| x * src.width / width).collect();
    for (y, row) in dst.chunks_exact_mut(width).take(height).enumerate() {
        let start = (y * src.height / height) * src.stride;
        let source = &src.data[start..start + src.width];
        for (out, &x) in row.iter_mut().zip(&columns) {
            *out = source[x];
        }
    }
}

/// Scales three planes (Y, U, V) into `dst` at its own size.
pub fn scale_into(planes: [PlaneRef<'_>; 3], dst: &mut Picture) {
    let (w, h, cw, ch) = (
        dst.width,
        dst.height,
        dst.chroma_width(),
        dst.chroma_height(),
    );
    let [y, u, v] = planes;
    scale_plane(y, &mut dst.y, w, h);
    scale_plane(u, &mut dst.u, cw, ch);
    scale_plane(v, &mut dst.v, cw, ch);
}

/// Buffers reused from frame to frame.
#[derive(Debug, Default)]
pub struct Scratch {
    input: Vec<u8>,
    temp: Vec<u8>,
    grain: Grain,
}

/// A seed's grain pattern at one size, kept until the seed or the size changes: hashing
/// every pixel of every frame would cost more than all the other kernels together.
#[derive(Debug, Default)]
struct Grain {
    key: Option<(u64, usize, usize)>,
    noise: Vec<i16>,
}

impl Grain {
    fn pattern(&mut self, seed: u64, width: usize, height: usize) -> &[i16] {
        if self.key != Some((seed, width, height)) {
            self.noise.clear();
            self.noise.extend((0..height).flat_map(|y| {
                (0..width).map(move |x| i16::from(hash(seed, x as u64, y as u64) % 13) - 6)
            }));
            self.key = Some((seed, width, height));
        }
        &self.noise
    }
}

/// Applies `look` to `picture` in place.
pub fn apply(look: &Look, picture: &mut Picture, scratch: &mut Scratch) {
    let (w, h) = (picture.width, picture.height);
    scratch.input.clone_from(&picture.y);
    for _ in 0..look.passes {
        box_blur(&mut picture.y, &mut scratch.temp, w, h);
    }
    tone(&mut picture.y, look);
    // Later timesteps keep more of the input, like a shorter denoising run.
    blend(&mut picture.y, &scratch.input, 1.0 - look.detail * 0.5);
    blend(&mut picture.y, &scratch.input, look.strength);
    if look.depth > 0.0 {
        depth_shade(picture, look.depth);
    }
    if look.edges > 0.0 {
        sobel(&scratch.input, &mut scratch.temp, w, h);
        overlay_edges(&mut picture.y, &scratch.temp, look.edges);
    }
    colourise(picture, look);
    add_grain(&mut picture.y, scratch.grain.pattern(look.seed, w, h));
}

/// 3×3 box blur (separable), `temp` as the intermediate; edges repeat the border pixel.
pub fn box_blur(plane: &mut [u8], temp: &mut Vec<u8>, width: usize, height: usize) {
    temp.resize(plane.len(), 0);
    if width == 0 {
        return;
    }
    for (src, dst) in plane.chunks_exact(width).zip(temp.chunks_exact_mut(width)) {
        blur_row(src, dst);
    }
    for (y, out) in plane.chunks_exact_mut(width).take(height).enumerate() {
        let row = |r: usize| &temp[r * width..(r + 1) * width];
        let (above, here, below) = (
            row(y.saturating_sub(1)),
            row(y),
            row((y + 1).min(height - 1)),
        );
        mean_of_three(out, above, here, below);
    }
}

/// The horizontal pass of [`box_blur`] over one row.
fn blur_row(src: &[u8], dst: &mut [u8]) {
    let n = src.len();
    if n < 2 {
        dst.copy_from_slice(src);
        return;
    }
    // Slices rather than indices, so the interior loop has no bounds checks and vectorises.
    mean_of_three(&mut dst[1..n - 1], &src[..n - 2], &src[1..n - 1], &src[2..]);
    mean_of_three(&mut dst[..1], &src[..1], &src[..1], &src[1..2]);
    mean_of_three(
        &mut dst[n - 1..],
        &src[n - 2..n - 1],
        &src[n - 1..],
        &src[n - 1..],
    );
}

/// `out = round((a + b + c) / 3)` element-wise.
fn mean_of_three(out: &mut [u8], a: &[u8], b: &[u8], c: &[u8]) {
    for (((o, &a), &b), &c) in out.iter_mut().zip(a).zip(b).zip(c) {
        *o = ((u16::from(a) + u16::from(b) + u16::from(c) + 1) / 3) as u8;
    }
}

/// Contrast around mid-grey, then posterise into the palette's bands.
fn tone(plane: &mut [u8], look: &Look) {
    let levels = i32::from(look.palette.levels.max(2));
    let range = i32::from(WHITE - BLACK);
    let contrast = (look.contrast * 256.0) as i32;
    // An array, not a Vec: indexing by a u8 then needs no bounds check.
    let lut: [u8; 256] = std::array::from_fn(|value| {
        let value = value as i32;
        let stretched =
            ((value - 128) * contrast / 256 + 128).clamp(i32::from(BLACK), i32::from(WHITE));
        let band = ((stretched - i32::from(BLACK)) * levels / (range + 1)).min(levels - 1);
        (i32::from(BLACK) + band * range / (levels - 1)) as u8
    });
    for value in plane {
        *value = lut[usize::from(*value)];
    }
}

/// `plane = plane·amount + other·(1 − amount)`.
fn blend(plane: &mut [u8], other: &[u8], amount: f32) {
    let a = (amount.clamp(0.0, 1.0) * 256.0) as u16;
    for (value, &o) in plane.iter_mut().zip(other) {
        *value = ((u16::from(*value) * a + u16::from(o) * (256 - a)) >> 8) as u8;
    }
}

/// Sobel gradient magnitude of `src` into `dst`, 0 on the border.
pub fn sobel(src: &[u8], dst: &mut Vec<u8>, width: usize, height: usize) {
    dst.clear();
    dst.resize(src.len(), 0);
    if width < 3 || height < 3 {
        return;
    }
    // Offset slices of equal length instead of indices: no bounds checks, and 16-bit lanes
    // (the gradients stay within ±1020) so the loop vectorises.
    let inner = width - 2;
    for y in 1..height - 1 {
        let row = |r: usize, from: usize| &src[r * width + from..r * width + from + inner];
        let (up, mid, down) = (
            [row(y - 1, 0), row(y - 1, 1), row(y - 1, 2)],
            [row(y, 0), row(y, 2)],
            [row(y + 1, 0), row(y + 1, 1), row(y + 1, 2)],
        );
        let out = &mut dst[y * width + 1..y * width + 1 + inner];
        for (x, out) in out.iter_mut().enumerate() {
            let at = |r: &[u8]| i16::from(r[x]);
            let gx =
                at(up[2]) + 2 * at(mid[1]) + at(down[2]) - at(up[0]) - 2 * at(mid[0]) - at(down[0]);
            let gy =
                at(down[0]) + 2 * at(down[1]) + at(down[2]) - at(up[0]) - 2 * at(up[1]) - at(up[2]);
            *out = ((gx.abs() + gy.abs()) / 4).min(255) as u8;
        }
    }
}

/// Ink lines: darkens `plane` where `edges` is strong.
fn overlay_edges(plane: &mut [u8], edges: &[u8], weight: f32) {
    let w = (weight.clamp(0.0, 1.0) * 512.0) as u32;
    for (value, &e) in plane.iter_mut().zip(edges) {
        let darken = (u32::from(e) * w) >> 8;
        *value = u32::from(*value)
            .saturating_sub(darken)
            .max(u32::from(BLACK)) as u8;
    }
}

/// Depth-like shading: far (upper) rows fade into a cool haze, bright areas read as near.
fn depth_shade(picture: &mut Picture, weight: f32) {
    let (w, h) = (picture.width, picture.height);
    let weight = (weight.clamp(0.0, 1.0) * 256.0) as u32;
    for (y, row) in picture.y.chunks_exact_mut(w).enumerate() {
        let far = 256 - (y * 256 / h.max(1)) as u32;
        let haze = (far * weight) >> 8;
        for value in row {
            let v = u32::from(*value);
            *value = ((v * (256 - haze) + 180 * haze) >> 8) as u8;
        }
    }
    let (cw, ch) = (picture.chroma_width(), picture.chroma_height());
    for (y, row) in picture.u.chunks_exact_mut(cw).enumerate() {
        let haze = ((256 - (y * 256 / ch.max(1)) as u32) * weight) >> 9;
        for value in row {
            *value = ((u32::from(*value) * (256 - haze) + 170 * haze) >> 8) as u8;
        }
    }
}

/// Tints chroma from the palette by the luma under it.
fn colourise(picture: &mut Picture, look: &Look) {
    let (w, cw) = (picture.width, picture.chroma_width());
    let strength = (look.strength.clamp(0.0, 1.0) * 256.0) as i32;
    let (dark, light) = (look.palette.dark, look.palette.light);
    let lerp = |a: u8, b: u8, t: i32| i32::from(a) + (i32::from(b) - i32::from(a)) * t / 255;
    // The palette's chroma for every luma value, once per frame rather than once per pixel.
    let targets: [(i32, i32); 256] = std::array::from_fn(|luma| {
        let luma = luma as i32;
        (lerp(dark.0, light.0, luma), lerp(dark.1, light.1, luma))
    });
    let rows = picture
        .u
        .chunks_exact_mut(cw)
        .zip(picture.v.chunks_exact_mut(cw));
    for (cy, (u_row, v_row)) in rows.enumerate() {
        // The luma at the chroma sample's top-left; odd sizes keep it inside the picture.
        let luma_row = &picture.y[(cy * 2).min(picture.height - 1) * w..];
        for (cx, (u, v)) in u_row.iter_mut().zip(v_row.iter_mut()).enumerate() {
            let (target_u, target_v) = targets[usize::from(luma_row[(cx * 2).min(w - 1)])];
            *u = ((i32::from(*u) * (256 - strength) + target_u * strength) >> 8) as u8;
            *v = ((i32::from(*v) * (256 - strength) + target_v * strength) >> 8) as u8;
        }
    }
}

/// Adds a seed's grain (±6 luma), kept within the video range.
fn add_grain(plane: &mut [u8], noise: &[i16]) {
    for (value, &n) in plane.iter_mut().zip(noise) {
        *value = (i16::from(*value) + n).clamp(i16::from(BLACK), i16::from(WHITE)) as u8;
    }
}

/// SplitMix64 of the seed and coordinates.
fn hash(seed: u64, x: u64, y: u64) -> u8 {
    let mut z = seed ^ ((x << 32) | y).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) as u8
}

/// The frame shown while the pipeline reloads: dark grey with a progress bar across the
/// middle, `progress` from 0 to 1.
pub fn reloading(picture: &mut Picture, progress: f32) {
    let (w, h) = (picture.width, picture.height);
    picture.y.fill(RELOADING_BACKGROUND);
    picture.u.fill(GREY);
    picture.v.fill(GREY);
    let filled = ((progress.clamp(0.0, 1.0) * w as f32) as usize).max(w / 16);
    let (top, bottom) = (h * 15 / 32, h * 17 / 32);
    for row in picture.y[top * w..bottom * w].chunks_exact_mut(w) {
        row[..filled].fill(RELOADING_BAR);
    }
}

/// Whether `picture` looks like a reloading frame (tests and tools recognise it by this).
pub fn is_reloading(picture: &Picture) -> bool {
    let top = &picture.y[..picture.width * (picture.height / 4)];
    !top.is_empty()
        && top.iter().all(|&v| v.abs_diff(RELOADING_BACKGROUND) <= 10)
        && picture
            .u
            .iter()
            .chain(&picture.v)
            .all(|&c| c.abs_diff(GREY) <= 10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::look::{Palette, palette_for};

    /// A picture with a gradient and a bright square: texture for every kernel.
    fn textured(width: usize, height: usize) -> Picture {
        let mut p = Picture::new(width, height);
        for y in 0..height {
            for x in 0..width {
                let square =
                    (width / 4..width / 2).contains(&x) && (height / 4..height / 2).contains(&y);
                p.y[y * width + x] = if square {
                    220
                } else {
                    (16 + (x * 200 / width)) as u8
                };
            }
        }
        p
    }

    fn look() -> Look {
        Look {
            palette: palette_for("neon"),
            strength: 0.8,
            contrast: 1.4,
            passes: 2,
            detail: 0.3,
            edges: 0.0,
            depth: 0.0,
            seed: 7,
        }
    }

    fn applied(look: &Look) -> Picture {
        let mut p = textured(64, 48);
        apply(look, &mut p, &mut Scratch::default());
        p
    }

    #[test]
    fn scaling_keeps_corners_and_fills_the_target() {
        let src: Vec<u8> = (0..16).collect();
        let plane = PlaneRef {
            data: &src,
            stride: 4,
            width: 4,
            height: 4,
        };
        let mut dst = vec![0; 8 * 8];
        scale_plane(plane, &mut dst, 8, 8);
        assert_eq!((dst[0], dst[7], dst[56], dst[63]), (0, 3, 12, 15));
        let mut down = vec![0; 4];
        scale_plane(plane, &mut down, 2, 2);
        assert_eq!(down, [0, 2, 8, 10]);
    }

    #[test]
    fn scaling_honours_the_stride() {
        // Two visible columns, two bytes of padding per row.
        let src = [1, 2, 99, 99, 3, 4, 99, 99];
        let plane = PlaneRef {
            data: &src,
            stride: 4,
            width: 2,
            height: 2,
        };
        let mut dst = vec![0; 4];
        scale_plane(plane, &mut dst, 2, 2);
        assert_eq!(dst, [1, 2, 3, 4]);
    }

    #[test]
    fn box_blur_keeps_flat_areas_and_softens_steps() {
        let mut flat = vec![100; 25];
        box_blur(&mut flat, &mut Vec::new(), 5, 5);
        assert!(flat.iter().all(|&v| v == 100));
        let mut step: Vec<u8> = (0..25).map(|i| if i % 5 < 2 { 0 } else { 255 }).collect();
        box_blur(&mut step, &mut Vec::new(), 5, 5);
        assert_eq!(step[1], 85);
        assert_eq!(step[2], 170);
    }

    #[test]
    fn sobel_finds_a_vertical_edge_only_where_it_is() {
        let src: Vec<u8> = (0..36).map(|i| if i % 6 < 3 { 0 } else { 200 }).collect();
        let mut edges = Vec::new();
        sobel(&src, &mut edges, 6, 6);
        assert!(edges[6 + 2] > 100 && edges[6 + 3] > 100);
        assert_eq!(edges[6 + 1], 0);
        assert_eq!(edges[6 + 4], 0);
    }

    #[test]
    fn the_effect_is_deterministic_and_changes_the_picture() {
        let once = applied(&look());
        assert_eq!(once, applied(&look()));
        assert_ne!(once, textured(64, 48));
    }

    #[test]
    fn each_setting_changes_the_output() {
        let reference = applied(&look());
        let variants: [(&str, Look); 8] = [
            (
                "palette",
                Look {
                    palette: palette_for("forest"),
                    ..look()
                },
            ),
            (
                "strength",
                Look {
                    strength: 0.3,
                    ..look()
                },
            ),
            (
                "contrast",
                Look {
                    contrast: 2.5,
                    ..look()
                },
            ),
            (
                "passes",
                Look {
                    passes: 4,
                    ..look()
                },
            ),
            (
                "detail",
                Look {
                    detail: 0.9,
                    ..look()
                },
            ),
            (
                "edges",
                Look {
                    edges: 0.8,
                    ..look()
                },
            ),
            (
                "depth",
                Look {
                    depth: 0.8,
                    ..look()
                },
            ),
            ("seed", Look { seed: 8, ..look() }),
        ];
        for (name, variant) in variants {
            assert_ne!(applied(&variant), reference, "{name} changed nothing");
        }
    }

    #[test]
    fn scratch_reused_across_sizes_and_seeds_gives_what_a_fresh_one_does() {
        let mut scratch = Scratch::default();
        for (width, height, seed) in [(64, 48, 7), (37, 23, 7), (37, 23, 9), (64, 48, 7)] {
            let look = Look { seed, ..look() };
            let mut reused = textured(width, height);
            apply(&look, &mut reused, &mut scratch);
            let mut fresh = textured(width, height);
            apply(&look, &mut fresh, &mut Scratch::default());
            assert_eq!(reused, fresh, "{width}×{height}, seed {seed}");
        }
    }

    #[test]
    fn the_palette_tints_chroma() {
        let palette = Palette {
            dark: (40, 200),
            light: (40, 200),
            levels: 4,
        };
        let p = applied(&Look {
            palette,
            strength: 1.0,
            ..look()
        });
        assert!(p.u.iter().all(|&u| u.abs_diff(40) <= 1));
        assert!(p.v.iter().all(|&v| v.abs_diff(200) <= 1));
    }

    #[test]
    fn edges_darken_the_square_outline() {
        let plain = applied(&look());
        let inked = applied(&Look {
            edges: 1.0,
            ..look()
        });
        // Left edge of the square, inside the picture.
        let at = 20 * 64 + 16;
        assert!(
            inked.y[at] + 20 < plain.y[at],
            "{} vs {}",
            inked.y[at],
            plain.y[at]
        );
    }

    #[test]
    fn reloading_frames_are_recognised() {
        let mut p = Picture::new(64, 64);
        reloading(&mut p, 0.5);
        assert!(is_reloading(&p));
        assert_eq!(p.y[32 * 64 + 10], RELOADING_BAR);
        assert_eq!(p.y[32 * 64 + 40], RELOADING_BACKGROUND);
        assert!(!is_reloading(&applied(&look())));
        assert!(!is_reloading(&textured(64, 48)));
    }
}
