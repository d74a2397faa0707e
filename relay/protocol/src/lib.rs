//! Types shared by `rtc-relay` and the browser agent (`wasm-client`).
//!
//! The agent socket (`GET /v1/agent`) carries two kinds of WebSocket message:
//! - text messages: one JSON [`AgentMessage`] (agent → relay) or [`RelayMessage`]
//!   (relay → agent);
//! - binary messages: one video frame, a [`FrameHeader`] followed by the pixels.
//!
//! [`pixels`] holds the RGB → I420 conversion applied to frames bound for an encoder.
//!
//! Nothing here does IO, so both sides (native and wasm32) use the same code.

mod frame;
mod messages;
pub mod pixels;

pub use frame::{
    FRAME_HEADER_LEN, FRAME_MAGIC, FRAME_VERSION, FrameError, FrameHeader, PixelFormat,
    check_payload,
};
pub use messages::{
    AgentMessage, AgentRole, LeaseGrant, LinkChoice, LinkFormat, MediaState, OutputRequest,
    PROTOCOL_VERSION, RelayMessage, StreamStats,
};
