//! Runs in headless Chromium through `wasm-pack test --headless --chrome`.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::rc::Rc;

use rtc_protocol::{FrameHeader, PixelFormat};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn get(obj: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(obj, &key.into()).unwrap()
}

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
    assert!(FrameHeader::decode(&message[..40]).is_err());
}

#[wasm_bindgen_test]
async fn rgb_frames_survive_videoframe_and_copy_back() {
    let (w, h) = (256u32, 32u32);
    let mut rgb: Vec<u8> = (0..w * h * 3).map(|i| (i % 200) as u8).collect();
    assert!(rtc_client::draw_marker(&mut rgb, w, h, 3, 0xBEEF));
    let mut scratch = rtc_client::frames::Scratch::default();
    let view = js_sys::Uint8Array::from(&rgb[..]);
    let frame =
        rtc_client::frames::from_pixels(PixelFormat::Rgb8, w, h, 1000.0, &view, &mut scratch)
            .unwrap();
    assert_eq!((frame.display_width(), frame.display_height()), (w, h));

    let (rgba, cw, ch) = rtc_client::frames::to_pixels(&frame, PixelFormat::Rgba8, 0)
        .await
        .unwrap();
    assert_eq!((cw, ch), (w, h));
    let rgba = rgba.to_vec();
    assert_eq!(&rgba[..4], &[rgb[0], rgb[1], rgb[2], 255]);
    assert_eq!(rtc_client::read_marker(&rgba, w, h, 4), Some(0xBEEF));

    let (rgb_back, _, _) = rtc_client::frames::to_pixels(&frame, PixelFormat::Rgb8, 36)
        .await
        .unwrap();
    assert_eq!(&rgb_back.to_vec()[36..], &rgb[..]);
    let (i420, _, _) = rtc_client::frames::to_pixels(&frame, PixelFormat::I420, 0)
        .await
        .unwrap();
    assert_eq!(i420.length() as usize, PixelFormat::I420.frame_len(w, h));
    frame.close();

    let short = rtc_client::frames::from_pixels(PixelFormat::Rgba8, w, h, 0.0, &view, &mut scratch)
        .unwrap_err();
    assert_eq!(short.code, rtc_client::error::ErrorCode::InvalidFrame);

    // RGBA straight from a view into a larger buffer, the way socket payloads arrive after
    // their header.
    let message = js_sys::Uint8Array::new_with_length(36 + rgba.len() as u32);
    message.subarray(36, message.length()).copy_from(&rgba);
    let payload = message.subarray(36, message.length());
    let frame =
        rtc_client::frames::from_pixels(PixelFormat::Rgba8, w, h, 0.0, &payload, &mut scratch)
            .unwrap();
    let (copied, _, _) = rtc_client::frames::to_pixels(&frame, PixelFormat::Rgba8, 0)
        .await
        .unwrap();
    frame.close();
    assert_eq!(copied.to_vec(), rgba);
}

#[wasm_bindgen_test]
fn the_browsers_codecs_are_ordered_h264_first() {
    let caps = web_sys::RtcRtpSender::get_capabilities("video").expect("video capabilities");
    let list: js_sys::Array = get(&caps, "codecs").unchecked_into();
    let codecs: Vec<rtc_client::sdp::Codec> = list
        .iter()
        .map(|c| rtc_client::sdp::Codec {
            mime_type: get(&c, "mimeType").as_string().unwrap_or_default(),
            fmtp: get(&c, "sdpFmtpLine").as_string().unwrap_or_default(),
        })
        .collect();
    let order = rtc_client::sdp::codec_order(&codecs, "h264");
    assert_eq!(order.len(), codecs.len());
    let first = &codecs[order[0]];
    assert_eq!(first.mime_type, "video/H264");
    assert!(first.fmtp.contains("packetization-mode=1"));
}

fn options(json: &str) -> JsValue {
    js_sys::JSON::parse(json).unwrap()
}

#[wasm_bindgen_test]
fn bad_options_and_frames_throw_coded_errors() {
    let err = rtc_client::create_broadcast(&options(r#"{"frameRate": 30}"#)).unwrap_err();
    assert!(rtc_client::is_rtc_client_error(&err));
    assert_eq!(get(&err, "code"), "INVALID_OPTIONS");
    let err = rtc_client::create_broadcast(&options(
        r#"{"whipUrl": "/w", "reconnect": {"maxAttempts": -1}}"#,
    ))
    .unwrap_err();
    assert_eq!(get(&err, "code"), "INVALID_OPTIONS");

    let broadcast = rtc_client::create_broadcast(&options(r#"{"whipUrl": "/w"}"#)).unwrap();
    assert_eq!(broadcast.state(), "idle");
    assert!(broadcast.uses_generator());
    let err = broadcast
        .push_frame(
            &js_sys::Uint8Array::from(&[0u8; 10][..]),
            4,
            4,
            "rgba8",
            None,
        )
        .unwrap_err();
    assert_eq!(get(&err, "code"), "INVALID_FRAME");
    let err = broadcast
        .push_frame(&js_sys::Uint8Array::from(&[0u8; 64][..]), 4, 4, "bgr", None)
        .unwrap_err();
    assert_eq!(get(&err, "code"), "INVALID_FRAME");
    broadcast
        .push_frame(
            &js_sys::Uint8Array::from(&[0u8; 64][..]),
            4,
            4,
            "rgba8",
            None,
        )
        .unwrap();
    assert_eq!(get(&broadcast.frames(), "pushed"), 1.0);
}

#[wasm_bindgen_test]
fn the_canvas_fallback_gives_a_track() {
    let broadcast =
        rtc_client::create_broadcast(&options(r#"{"whipUrl": "/w", "source": "canvas"}"#)).unwrap();
    assert!(!broadcast.uses_generator());
    assert_eq!(broadcast.stream().get_video_tracks().length(), 1);
    broadcast
        .push_frame(
            &js_sys::Uint8Array::from(&[128u8; 4 * 4 * 4][..]),
            4,
            4,
            "rgba8",
            None,
        )
        .unwrap();
}

/// The state machine against a server that is not there: transient network errors are
/// retried with backoff, then the broadcast fails with a coded error.
#[wasm_bindgen_test]
async fn unreachable_endpoint_retries_then_fails() {
    let broadcast = rtc_client::create_broadcast(&options(
        r#"{"whipUrl": "http://127.0.0.1:9/whip", "reconnect": {"maxAttempts": 2, "baseDelayMs": 10}}"#,
    ))
    .unwrap();
    let seen = Rc::new(RefCell::new(Vec::<String>::new()));
    let log = seen.clone();
    let on_state = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        log.borrow_mut().push(get(&e, "state").as_string().unwrap());
    });
    let log = seen.clone();
    let on_reconnect = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        let code = get(&get(&e, "reason"), "code").as_string().unwrap();
        log.borrow_mut().push(format!("retry:{code}"));
    });
    let _off_state = broadcast.on(
        "stateChange",
        on_state.as_ref().unchecked_ref::<js_sys::Function>(),
    );
    let off_retry = broadcast.on(
        "reconnect",
        on_reconnect.as_ref().unchecked_ref::<js_sys::Function>(),
    );
    let err = JsFuture::from(broadcast.connect()).await.unwrap_err();
    assert_eq!(get(&err, "code"), "NETWORK_ERROR");
    assert_eq!(broadcast.state(), "failed");
    assert_eq!(
        *seen.borrow(),
        [
            "connecting",
            "reconnecting",
            "retry:NETWORK_ERROR",
            "retry:NETWORK_ERROR",
            "failed"
        ]
    );

    // Unsubscribed listeners hear nothing more; a stopped broadcast refuses to connect.
    off_retry.call0(&JsValue::NULL).unwrap();
    JsFuture::from(broadcast.stop()).await.unwrap();
    assert_eq!(broadcast.state(), "ended");
    let err = JsFuture::from(broadcast.connect()).await.unwrap_err();
    assert_eq!(get(&err, "code"), "CLOSED");
    assert_eq!(seen.borrow().last().map(String::as_str), Some("ended"));
}
