//! The local backend's stand-in for diffusion: a deterministic, weight-free picture effect
//! driven by the stream's StreamDiffusion params, so a changed param visibly changes the
//! output. Pure pixel and params logic; the media path does the codec work around it.

pub mod codec;
pub mod control;
pub mod kernels;
pub mod settings;

pub use control::{Control, Plan};
pub use kernels::{Picture, PlaneRef, Scratch};
pub use settings::{EffectParams, Look};
