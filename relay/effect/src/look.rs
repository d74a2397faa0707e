//! What the effect looks like: the settings the kernels apply, and the palette a prompt picks.

/// A palette: the chroma of dark and of light areas, and how many luma bands remain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Palette {
    /// (U, V) given to the darkest luma.
    pub dark: (u8, u8),
    /// (U, V) given to the brightest luma.
    pub light: (u8, u8),
    /// Luma bands after posterising, 3 to 8.
    pub levels: u8,
}

/// The hot part of the params, as effect settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Look {
    /// From the prompt.
    pub palette: Palette,
    /// How much of the effect replaces the input, 0 to 1 (from `delta`).
    pub strength: f32,
    /// Luma contrast factor, 1 or more (from `guidance_scale`).
    pub contrast: f32,
    /// Smoothing passes, one per `t_index_list` entry.
    pub passes: usize,
    /// Share of the input's detail kept, 0 to 1 (mean `t_index_list` over `num_inference_steps`).
    pub detail: f32,
    /// Edge overlay weight (canny, HED, openpose, tile ControlNets).
    pub edges: f32,
    /// Depth-like shading weight (depth ControlNets).
    pub depth: f32,
    /// Grain pattern.
    pub seed: u64,
}

/// A palette picked by the prompt's FNV-1a hash: the same prompt always looks the same.
pub fn palette_for(prompt: &str) -> Palette {
    let hash = prompt
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
        .to_le_bytes();
    // Chroma pairs kept away from neutral grey so every palette is visibly coloured.
    let tint = |byte: u8| {
        if byte < 128 {
            byte / 2 + 32
        } else {
            byte / 2 + 96
        }
    };
    Palette {
        dark: (tint(hash[0]), tint(hash[1])),
        light: (tint(hash[2]), tint(hash[3])),
        levels: 3 + hash[4] % 6,
    }
}
