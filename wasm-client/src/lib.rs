//! Browser agent for RTC Node: runs in the ComfyUI tab (or a `www/` page) and does all the
//! WebRTC work with the browser's own `RTCPeerConnection`.
//!
//! JavaScript API (types in `ts/types.d.ts`, shipped in the generated `.d.ts`):
//! - `createBroadcast(options)` → [`Broadcast`], a WHIP publisher fed with frames;
//! - `createPlayer(whepUrl, options)` → [`Player`], a WHEP player;
//! - `createAgent(options)` → [`Agent`], the relay-driven agent that runs both;
//! - `drawMarker` / `readMarker`, frame-number markers for latency measurement.
//!
//! Every object owns its peer connection, listeners and timers; `stop()` or `free()` (or
//! garbage collection, with the `--weak-refs` build) releases them. Errors are `Error`s named
//! `RtcClientError` with a `code`.

#[cfg(target_arch = "wasm32")]
mod agent;
#[cfg(target_arch = "wasm32")]
mod api;
pub mod convert;
pub mod error;
#[cfg(target_arch = "wasm32")]
mod events;
#[cfg(target_arch = "wasm32")]
pub mod frames;
// Only part of it is used by the natively testable modules.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod js;
pub mod latency;
#[cfg(target_arch = "wasm32")]
mod link;
pub mod markers;
#[cfg(target_arch = "wasm32")]
mod options;
#[cfg(target_arch = "wasm32")]
mod peer;
#[cfg(target_arch = "wasm32")]
mod player;
#[cfg(target_arch = "wasm32")]
mod publisher;
pub mod sdp;
pub mod signaling;
pub mod state;
pub mod stats;
#[cfg(target_arch = "wasm32")]
mod ticker;
pub mod urls;
#[cfg(target_arch = "wasm32")]
mod video_tap;
#[cfg(target_arch = "wasm32")]
pub mod wire;

use wasm_bindgen::prelude::*;

#[cfg(target_arch = "wasm32")]
pub use api::{Agent, Broadcast, Player, create_agent, create_broadcast, create_player};

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = include_str!("../ts/types.d.ts");

/// Version of this package, for the UI and for matching the relay.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// Protocol version of the agent socket this build speaks.
#[wasm_bindgen(js_name = protocolVersion)]
pub fn protocol_version() -> u32 {
    rtc_protocol::PROTOCOL_VERSION
}

/// Whether `value` is an error thrown by this package.
#[wasm_bindgen(js_name = isRtcClientError, unchecked_return_type = "value is RtcClientError")]
pub fn is_rtc_client_error(value: &JsValue) -> bool {
    value.is_instance_of::<js_sys::Error>()
        && js::string(value, "name").as_deref() == Some("RtcClientError")
}

/// Draws a 16-bit frame number as 16 black/white blocks across the top of `pixels`
/// (`channels`: 1 for a Y plane, 3 for RGB, 4 for RGBA). Returns false when the frame is
/// narrower than 128 px or the buffer is too short.
#[wasm_bindgen(js_name = drawMarker)]
pub fn draw_marker(pixels: &mut [u8], width: u32, height: u32, channels: u32, value: u16) -> bool {
    markers::draw(
        pixels,
        width as usize,
        height as usize,
        channels as usize,
        value,
    )
}

/// Reads a frame number drawn by `drawMarker`, or `undefined` when there is none.
#[wasm_bindgen(js_name = readMarker)]
pub fn read_marker(pixels: &[u8], width: u32, height: u32, channels: u32) -> Option<u16> {
    markers::read(pixels, width as usize, height as usize, channels as usize)
}

// A free-list allocator: about 3 KB gzipped smaller than the default dlmalloc. Frame pixels stay
// in JavaScript buffers (RGB expansion reuses its own), so the agent allocates small, short-lived
// objects, which a free list kept short by coalescing serves as well.
// Single-threaded, so the lock never spins.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: lol_alloc::LockedAllocator<lol_alloc::FreeListAllocator> =
    lol_alloc::LockedAllocator::new(lol_alloc::FreeListAllocator::new());
