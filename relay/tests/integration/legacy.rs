//! The original package's single-stream routes, acting on the current stream.

use crate::common;

use base64::Engine;
use common::{Relay, agent, expect_error, next_binary, next_of_type};
use rtc_protocol::{FrameHeader, PixelFormat};
use serde_json::{Value, json};

fn png(width: u32, height: u32, rgb: &[u8]) -> String {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder
        .write_header()
        .unwrap()
        .write_image_data(rgb)
        .unwrap();
    base64::engine::general_purpose::STANDARD.encode(out)
}

#[tokio::test]
async fn start_status_frames_pipeline_stop() {
    let relay = Relay::start().await;
    let idle: Value = relay
        .get("/status")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(idle["running"], false);
    expect_error(
        relay
            .post("/frames")
            .json(&json!({"frame_b64": ""}))
            .send()
            .await
            .unwrap(),
        409,
        "no_current_stream",
    )
    .await;
    expect_error(
        relay
            .patch("/pipeline")
            .json(&json!({"pipeline_config": {"params": {"prompt": "x"}}}))
            .send()
            .await
            .unwrap(),
        409,
        "no_current_stream",
    )
    .await;

    let (mut holder, _) = agent(&relay, true).await;
    let started: Value = relay
        .post("/start")
        .json(&json!({"stream_name": "legacy", "frame_rate": 30, "frame_width": 640, "frame_height": 480,
            "pipeline_config": {"pipeline_id": "pip_SDXL-turbo",
                "pipeline_params": {"model_id": "stabilityai/sdxl-turbo", "prompt": "p"}}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(started["running"], true);
    let id = started["stream_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("str_"));
    assert_eq!(
        started["stream_settings"],
        json!({"frame_rate": 30, "frame_width": 640, "frame_height": 480})
    );
    next_of_type(&mut holder, "publish").await;

    let status: Value = relay
        .get("/status")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["stream_id"], id.as_str());

    // The original's PNG body.
    let accepted: Value = relay
        .post("/frames")
        .json(&json!({"frame_b64": png(2, 1, &[1, 2, 3, 4, 5, 6])}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(accepted["accepted"], true);
    let message = next_binary(&mut holder).await;
    let (header, pixels) = FrameHeader::decode(&message).unwrap();
    assert_eq!(
        (header.width, header.height, header.format),
        (2, 1, PixelFormat::Rgb8)
    );
    assert_eq!(pixels, &[1, 2, 3, 4, 5, 6]);

    // Raw pixels work on the legacy route too.
    let raw = relay
        .post_pixels("/frames", 1, 1, None, vec![9u8, 9, 9])
        .await;
    assert_eq!(raw.status(), 200);
    let (header, _) = FrameHeader::decode(&next_binary(&mut holder).await)
        .map(|(h, p)| (h, p.to_vec()))
        .unwrap();
    assert_eq!(header.sequence, 1);

    expect_error(
        relay
            .post("/frames")
            .json(&json!({"frame_b64": "!!!"}))
            .send()
            .await
            .unwrap(),
        400,
        "bad_base64",
    )
    .await;
    let not_png = base64::engine::general_purpose::STANDARD.encode(b"hello");
    expect_error(
        relay
            .post("/frames")
            .json(&json!({"frame_b64": not_png}))
            .send()
            .await
            .unwrap(),
        400,
        "bad_png",
    )
    .await;
    expect_error(
        relay
            .post("/frames")
            .json(&json!({"nope": 1}))
            .send()
            .await
            .unwrap(),
        400,
        "malformed_json",
    )
    .await;

    let updated: Value = relay
        .patch("/pipeline")
        .json(&json!({"pipeline_config": {"pipeline": "streamdiffusion", "params": {"model_id": "stabilityai/sdxl-turbo", "prompt": "q"}}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(updated["updated"], true);
    assert_eq!(updated["params"]["prompt"], "q");

    let whep: Value = relay
        .get("/whep/status")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(whep["connected"], false);
    assert_eq!(whep["whep_url"], Value::Null);

    // A second start replaces the current stream.
    let again: Value = relay
        .post("/start")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(again["stream_id"], id.as_str());
    let list: Value = relay
        .get("/v1/streams")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["streams"].as_array().unwrap().len(), 1);

    let stopped: Value = relay
        .post("/stop")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stopped["running"], false);
    let list: Value = relay
        .get("/v1/streams")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(list["streams"].as_array().unwrap().is_empty());
    expect_error(
        relay
            .post("/start")
            .header("content-type", "application/json")
            .body("{bad")
            .send()
            .await
            .unwrap(),
        400,
        "malformed_json",
    )
    .await;
    relay.stop().await;
}

#[tokio::test]
async fn config_routes_validate_and_persist() {
    let relay = Relay::start().await;
    let config: Value = relay
        .get("/config")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        config,
        json!({"frame_rate": 24, "frame_width": 512, "frame_height": 512, "locked": false})
    );
    let set: Value = relay
        .post("/config")
        .json(&json!({"frame_rate": 30, "frame_width": 1280, "frame_height": 720}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(set["frame_width"], 1280);
    let v1: Value = relay
        .get("/v1/config")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v1, json!({"frame_rate": 30, "width": 1280, "height": 720}));
    for (method, path, body, code) in [
        (
            "POST",
            "/config",
            json!({"frame_rate": 0}),
            "invalid_settings",
        ),
        (
            "PUT",
            "/v1/config",
            json!({"width": 99999}),
            "invalid_settings",
        ),
        ("PUT", "/v1/config", json!({"fps": 3}), "invalid_body"),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = relay
            .request(method, path)
            .json(&body)
            .send()
            .await
            .unwrap();
        expect_error(r, 422, code).await;
    }
    let saved =
        std::fs::read_to_string(relay.state_dir.path().join("runtime_config.json")).unwrap();
    assert!(saved.contains("1280"));
    // New streams start with the saved settings.
    let stream = relay.default_stream().await;
    assert_eq!(
        stream["settings"],
        json!({"frame_rate": 30, "width": 1280, "height": 720})
    );
    relay.stop().await;
}
