//! Runs in headless Chromium through `wasm-pack test --headless --chrome`.
#![cfg(target_arch = "wasm32")]

use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn exports_match_the_protocol_crate() {
    assert_eq!(
        rtc_client::protocol_version(),
        rtc_protocol::PROTOCOL_VERSION
    );
    assert_eq!(rtc_client::version(), env!("CARGO_PKG_VERSION"));
}

#[wasm_bindgen_test]
fn frame_header_round_trips_in_the_browser() {
    use rtc_protocol::{FrameHeader, PixelFormat};
    let header = FrameHeader {
        stream_index: 1,
        sequence: 42,
        capture_us: 7,
        width: 4,
        height: 2,
        format: PixelFormat::Rgba8,
    };
    let message = header.encode_with(&[9u8; 32]);
    let (back, pixels) = FrameHeader::decode(&message).unwrap();
    assert_eq!(back, header);
    assert_eq!(pixels.len(), 32);
}
