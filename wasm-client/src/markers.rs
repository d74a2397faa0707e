//! Frame-number markers for glass-to-glass latency: 16 black/white blocks across the top of a
//! frame carry a 16-bit number, large enough to survive video compression. Works on packed
//! 8-bit pixels with 1 (the Y plane of I420), 3 (RGB) or 4 (RGBA) channels.

use rtc_protocol::PixelFormat;

/// Number of bits, one block each.
pub const MARKER_BITS: usize = 16;
/// Smallest usable block side in pixels.
const MIN_BLOCK: usize = 8;

fn block_side(width: usize, height: usize) -> Option<usize> {
    let side = width / MARKER_BITS;
    (side >= MIN_BLOCK && height >= side).then_some(side)
}

fn valid(pixels: &[u8], width: usize, height: usize, channels: usize) -> bool {
    matches!(channels, 1 | 3 | 4) && pixels.len() >= width * height * channels
}

/// Draws `value` into the top band. Returns `false` (and draws nothing) when the frame is too
/// small (narrower than 128 px) or the buffer does not match the size.
pub fn draw(pixels: &mut [u8], width: usize, height: usize, channels: usize, value: u16) -> bool {
    let Some(side) = block_side(width, height).filter(|_| valid(pixels, width, height, channels))
    else {
        return false;
    };
    for bit in 0..MARKER_BITS {
        let on = value & (1 << (MARKER_BITS - 1 - bit)) != 0;
        let level = if on { 255 } else { 0 };
        for y in 0..side {
            let row = y * width;
            for x in bit * side..(bit + 1) * side {
                let at = (row + x) * channels;
                let px = &mut pixels[at..at + channels];
                px.iter_mut().take(3).for_each(|c| *c = level);
            }
        }
    }
    true
}

/// Reads the number back, or `None` when a block is neither clearly dark nor clearly light
/// (no marker, or a frame damaged beyond recognition). Samples the inner half of each block.
pub fn read(pixels: &[u8], width: usize, height: usize, channels: usize) -> Option<u16> {
    let side = block_side(width, height)?;
    if !valid(pixels, width, height, channels) {
        return None;
    }
    let (lo, hi) = (side / 4, side - side / 4);
    let mut value = 0u16;
    for bit in 0..MARKER_BITS {
        let (mut sum, mut n) = (0u32, 0u32);
        for y in lo..hi {
            for x in bit * side + lo..bit * side + hi {
                sum += luma(&mut |i| pixels[i], (y * width + x) * channels, channels);
                n += 1;
            }
        }
        let mean = sum / n.max(1);
        let on = match mean {
            0..=80 => false,
            176..=255 => true,
            _ => return None,
        };
        value = (value << 1) | u16::from(on);
    }
    Some(value)
}

/// Luma of the pixel at `at` (a byte index) read through `byte`.
fn luma(byte: &mut impl FnMut(usize) -> u8, at: usize, channels: usize) -> u32 {
    if channels == 1 {
        u32::from(byte(at))
    } else {
        (u32::from(byte(at)) + 2 * u32::from(byte(at + 1)) + u32::from(byte(at + 2))) / 4
    }
}

/// A cheap, strict [`read`] for every frame of a stream: five pixels per block (the centre and
/// the corners of its inner half), read through `byte` so the pixels may live outside wasm
/// memory. Every sample of a block must be clearly dark or clearly light and agree, and the
/// band must hold both kinds: an all-dark or all-light band (0 and 0xFFFF) is what letterboxed
/// or flat content looks like, so those two values are refused. `len` is the buffer length.
pub fn read_sampled(
    len: usize,
    width: usize,
    height: usize,
    channels: usize,
    mut byte: impl FnMut(usize) -> u8,
) -> Option<u16> {
    let side = block_side(width, height)?;
    if !matches!(channels, 1 | 3 | 4) || len < width * height * channels {
        return None;
    }
    let (lo, hi) = (side / 4, side - side / 4 - 1);
    let points = [(lo, lo), (hi, lo), (side / 2, side / 2), (lo, hi), (hi, hi)];
    let mut value = 0u16;
    for bit in 0..MARKER_BITS {
        let mut on = None;
        for (x, y) in points {
            let sample = match luma(&mut byte, (y * width + bit * side + x) * channels, channels) {
                0..=80 => false,
                176..=255 => true,
                _ => return None,
            };
            if *on.get_or_insert(sample) != sample {
                return None;
            }
        }
        value = (value << 1) | u16::from(on == Some(true));
    }
    (value != 0 && value != u16::MAX).then_some(value)
}

/// [`read_sampled`] on a frame of the agent socket's `format` (for I420, its Y plane; a JPEG
/// is not read).
pub fn read_frame(
    format: PixelFormat,
    width: u32,
    height: u32,
    len: usize,
    byte: impl FnMut(usize) -> u8,
) -> Option<u16> {
    let channels = match format {
        PixelFormat::Rgba8 => 4,
        PixelFormat::Rgb8 => 3,
        PixelFormat::I420 => 1,
        PixelFormat::Jpeg => return None,
    };
    read_sampled(len, width as usize, height as usize, channels, byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_every_channel_layout() {
        for channels in [1, 3, 4] {
            let (w, h) = (256, 64);
            let mut px = vec![128u8; w * h * channels];
            for value in [0u16, 1, 0xA5C3, u16::MAX] {
                assert!(draw(&mut px, w, h, channels, value));
                assert_eq!(read(&px, w, h, channels), Some(value));
            }
        }
    }

    #[test]
    fn survives_noise_and_rejects_grey() {
        let (w, h) = (512, 64);
        let mut px = vec![128u8; w * h * 4];
        assert_eq!(read(&px, w, h, 4), None);
        draw(&mut px, w, h, 4, 4242);
        for (i, p) in px.iter_mut().enumerate() {
            *p = p.saturating_add((i % 7) as u8 * 5).saturating_sub(15);
        }
        assert_eq!(read(&px, w, h, 4), Some(4242));
    }

    fn sampled(px: &[u8], w: usize, h: usize, channels: usize) -> Option<u16> {
        read_sampled(px.len(), w, h, channels, |i| px[i])
    }

    #[test]
    fn sampled_read_agrees_with_the_full_read() {
        for channels in [1, 3, 4] {
            let (w, h) = (512, 288);
            let mut px = vec![128u8; w * h * channels];
            assert_eq!(sampled(&px, w, h, channels), None);
            for value in [1u16, 0x8001, 0xA5C3, 4242] {
                assert!(draw(&mut px, w, h, channels, value));
                assert_eq!(sampled(&px, w, h, channels), Some(value));
            }
            assert_eq!(sampled(&px[..w * h * channels - 1], w, h, channels), None);
        }
    }

    #[test]
    fn sampled_read_refuses_flat_and_textured_bands() {
        let (w, h) = (256, 64);
        let mut px = vec![0u8; w * h * 4];
        assert_eq!(read(&px, w, h, 4), Some(0));
        assert_eq!(sampled(&px, w, h, 4), None, "all dark");
        px.fill(255);
        assert_eq!(sampled(&px, w, h, 4), None, "all light");
        // Dark and light stripes inside each block: their mean is grey-ish, and their samples
        // disagree, so neither reader sees a marker.
        for (i, p) in px.iter_mut().enumerate() {
            *p = if (i / 4 / 5) % 2 == 0 { 0 } else { 255 };
        }
        assert_eq!(sampled(&px, w, h, 4), None, "striped");
        // A checkerboard whose cells match the block size but not the inner samples.
        draw(&mut px, w, h, 4, 0x0F0F);
        let side = w / 16;
        let at = ((side / 2) * w + side / 2) * 4;
        px[at..at + 3].fill(255);
        assert_eq!(sampled(&px, w, h, 4), None, "one sample disagrees");
    }

    #[test]
    fn too_small_frames_are_refused() {
        let mut px = vec![0u8; 64 * 64 * 4];
        assert!(!draw(&mut px, 64, 64, 4, 1));
        assert_eq!(read(&px, 64, 64, 4), None);
        assert!(!draw(&mut px[..10], 256, 64, 4, 1));
    }
}
