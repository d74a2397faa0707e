//! The local backend's picture effect: a deterministic, weight-free stand-in for diffusion on
//! I420 pictures, and its glue to the H.264 codec. Pure computation in a crate of its own so
//! that it is optimised in every build profile: the relay's e2e tests run a debug relay, and
//! unoptimised kernels there would cost each stream's frames many times their budget.

pub mod codec;
pub mod kernels;
pub mod look;

pub use kernels::{Picture, PlaneRef, Scratch};
pub use look::{Look, Palette, palette_for};
