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
    // A JPEG codec must have both methods.
    let err = rtc_client::create_agent(&options(r#"{"jpeg": {"decode": 1}}"#)).unwrap_err();
    assert_eq!(get(&err, "code"), "INVALID_OPTIONS");
    let message = get(&err, "message").as_string().unwrap_or_default();
    assert!(message.contains("AgentOptions.jpeg"), "{message}");

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

mod wire {
    use rtc_client::wire::{decode, encode, stats_object};
    use rtc_protocol::{
        AgentMessage, AgentRole, LeaseGrant, LinkChoice, LinkFormat, MediaState, OutputRequest,
        PixelFormat, RelayMessage, StreamStats,
    };
    use serde_json::Value;
    use wasm_bindgen_test::*;

    fn full_stats() -> StreamStats {
        StreamStats {
            frames: Some(1234),
            frames_dropped: Some(2),
            frames_skipped: Some(5),
            fps: Some(29.97),
            bitrate_kbps: Some(1800.5),
            rtt_ms: Some(0.25),
            jitter_buffer_ms: Some(12.0),
            encode_ms: Some(3.5),
            decode_ms: Some(1.25),
            latency_p50_ms: Some(48.0),
            latency_p95_ms: Some(71.5),
            codec: Some("video/H264".into()),
            implementation: Some("OpenH264".into()),
            width: Some(512),
            height: Some(288),
            quality_limitation: Some("cpu".into()),
        }
    }

    /// JavaScript writes `12.0` as `12`; both read back as the same `f64`.
    fn numbers_as_floats(value: Value) -> Value {
        match value {
            Value::Number(n) => serde_json::Number::from_f64(n.as_f64().unwrap())
                .unwrap()
                .into(),
            Value::Array(items) => items.into_iter().map(numbers_as_floats).collect(),
            Value::Object(map) => map
                .into_iter()
                .map(|(k, v)| (k, numbers_as_floats(v)))
                .collect(),
            other => other,
        }
    }

    /// What the relay reads: the same JSON value as the protocol crate's serializer writes.
    #[wasm_bindgen_test]
    fn agent_messages_match_the_protocol_serializer() {
        let messages = [
            AgentMessage::Hello {
                protocol: 1,
                label: "Chrome \"headless\" ✓".into(),
                publish: false,
                resume: vec!["str_a".into(), "str_b".into()],
                prefer_i420: true,
                link: Some(LinkChoice::Auto),
                jpeg_quality: Some(70),
                acks: true,
                fallback: true,
            },
            AgentMessage::Hello {
                protocol: 1,
                label: String::new(),
                publish: true,
                resume: vec![],
                prefer_i420: false,
                link: Some(LinkChoice::Jpeg),
                jpeg_quality: None,
                acks: false,
                fallback: false,
            },
            AgentMessage::Ack {
                stream_index: 3,
                sequence: 1 << 40,
            },
            AgentMessage::State {
                stream_id: "str_a".into(),
                role: AgentRole::Player,
                state: MediaState::Failed,
                error: Some("NETWORK_ERROR: down".into()),
            },
            AgentMessage::State {
                stream_id: "str_a".into(),
                role: AgentRole::Publisher,
                state: MediaState::Reconnecting,
                error: None,
            },
            AgentMessage::Stats {
                stream_id: "str_a".into(),
                role: AgentRole::Player,
                stats: full_stats(),
            },
            AgentMessage::Stats {
                stream_id: "str_a".into(),
                role: AgentRole::Publisher,
                stats: StreamStats {
                    fps: Some(30.0),
                    ..StreamStats::default()
                },
            },
            AgentMessage::Release {
                stream_id: "str_a".into(),
            },
        ];
        for message in &messages {
            let ours: Value = serde_json::from_str(&encode(message)).unwrap();
            assert_eq!(
                numbers_as_floats(ours.clone()),
                numbers_as_floats(serde_json::to_value(message).unwrap()),
                "{message:?}"
            );
            let back: AgentMessage = serde_json::from_value(ours).unwrap();
            assert_eq!(&back, message);
        }
        let stats: Value = serde_json::from_str(
            &js_sys::JSON::stringify(&stats_object(&full_stats()))
                .unwrap()
                .as_string()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            numbers_as_floats(stats),
            numbers_as_floats(serde_json::to_value(full_stats()).unwrap())
        );
    }

    #[wasm_bindgen_test]
    fn relay_messages_decode_like_the_protocol_deserializer() {
        let grant = LeaseGrant {
            stream_id: "str_x".into(),
            stream_index: 3,
            whip_url: "/v1/streams/str_x/whip".into(),
            frame_rate: 24,
            width: 512,
            height: 512,
            max_bitrate_kbps: 2500,
        };
        let messages = [
            RelayMessage::Welcome {
                protocol: 1,
                agent_id: "agt_1".into(),
                link: LinkFormat::Raw,
                jpeg_quality: None,
                max_in_flight: None,
            },
            RelayMessage::Welcome {
                protocol: 1,
                agent_id: "agt_2".into(),
                link: LinkFormat::Jpeg,
                jpeg_quality: Some(80),
                max_in_flight: Some(2),
            },
            RelayMessage::Publish(grant.clone()),
            RelayMessage::Settings(grant),
            RelayMessage::Play(OutputRequest {
                stream_id: "str_x".into(),
                stream_index: 3,
                whep_url: "/v1/streams/str_x/whep".into(),
                format: PixelFormat::I420,
            }),
            RelayMessage::Play(OutputRequest {
                stream_id: "str_x".into(),
                stream_index: 3,
                whep_url: "/v1/streams/str_x/whep".into(),
                format: PixelFormat::Jpeg,
            }),
            RelayMessage::OutputDemand {
                stream_id: "str_x".into(),
                wanted: false,
            },
            RelayMessage::Stop {
                stream_id: "str_x".into(),
                reason: "deleted".into(),
            },
            RelayMessage::Error {
                code: "bad_message".into(),
                message: "nope".into(),
            },
        ];
        for message in &messages {
            assert_eq!(
                &decode(&serde_json::to_string(message).unwrap()).unwrap(),
                message
            );
        }
        // Unknown fields are ignored, as serde does.
        let welcome = r#"{"type":"welcome","protocol":1,"agent_id":"a","extra":[1]}"#;
        assert!(decode(welcome).is_ok());
    }

    #[wasm_bindgen_test]
    fn bad_relay_messages_are_protocol_errors() {
        let cases = [
            ("not json", "not JSON"),
            ("[1,2]", "`type`"),
            ("42", "not a JSON object"),
            (r#"{"type":"dance"}"#, "unknown type `dance`"),
            (r#"{"type":"welcome","agent_id":"a"}"#, "`protocol`"),
            (
                r#"{"type":"welcome","protocol":1.5,"agent_id":"a"}"#,
                "`protocol`",
            ),
            (
                r#"{"type":"welcome","protocol":-1,"agent_id":"a"}"#,
                "`protocol`",
            ),
            (
                r#"{"type":"stop","stream_id":7,"reason":"x"}"#,
                "`stream_id`",
            ),
            (
                r#"{"type":"output_demand","stream_id":"s","wanted":"yes"}"#,
                "`wanted`",
            ),
            (
                r#"{"type":"play","stream_id":"s","stream_index":1,"whep_url":"/w","format":"yuv"}"#,
                "`format`",
            ),
        ];
        for (text, needle) in cases {
            let err = decode(text).unwrap_err();
            assert_eq!(err.code, rtc_client::error::ErrorCode::Protocol, "{text}");
            assert!(err.message.contains(needle), "{text}: {}", err.message);
            // Serde refuses the same input.
            assert!(
                serde_json::from_str::<RelayMessage>(text).is_err(),
                "{text}"
            );
        }
    }
}

/// The agent's latency bookkeeping on real frames: markers read from the socket pixels on the
/// way out and from a `VideoFrame` copied back (the player's path), at the agent's own times.
#[wasm_bindgen_test]
async fn latency_is_measured_from_markers_that_go_round() {
    use rtc_client::latency::LatencyTracker;
    use rtc_client::markers::read_frame;

    let (w, h) = (256u32, 64u32);
    let mut tracker = LatencyTracker::default();
    let mut scratch = rtc_client::frames::Scratch::default();
    for (i, value) in [0x0101u16, 0x0102, 0x0103].into_iter().enumerate() {
        let mut rgb: Vec<u8> = (0..w * h * 3).map(|i| (i % 200) as u8).collect();
        assert!(rtc_client::draw_marker(&mut rgb, w, h, 3, value));
        let sent_at = 1000.0 * i as f64;
        let marker = read_frame(PixelFormat::Rgb8, w, h, rgb.len(), |i| rgb[i]);
        assert_eq!(marker, Some(value));
        tracker.sent(marker, sent_at);

        let view = js_sys::Uint8Array::from(&rgb[..]);
        let frame =
            rtc_client::frames::from_pixels(PixelFormat::Rgb8, w, h, 0.0, &view, &mut scratch)
                .unwrap();
        for format in [PixelFormat::Rgba8, PixelFormat::I420] {
            let (buffer, cw, ch) = rtc_client::frames::to_pixels(&frame, format, 36)
                .await
                .unwrap();
            let back = read_frame(format, cw, ch, buffer.length() as usize - 36, |i| {
                buffer.get_index(36 + i as u32)
            });
            assert_eq!(back, Some(value), "{format:?}");
            // Only the first copy back counts.
            tracker.returned(back, sent_at + 40.0 + 10.0 * i as f64);
        }
        frame.close();
    }
    let latency = tracker.percentiles(2100.0).unwrap();
    assert_eq!((latency.p50_ms, latency.p95_ms), (50.0, 60.0));

    // Frames without a marker never produce a figure, whatever comes back.
    let mut unmarked = LatencyTracker::default();
    let grey = vec![128u8; (w * h * 3) as usize];
    for i in 0..10 {
        let marker = read_frame(PixelFormat::Rgb8, w, h, grey.len(), |i| grey[i]);
        unmarked.sent(marker, f64::from(i));
        unmarked.returned(marker, f64::from(i) + 30.0);
    }
    assert_eq!(unmarked.percentiles(50.0), None);
}

/// A WHEP server inside the page: `fetch` to `path` is answered by a second
/// `RTCPeerConnection` that sends a canvas repainted with `pixels` 30 times a second.
#[wasm_bindgen(inline_js = r#"
export function startLoopbackWhep(path, pixels, width, height) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  const image = new ImageData(new Uint8ClampedArray(pixels), width, height);
  const paint = () => context.putImageData(image, 0, 0);
  paint();
  const timer = setInterval(paint, 33);
  const track = canvas.captureStream(30).getVideoTracks()[0];
  const peers = [];
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (input, init) => {
    const request = new Request(input, init);
    if (new URL(request.url).pathname !== path) return realFetch(input, init);
    const answer = async () => {
      const pc = new RTCPeerConnection();
      peers.push(pc);
      await pc.setRemoteDescription({ type: "offer", sdp: await request.text() });
      const [transceiver] = pc.getTransceivers();
      transceiver.direction = "sendonly";
      await transceiver.sender.replaceTrack(track);
      await pc.setLocalDescription();
      if (pc.iceGatheringState !== "complete") {
        await new Promise((done) =>
          pc.addEventListener("icegatheringstatechange", () => {
            if (pc.iceGatheringState === "complete") done();
          }),
        );
      }
      return new Response(pc.localDescription.sdp, {
        status: 201,
        headers: { "Content-Type": "application/sdp", Location: `${path}/session` },
      });
    };
    const response = request.method === "POST" ? await answer() : new Response(null, { status: 200 });
    // A constructed Response has no URL; the client resolves Location against it.
    Object.defineProperty(response, "url", { value: request.url });
    return response;
  };
  return () => {
    globalThis.fetch = realFetch;
    clearInterval(timer);
    track.stop();
    for (const pc of peers) pc.close();
  };
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = startLoopbackWhep)]
    fn start_loopback_whep(path: &str, pixels: &[u8], width: u32, height: u32) -> js_sys::Function;
}

/// Takes `name` off `target` until the guard drops, as in a browser that lacks it.
struct Hidden {
    target: JsValue,
    name: &'static str,
    value: JsValue,
}

impl Hidden {
    fn new(target: JsValue, name: &'static str) -> Self {
        let value = get(&target, name);
        assert!(!value.is_undefined(), "{name} to hide is missing");
        assert!(
            js_sys::Reflect::delete_property(
                target.unchecked_ref::<js_sys::Object>(),
                &name.into()
            )
            .unwrap()
        );
        assert!(get(&target, name).is_undefined(), "{name} is still there");
        Self {
            target,
            name,
            value,
        }
    }
}

impl Drop for Hidden {
    fn drop(&mut self) {
        js_sys::Reflect::set(&self.target, &self.name.into(), &self.value).unwrap();
    }
}

fn hidden_videos() -> f64 {
    js_sys::eval("document.querySelectorAll('video[aria-hidden]').length")
        .unwrap()
        .as_f64()
        .unwrap()
}

/// Polls `done` every 20 ms until it holds or `timeout_ms` pass.
async fn wait_until(timeout_ms: f64, mut done: impl FnMut() -> bool) -> bool {
    let deadline = js_sys::Date::now() + timeout_ms;
    while !done() {
        if js_sys::Date::now() > deadline {
            return false;
        }
        gloo_timers::future::TimeoutFuture::new(20).await;
    }
    true
}

/// Without `MediaStreamTrackProcessor` (Firefox, Safari) the player reads the frames a hidden
/// `<video>` presents: real frames over a real peer connection, carrying the picture sent.
#[wasm_bindgen_test]
async fn without_the_track_processor_frames_come_from_a_video() {
    let (w, h) = (256u32, 64u32);
    let mut rgba: Vec<u8> = (0..w * h * 4).map(|i| (i % 160) as u8).collect();
    assert!(rtc_client::draw_marker(&mut rgba, w, h, 4, 0x2468));
    let stop_server = start_loopback_whep("/loop/whep-video", &rgba, w, h);
    let _hidden = Hidden::new(js_sys::global().into(), "MediaStreamTrackProcessor");

    let player = rtc_client::create_player(
        "/loop/whep-video".into(),
        &options(r#"{"reconnect": {"enabled": false}}"#),
    )
    .unwrap();
    let kept = Rc::new(RefCell::new(Vec::<web_sys::VideoFrame>::new()));
    let errors = Rc::new(RefCell::new(Vec::<String>::new()));
    let keep = kept.clone();
    let on_frame = Closure::<dyn FnMut(web_sys::VideoFrame)>::new(move |f: web_sys::VideoFrame| {
        let mut kept = keep.borrow_mut();
        if kept.len() < 3 {
            kept.push(f.clone().unwrap());
        }
    });
    let log = errors.clone();
    let on_error = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        log.borrow_mut()
            .push(get(&e, "message").as_string().unwrap());
    });
    let _off_frame = player.on("frame", on_frame.as_ref().unchecked_ref());
    let _off_error = player.on("error", on_error.as_ref().unchecked_ref());
    JsFuture::from(player.connect()).await.unwrap();

    let flowing = wait_until(10_000.0, || player.frames() >= 20.0).await;
    assert!(flowing, "{} frames in 10 s", player.frames());
    assert_eq!(hidden_videos(), 1.0);
    assert!(errors.borrow().is_empty(), "{:?}", errors.borrow());
    // The last kept frame went through the same copy-back as the agent's.
    let frame = kept.borrow_mut().pop().unwrap();
    assert!(frame.timestamp() > 0.0);
    let (copied, cw, ch) = rtc_client::frames::to_pixels(&frame, PixelFormat::Rgba8, 0)
        .await
        .unwrap();
    assert_eq!((cw, ch), (w, h));
    assert_eq!(
        rtc_client::read_marker(&copied.to_vec(), w, h, 4),
        Some(0x2468)
    );
    for frame in kept.borrow_mut().drain(..).chain([frame]) {
        frame.close();
    }

    JsFuture::from(player.stop()).await.unwrap();
    assert_eq!(hidden_videos(), 0.0, "the hidden video outlives the player");
    stop_server.call0(&JsValue::NULL).unwrap();
}

/// With neither the processor nor `requestVideoFrameCallback`, the player says why no frame
/// comes, once, with a code.
#[wasm_bindgen_test]
async fn without_any_frame_api_the_player_says_why() {
    let stop_server = start_loopback_whep("/loop/whep-none", &[0u8; 128 * 16 * 4], 128, 16);
    let _processor = Hidden::new(js_sys::global().into(), "MediaStreamTrackProcessor");
    let video_prototype = get(
        &get(&js_sys::global().into(), "HTMLVideoElement"),
        "prototype",
    );
    let _callback = Hidden::new(video_prototype, "requestVideoFrameCallback");

    let player = rtc_client::create_player(
        "/loop/whep-none".into(),
        &options(r#"{"reconnect": {"enabled": false}}"#),
    )
    .unwrap();
    let errors = Rc::new(RefCell::new(Vec::<(String, String)>::new()));
    let log = errors.clone();
    let on_error = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        log.borrow_mut().push((
            get(&e, "code").as_string().unwrap(),
            get(&e, "message").as_string().unwrap(),
        ));
    });
    let on_frame = Closure::<dyn FnMut(JsValue)>::new(|_| {});
    let _off_frame = player.on("frame", on_frame.as_ref().unchecked_ref());
    let _off_error = player.on("error", on_error.as_ref().unchecked_ref());
    JsFuture::from(player.connect()).await.unwrap();

    assert!(wait_until(10_000.0, || !errors.borrow().is_empty()).await);
    let live = wait_until(10_000.0, || player.state() == "live").await;
    assert!(live, "player is {}", player.state());
    let (code, message) = errors.borrow()[0].clone();
    assert_eq!(code, "UNSUPPORTED");
    assert!(message.contains("requestVideoFrameCallback"), "{message}");
    assert_eq!(errors.borrow().len(), 1, "{:?}", errors.borrow());
    assert_eq!(player.frames(), 0.0);
    assert_eq!(hidden_videos(), 0.0);

    JsFuture::from(player.stop()).await.unwrap();
    stop_server.call0(&JsValue::NULL).unwrap();
}
