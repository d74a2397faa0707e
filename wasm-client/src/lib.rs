//! Browser agent for RTC Node: runs in the ComfyUI tab (or a `www/` page) and does all the
//! WebRTC work with the browser's own `RTCPeerConnection`.

use wasm_bindgen::prelude::*;

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
