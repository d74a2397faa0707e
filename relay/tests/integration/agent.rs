//! The agent WebSocket with real clients: leases, takeover, frames both ways, bad input.

use crate::common;

use std::time::{Duration, Instant};

use common::{Relay, agent, next_binary, next_json, next_of_type};
use futures_util::{SinkExt, StreamExt};
use rtc_protocol::{FrameHeader, PixelFormat};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

async fn post_frame(relay: &Relay, id: &str, width: u32, height: u32, fill: u8) -> Value {
    let r = relay
        .post_pixels(
            &format!("/v1/streams/{id}/frames"),
            width,
            height,
            Some("rgba8"),
            vec![fill; (width * height * 4) as usize],
        )
        .await;
    assert_eq!(r.status(), 202, "{:?}", r.text().await);
    r.json().await.unwrap()
}

#[tokio::test]
async fn first_candidate_gets_the_lease_and_another_takes_over_on_close() {
    let relay = Relay::start().await;
    let (mut a, a_id) = agent(&relay, true).await;
    let (mut b, b_id) = agent(&relay, true).await;
    let (mut viewer, _) = agent(&relay, false).await;
    let stream = relay.default_stream().await;
    let id = stream["id"].as_str().unwrap();

    let grant = next_of_type(&mut a, "publish").await;
    assert_eq!(grant["stream_id"], id);
    assert_eq!(grant["stream_index"], stream["index"]);
    assert!(
        grant["whip_url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("/v1/streams/{id}/whip?lease=lse_")),
        "{grant}"
    );
    assert_eq!(grant["width"], 512);
    assert!(grant["max_bitrate_kbps"].as_u64().unwrap() >= 500);
    let one: Value = relay
        .get(&format!("/v1/streams/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["lease"], a_id.as_str());
    assert_eq!(one["state"], "connecting");

    a.close(None).await.unwrap();
    drop(a);
    let started = Instant::now();
    let grant = next_of_type(&mut b, "publish").await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(grant["stream_id"], id);
    let one: Value = relay
        .get(&format!("/v1/streams/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["lease"], b_id.as_str());

    // The non-candidate never got a lease.
    let nothing = tokio::time::timeout(Duration::from_millis(200), async {
        loop {
            if let Some(Ok(Message::Text(t))) = viewer.next().await {
                return t.to_string();
            }
        }
    })
    .await;
    assert!(nothing.is_err(), "viewer got {nothing:?}");
    relay.stop().await;
}

#[tokio::test]
async fn a_silent_holder_loses_the_lease_within_two_seconds() {
    let relay = Relay::start().await;
    let (mut a, _) = agent(&relay, true).await;
    let stream = relay.default_stream().await;
    next_of_type(&mut a, "publish").await;
    let (mut b, b_id) = agent(&relay, true).await;
    // `a` stops reading, so it answers no more pings (a frozen tab or a dead network).
    let started = Instant::now();
    let grant = tokio::time::timeout(Duration::from_secs(2), next_of_type(&mut b, "publish"))
        .await
        .expect("takeover within 2 s");
    assert_eq!(grant["stream_id"], stream["id"]);
    assert!(started.elapsed() < Duration::from_secs(2));
    let one: Value = relay
        .get(&format!("/v1/streams/{}", stream["id"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["lease"], b_id.as_str());
    drop(a);
    relay.stop().await;
}

#[tokio::test]
async fn released_lease_goes_to_the_next_candidate_and_resume_is_preferred() {
    let relay = Relay::start().await;
    let (mut a, _) = agent(&relay, true).await;
    let stream = relay.default_stream().await;
    let id = stream["id"].as_str().unwrap().to_owned();
    next_of_type(&mut a, "publish").await;
    let (mut b, b_id) = agent(&relay, true).await;
    a.send(Message::Text(
        json!({"type": "release", "stream_id": id})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    next_of_type(&mut b, "publish").await;

    // After a reconnect, an agent that says it served the stream gets it back first.
    drop(b);
    let (mut c, _) = common::agent_with(
        &relay,
        json!({"type": "hello", "protocol": 1, "publish": true, "resume": [id]}),
    )
    .await;
    let grant = next_of_type(&mut c, "publish").await;
    assert_eq!(grant["stream_id"], id.as_str());
    let one: Value = relay
        .get(&format!("/v1/streams/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(one["lease"], b_id.as_str());
    drop(a);
    relay.stop().await;
}

#[tokio::test]
async fn resuming_a_stream_the_relay_does_not_know_gets_a_stop() {
    let relay = Relay::start().await;
    let (mut agent, _) = common::agent_with(
        &relay,
        json!({"type": "hello", "protocol": 1, "publish": true, "resume": ["str_gone"]}),
    )
    .await;
    let stop = next_of_type(&mut agent, "stop").await;
    assert_eq!(stop["stream_id"], "str_gone");
    assert!(stop["reason"].as_str().unwrap().contains("restarted"));
    relay.stop().await;
}

#[tokio::test]
async fn a_tab_takes_the_stream_from_a_fallback_agent_at_once() {
    let relay = Relay::start().await;
    let hello = json!({"type": "hello", "protocol": 1, "label": "headless", "publish": true, "fallback": true});
    let (mut headless, headless_id) = common::agent_with(&relay, hello).await;
    let stream = relay.default_stream().await;
    let id = stream["id"].as_str().unwrap();
    next_of_type(&mut headless, "publish").await;
    let view = |relay: &Relay| {
        let request = relay.get(&format!("/v1/streams/{id}"));
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let held = view(&relay).await;
    assert_eq!(
        (held["lease"].as_str(), held["lease_fallback"].as_bool()),
        (Some(headless_id.as_str()), Some(true))
    );

    let (mut tab, tab_id) = agent(&relay, true).await;
    let stop = next_of_type(&mut headless, "stop").await;
    assert_eq!(stop["stream_id"], id);
    assert!(stop["reason"].as_str().unwrap().contains("tab"), "{stop}");
    assert_eq!(next_of_type(&mut tab, "publish").await["stream_id"], id);
    let moved = view(&relay).await;
    assert_eq!(
        (moved["lease"].as_str(), moved["lease_fallback"].as_bool()),
        (Some(tab_id.as_str()), Some(false))
    );
    // Frames go to the tab now.
    post_frame(&relay, id, 2, 2, 7).await;
    let (header, _) = FrameHeader::decode(&next_binary(&mut tab).await).unwrap();
    assert_eq!((header.width, header.height), (2, 2));
    relay.stop().await;
}

#[tokio::test]
async fn an_agent_that_prefers_i420_gets_rgb_frames_converted() {
    let relay = Relay::start().await;
    let hello = json!({"type": "hello", "protocol": 1, "publish": true, "prefer_i420": true});
    let (mut a, _) = common::agent_with(&relay, hello).await;
    let stream = relay.default_stream().await;
    let id = stream["id"].as_str().unwrap();
    next_of_type(&mut a, "publish").await;

    post_frame(&relay, id, 4, 2, 9).await;
    let message = next_binary(&mut a).await;
    let (header, pixels) = FrameHeader::decode(&message).unwrap();
    assert_eq!(
        (header.sequence, header.width, header.height, header.format),
        (0, 4, 2, PixelFormat::I420)
    );
    // Grey 9 is BT.601 luma 24 with neutral chroma (one chroma sample per 2×2 block).
    assert_eq!(pixels, [[24u8; 8].as_slice(), &[128; 4]].concat());
}

#[tokio::test]
async fn frames_flow_to_the_holder_and_output_flows_back() {
    let relay = Relay::start().await;
    let (mut a, a_id) = agent(&relay, true).await;
    let stream = relay.default_stream().await;
    let id = stream["id"].as_str().unwrap();
    let index = u32::try_from(stream["index"].as_u64().unwrap()).unwrap();
    next_of_type(&mut a, "publish").await;

    let accepted = post_frame(&relay, id, 4, 2, 9).await;
    assert_eq!(accepted["sequence"], 0);
    let message = next_binary(&mut a).await;
    let (header, pixels) = FrameHeader::decode(&message).unwrap();
    assert_eq!(header.stream_index, index);
    assert_eq!(
        (header.width, header.height, header.format),
        (4, 2, PixelFormat::Rgba8)
    );
    assert_eq!(pixels, &[9u8; 32][..]);

    // State reports change the stream's state.
    let live = json!({"type": "state", "stream_id": id, "role": "publisher", "state": "live"});
    a.send(Message::Text(live.to_string().into()))
        .await
        .unwrap();
    let stats =
        json!({"type": "stats", "stream_id": id, "role": "publisher", "stats": {"fps": 23.5}});
    a.send(Message::Text(stats.to_string().into()))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let one: Value = relay
            .get(&format!("/v1/streams/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if one["state"] == "live" && one["publisher"]["stats"]["fps"] == 23.5 {
            assert_eq!(one["publisher"]["agent_id"], a_id.as_str());
            break;
        }
        assert!(Instant::now() < deadline, "{one}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A publisher that gives up puts the stream in error, with its reason.
    let failed = json!({"type": "state", "stream_id": id, "role": "publisher", "state": "failed", "error": "ICE failed"});
    a.send(Message::Text(failed.to_string().into()))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let one: Value = relay
            .get(&format!("/v1/streams/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if one["state"] == "error" {
            assert_eq!(one["error"], "ICE failed");
            break;
        }
        assert!(Instant::now() < deadline, "{one}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The player sends processed frames back; a waiting reader gets the newest.
    let reader = {
        let url = relay.url(&format!(
            "/v1/streams/{id}/output?after=0&wait_ms=5000&format=rgb8"
        ));
        let http = relay.http.clone();
        tokio::spawn(async move {
            http.get(url)
                .bearer_auth(common::TOKEN)
                .send()
                .await
                .unwrap()
        })
    };
    let out = FrameHeader {
        stream_index: index,
        sequence: 77,
        capture_us: 1234,
        width: 2,
        height: 1,
        format: PixelFormat::Rgba8,
    };
    a.send(Message::Binary(
        out.encode_with(&[1, 2, 3, 4, 5, 6, 7, 8]).into(),
    ))
    .await
    .unwrap();
    let response = reader.await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-frame-width"], "2");
    assert_eq!(response.headers()["x-frame-height"], "1");
    assert_eq!(response.headers()["x-frame-format"], "rgb8");
    assert_eq!(response.headers()["x-frame-sequence"], "1");
    assert_eq!(response.headers()["x-frame-capture-us"], "1234");
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        &[1, 2, 3, 5, 6, 7]
    );
    let r = relay
        .get(&format!("/v1/streams/{id}/output?after=1&wait_ms=10"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = relay
        .get(&format!("/v1/streams/{id}/output"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-frame-format"], "rgba8");
    assert_eq!(r.bytes().await.unwrap().len(), 8);
    relay.stop().await;
}

#[tokio::test]
async fn fast_producer_slow_consumer_keeps_newest_and_counts_drops() {
    let relay = Relay::start().await;
    let (mut a, _) = agent(&relay, true).await;
    let stream = relay.default_stream().await;
    let id = stream["id"].as_str().unwrap().to_owned();
    next_of_type(&mut a, "publish").await;

    // 256×256 RGBA frames (256 KiB) so the socket buffers fill after a few.
    const FRAMES: u8 = 120;
    let producer = {
        let relay_url = relay.url(&format!("/v1/streams/{id}/frames"));
        let http = relay.http.clone();
        tokio::spawn(async move {
            for i in 0..FRAMES {
                let r = http
                    .post(&relay_url)
                    .bearer_auth(common::TOKEN)
                    .header("content-type", "application/octet-stream")
                    .header("x-frame-width", "256")
                    .header("x-frame-height", "256")
                    .header("x-frame-format", "rgba8")
                    .body(vec![i; 256 * 256 * 4])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 202);
            }
        })
    };
    let mut received = Vec::new();
    let mut newest = 0;
    while newest != u64::from(FRAMES - 1) {
        let message = next_binary(&mut a).await;
        let (header, pixels) = FrameHeader::decode(&message).unwrap();
        assert!(
            pixels.iter().all(|&p| u64::from(p) == header.sequence),
            "pixels match the header"
        );
        assert!(
            received.last().is_none_or(|&last| header.sequence > last),
            "never older"
        );
        newest = header.sequence;
        received.push(header.sequence);
        // A slow consumer: the tab takes 20 ms per frame.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    producer.await.unwrap();
    let one: Value = relay
        .get(&format!("/v1/streams/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let frames = &one["frames"];
    assert_eq!(frames["received"], u64::from(FRAMES));
    assert_eq!(frames["queue_depth"], 0);
    let dropped = frames["dropped"].as_u64().unwrap();
    let sent = frames["sent"].as_u64().unwrap();
    assert!(dropped > 0, "{frames}");
    assert_eq!(sent + dropped, u64::from(FRAMES), "{frames}");
    assert!(
        received.len() < usize::from(FRAMES),
        "older frames were skipped"
    );
    relay.stop().await;
}

#[tokio::test]
async fn bad_agent_input_gets_typed_errors() {
    let relay = Relay::start().await;
    // No hello first.
    let mut ws = common::connect(&relay).await;
    ws.send(Message::Text(
        r#"{"type":"release","stream_id":"x"}"#.into(),
    ))
    .await
    .unwrap();
    let error = next_json(&mut ws).await;
    assert_eq!(error["code"], "hello_expected");

    let mut old = common::connect(&relay).await;
    let hello = json!({"type": "hello", "protocol": 99});
    old.send(Message::Text(hello.to_string().into()))
        .await
        .unwrap();
    assert_eq!(next_json(&mut old).await["code"], "protocol_mismatch");

    let (mut a, _) = agent(&relay, true).await;
    a.send(Message::Text("{garbage".into())).await.unwrap();
    assert_eq!(next_of_type(&mut a, "error").await["code"], "bad_message");
    a.send(Message::Binary(vec![1, 2, 3].into())).await.unwrap();
    assert_eq!(next_of_type(&mut a, "error").await["code"], "bad_frame");
    let stray = FrameHeader {
        stream_index: 999,
        sequence: 0,
        capture_us: 0,
        width: 1,
        height: 1,
        format: PixelFormat::Rgb8,
    };
    a.send(Message::Binary(stray.encode_with(&[0, 0, 0]).into()))
        .await
        .unwrap();
    assert_eq!(
        next_of_type(&mut a, "error").await["code"],
        "unknown_stream"
    );
    // Reports about a stream that is gone arrive while an agent tears down: they are dropped
    // without an error, so the next error is the one for the message after them.
    for late in [
        json!({"type": "state", "stream_id": "str_nope", "role": "player", "state": "live"}),
        json!({"type": "stats", "stream_id": "str_nope", "role": "player", "stats": {}}),
    ] {
        a.send(Message::Text(late.to_string().into()))
            .await
            .unwrap();
    }
    a.send(Message::Text("{}".into())).await.unwrap();
    assert_eq!(next_of_type(&mut a, "error").await["code"], "bad_message");

    // A non-holder may not report on or feed a stream.
    let stream = relay.default_stream().await;
    next_of_type(&mut a, "publish").await;
    let (mut b, _) = agent(&relay, true).await;
    let state =
        json!({"type": "state", "stream_id": stream["id"], "role": "player", "state": "live"});
    b.send(Message::Text(state.to_string().into()))
        .await
        .unwrap();
    assert_eq!(
        next_of_type(&mut b, "error").await["code"],
        "not_lease_holder"
    );
    relay.stop().await;
}
