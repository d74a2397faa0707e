//! The agent link: raw or JPEG chosen from where the browser is (the pack's proxy says) and
//! what the agent asks, JPEG frames both ways, and the bound on frames in flight to an agent
//! that acknowledges them.

use crate::common;

use std::time::{Duration, Instant};

use common::{Relay, Ws, next_binary, next_json, next_of_type};
use futures_util::SinkExt;
use rtc_protocol::{FrameHeader, PixelFormat};
use rtc_relay::link::{decode_rgb, encode_message};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Opens the agent socket as the pack's proxy would, with `locality` in its header (none:
/// straight to the relay), says `hello` and returns the socket and the `welcome`.
async fn agent_from(relay: &Relay, locality: Option<&str>, hello: Value) -> (Ws, Value) {
    let mut request = format!("ws://{}/v1/agent", relay.addr)
        .into_client_request()
        .unwrap();
    let headers = request.headers_mut();
    headers.insert(
        "authorization",
        format!("Bearer {}", common::TOKEN).parse().unwrap(),
    );
    if let Some(locality) = locality {
        headers.insert("x-rtc-client-locality", locality.parse().unwrap());
    }
    let mut ws = tokio_tungstenite::connect_async(request).await.unwrap().0;
    ws.send(Message::Text(hello.to_string().into()))
        .await
        .unwrap();
    let welcome = next_json(&mut ws).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    (ws, welcome)
}

fn hello(extra: Value) -> Value {
    let mut hello = json!({"type": "hello", "protocol": 1, "publish": true});
    let Value::Object(extra) = extra else {
        panic!("hello fields must be an object")
    };
    hello.as_object_mut().unwrap().extend(extra);
    hello
}

/// Left half dark, right half light.
fn halves(width: u32, height: u32) -> Vec<u8> {
    (0..height)
        .flat_map(|_| (0..width).flat_map(move |x| [if x < width / 2 { 30 } else { 220 }; 3]))
        .collect()
}

async fn post_rgb(relay: &Relay, id: &str, width: u32, height: u32) -> Value {
    let path = format!("/v1/streams/{id}/frames");
    let r = relay
        .post_pixels(&path, width, height, Some("rgb8"), halves(width, height))
        .await;
    assert_eq!(r.status(), 202, "{:?}", r.text().await);
    r.json().await.unwrap()
}

#[tokio::test]
async fn the_link_is_raw_on_loopback_jpeg_for_remote_browsers_and_the_agent_may_override() {
    let relay = Relay::start().await;
    let auto = || hello(json!({"link": "auto"}));
    let cases = [
        (Some("remote"), auto(), "jpeg"),
        (Some("loopback"), auto(), "raw"),
        (None, auto(), "raw"),
        (Some("remote"), hello(json!({"link": "raw"})), "raw"),
        (Some("loopback"), hello(json!({"link": "jpeg"})), "jpeg"),
        // An agent that does not know about links gets raw frames wherever it is.
        (Some("remote"), hello(json!({})), "raw"),
    ];
    for (locality, hello, link) in cases {
        let (_ws, welcome) = agent_from(&relay, locality, hello.clone()).await;
        assert_eq!(welcome["link"], link, "{locality:?} {hello} → {welcome}");
        assert_eq!(
            welcome.get("jpeg_quality").is_some(),
            link == "jpeg",
            "{welcome}"
        );
        assert!(welcome.get("max_in_flight").is_none(), "no acks asked");
    }
    let (_ws, welcome) = agent_from(
        &relay,
        None,
        hello(json!({"link": "jpeg", "jpeg_quality": 55, "acks": true})),
    )
    .await;
    assert_eq!(welcome["jpeg_quality"], 55);
    assert_eq!(welcome["max_in_flight"], 2);
    relay.stop().await;
}

#[tokio::test]
async fn a_remote_agent_gets_and_returns_jpeg_and_the_stream_shows_its_link() {
    let relay = Relay::start().await;
    let (mut a, _) = agent_from(&relay, Some("remote"), hello(json!({"link": "auto"}))).await;
    let stream = relay.default_stream().await;
    let id = stream["id"].as_str().unwrap();
    let index = u32::try_from(stream["index"].as_u64().unwrap()).unwrap();
    next_of_type(&mut a, "publish").await;

    post_rgb(&relay, id, 64, 48).await;
    let message = next_binary(&mut a).await;
    let (header, jpeg) = FrameHeader::decode(&message).unwrap();
    assert_eq!(
        (header.width, header.height, header.format),
        (64, 48, PixelFormat::Jpeg)
    );
    assert!(jpeg.len() < 64 * 48 * 3 / 4, "{} bytes", jpeg.len());
    let rgb = decode_rgb(&header, jpeg).unwrap();
    assert!(rgb[3 * 8].abs_diff(30) < 8 && rgb[3 * 56].abs_diff(220) < 8);

    // The player's frames come back as JPEG; the workflow reads pixels.
    let live = json!({"type": "state", "stream_id": id, "role": "player", "state": "live"});
    a.send(Message::Text(live.to_string().into()))
        .await
        .unwrap();
    let back = FrameHeader {
        stream_index: index,
        sequence: 1,
        capture_us: 777,
        width: 64,
        height: 48,
        format: PixelFormat::Rgb8,
    };
    let jpeg_back = encode_message(&back.encode_with(&halves(64, 48)), 80).unwrap();
    a.send(Message::Binary(jpeg_back.into())).await.unwrap();
    let r = relay
        .get(&format!(
            "/v1/streams/{id}/output?after=0&wait_ms=5000&format=rgb8"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-frame-width"], "64");
    assert_eq!(r.headers()["x-frame-format"], "rgb8");
    assert_eq!(r.headers()["x-frame-capture-us"], "777");
    let pixels = r.bytes().await.unwrap();
    assert_eq!(pixels.len(), 64 * 48 * 3);
    assert!(pixels[3 * 8].abs_diff(30) < 8 && pixels[3 * 56].abs_diff(220) < 8);

    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let one = relay.get_json(&format!("/v1/streams/{id}")).await;
        if one["player"]["link"] == "jpeg" {
            break;
        }
        assert!(Instant::now() < deadline, "{one}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A JPEG that does not decode, or decodes to another size, is refused with a reason.
    let mut corrupt = jpeg_back_header(index, 64, 48);
    corrupt.extend_from_slice(b"not a jpeg at all");
    let mut wrong_size = jpeg_back_header(index, 32, 48);
    wrong_size.extend_from_slice(&message[rtc_protocol::FRAME_HEADER_LEN..]);
    for (bad, says) in [(corrupt, "does not decode"), (wrong_size, "64x48")] {
        a.send(Message::Binary(bad.into())).await.unwrap();
        let error = next_of_type(&mut a, "error").await;
        assert_eq!(error["code"], "bad_frame", "{error}");
        assert!(error["message"].as_str().unwrap().contains(says), "{error}");
    }
    relay.stop().await;
}

fn jpeg_back_header(index: u32, width: u32, height: u32) -> Vec<u8> {
    FrameHeader {
        stream_index: index,
        sequence: 2,
        capture_us: 0,
        width,
        height,
        format: PixelFormat::Jpeg,
    }
    .encode()
    .to_vec()
}

#[tokio::test]
async fn an_acknowledging_agent_has_at_most_two_frames_in_flight_then_gets_the_newest() {
    let relay = Relay::start().await;
    let (mut a, welcome) = agent_from(&relay, None, hello(json!({"acks": true}))).await;
    assert_eq!(welcome["max_in_flight"], 2);
    let stream = relay.default_stream().await;
    let id = stream["id"].as_str().unwrap();
    let index = stream["index"].as_u64().unwrap();
    next_of_type(&mut a, "publish").await;

    for want in 0..2 {
        post_rgb(&relay, id, 8, 8).await;
        let (header, _) = FrameHeader::decode(&next_binary(&mut a).await)
            .map(|(h, p)| (h, p.len()))
            .unwrap();
        assert_eq!(header.sequence, want);
    }
    // Two unacknowledged: the next frames wait in the newest-wins slot, replacing each other.
    let mut dropped = Vec::new();
    for _ in 0..3 {
        dropped.push(post_rgb(&relay, id, 8, 8).await["dropped"].clone());
    }
    assert_eq!(dropped, [0, 1, 2]);
    let ack = json!({"type": "ack", "stream_index": index, "sequence": 0});
    a.send(Message::Text(ack.to_string().into())).await.unwrap();
    let (header, _) = FrameHeader::decode(&next_binary(&mut a).await)
        .map(|(h, p)| (h, p.len()))
        .unwrap();
    assert_eq!(header.sequence, 4, "the newest frame, after the ack");
    // Frames 1 and 4 are in flight again: the next one waits for an ack.
    assert_eq!(post_rgb(&relay, id, 8, 8).await["dropped"], 2);
    assert_eq!(post_rgb(&relay, id, 8, 8).await["dropped"], 3);
    let ack = json!({"type": "ack", "stream_index": index, "sequence": 4});
    a.send(Message::Text(ack.to_string().into())).await.unwrap();
    let (header, _) = FrameHeader::decode(&next_binary(&mut a).await)
        .map(|(h, p)| (h, p.len()))
        .unwrap();
    assert_eq!(header.sequence, 6);
    relay.stop().await;
}
