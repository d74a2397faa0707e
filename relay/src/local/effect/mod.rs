//! The local backend's stand-in for diffusion: a deterministic, weight-free picture effect
//! driven by the stream's StreamDiffusion params, so a changed param visibly changes the
//! output. Params logic here, pixel work in `rtc-effect`; the media path does the codec work around it.

pub mod control;
pub mod settings;

pub use control::{Control, Plan};
pub use rtc_effect::{Look, Picture, PlaneRef, Scratch, codec, kernels};
pub use settings::EffectParams;
