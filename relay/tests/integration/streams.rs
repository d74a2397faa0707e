//! `/v1/streams` over real HTTP against the local backend.

use crate::common;

use common::{Relay, expect_error};
use serde_json::{Value, json};

#[tokio::test]
async fn create_list_get_update_delete() {
    let relay = Relay::start().await;
    let stream = relay.default_stream().await;
    let id = stream["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("str_"), "{stream}");
    assert_eq!(stream["current"], true);
    assert_eq!(stream["state"], "waiting_for_publisher");
    assert_eq!(
        stream["settings"],
        json!({"frame_rate": 24, "width": 512, "height": 512})
    );
    assert_eq!(stream["whip_url"], format!("/v1/streams/{id}/whip"));
    assert_eq!(stream["whep_url"], Value::Null);
    assert_eq!(stream["remote"]["state"], "LOADING");
    assert_eq!(stream["pipeline_config"]["params"]["prompt"], "a");

    let list: Value = relay
        .get("/v1/streams")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["current"], id.as_str());
    assert_eq!(list["streams"].as_array().unwrap().len(), 1);

    let one: Value = relay
        .get(&format!("/v1/streams/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["id"], id.as_str());

    // Only the changed param (plus model_id) goes upstream.
    let updated: Value = relay
        .patch(&format!("/v1/streams/{id}"))
        .json(&json!({"pipeline_config": {"params": {"prompt": "b", "model_id": "stabilityai/sdxl-turbo"}}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(updated["pipeline_config"]["params"]["prompt"], "b");
    let journal = relay.journal().await;
    let patch = journal
        .iter()
        .rfind(|e| e["route"] == "update")
        .expect("a PATCH went upstream");
    assert_eq!(
        patch["body"],
        json!({"pipeline": "streamdiffusion", "params": {"prompt": "b", "model_id": "stabilityai/sdxl-turbo"}})
    );

    // An unchanged PATCH does not call upstream at all.
    let before = relay.journal().await.len();
    let r = relay
        .patch(&format!("/v1/streams/{id}"))
        .json(&json!({"params": {"prompt": "b"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let journal = relay.journal().await;
    assert!(
        journal[before..].iter().all(|e| e["route"] != "update"),
        "{journal:?}"
    );

    let deleted: Value = relay
        .delete(&format!("/v1/streams/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(deleted["deleted"], id.as_str());
    assert_eq!(deleted["remote_error"], Value::Null);
    // The remote stream is gone too.
    let r = relay
        .local(reqwest::Method::GET, &format!("/v1/streams/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    expect_error(
        relay
            .get(&format!("/v1/streams/{id}"))
            .send()
            .await
            .unwrap(),
        404,
        "stream_not_found",
    )
    .await;
    relay.stop().await;
}

#[tokio::test]
async fn multiple_streams_are_independent() {
    let relay = Relay::start().await;
    let a = relay.default_stream().await;
    let b = relay
        .create_stream(
            json!({"name": "b", "width": 640, "height": 480, "frame_rate": 30,
            "pipeline_config": {"params": {"model_id": "stabilityai/sd-turbo"}}}),
        )
        .await;
    assert_ne!(a["id"], b["id"]);
    assert_ne!(a["index"], b["index"]);
    assert_eq!(
        b["settings"],
        json!({"frame_rate": 30, "width": 640, "height": 480})
    );
    let list: Value = relay
        .get("/v1/streams")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["streams"].as_array().unwrap().len(), 2);
    assert_eq!(list["current"], b["id"]);
    relay
        .delete(&format!("/v1/streams/{}", b["id"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    let list: Value = relay
        .get("/v1/streams")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["current"], a["id"],
        "current falls back to the remaining stream"
    );
    relay.stop().await;
}

#[tokio::test]
async fn bad_requests_get_precise_errors() {
    let relay = Relay::start().await;
    let malformed = relay
        .post("/v1/streams")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect_error(malformed, 400, "malformed_json").await;

    let wrong_type = relay
        .post("/v1/streams")
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    expect_error(wrong_type, 415, "unsupported_media_type").await;

    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(2 << 20));
    let too_big = relay
        .post("/v1/streams")
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    expect_error(too_big, 413, "payload_too_large").await;

    let unknown_field = relay
        .post("/v1/streams")
        .json(&json!({"nmae": "typo"}))
        .send()
        .await
        .unwrap();
    expect_error(unknown_field, 422, "invalid_body").await;

    let no_model = relay
        .post("/v1/streams")
        .json(&json!({"pipeline_config": {"params": {"prompt": "x"}}}))
        .send()
        .await
        .unwrap();
    expect_error(no_model, 422, "invalid_params").await;

    // Invalid params are rejected upstream with the field named.
    let bad_width = relay
        .post("/v1/streams")
        .json(&json!({"pipeline_config": {"params": {"model_id": "stabilityai/sdxl-turbo", "width": 500}}}))
        .send()
        .await
        .unwrap();
    let body = expect_error(bad_width, 422, "invalid_params").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("params.width"),
        "{body}"
    );

    let bad_settings = relay
        .post("/v1/streams")
        .json(&json!({"frame_rate": 0}))
        .send()
        .await
        .unwrap();
    expect_error(bad_settings, 422, "invalid_settings").await;

    expect_error(
        relay.get("/v1/streams/str_nope").send().await.unwrap(),
        404,
        "stream_not_found",
    )
    .await;
    expect_error(
        relay
            .patch("/v1/streams/str_nope")
            .json(&json!({"params": {}}))
            .send()
            .await
            .unwrap(),
        404,
        "stream_not_found",
    )
    .await;
    expect_error(
        relay.delete("/v1/streams/str_nope").send().await.unwrap(),
        404,
        "stream_not_found",
    )
    .await;
    expect_error(
        relay.get("/v1/nothing-here").send().await.unwrap(),
        404,
        "route_not_found",
    )
    .await;

    let stream = relay.default_stream().await;
    let id = stream["id"].as_str().unwrap();
    let bad_patch = relay
        .patch(&format!("/v1/streams/{id}"))
        .json(&json!({"params": {"t_index_list": [30, 10]}}))
        .send()
        .await
        .unwrap();
    let body = expect_error(bad_patch, 422, "invalid_params").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("t_index_list"),
        "{body}"
    );
    // The rejected change was not applied.
    let one: Value = relay
        .get(&format!("/v1/streams/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["pipeline_config"]["params"].get("t_index_list"), None);
    relay.stop().await;
}

#[tokio::test]
async fn frames_need_a_publisher_and_exact_sizes() {
    let relay = Relay::start().await;
    let stream = relay.default_stream().await;
    let frames = format!("/v1/streams/{}/frames", stream["id"].as_str().unwrap());

    let no_size = relay
        .post(&frames)
        .header("content-type", "application/octet-stream")
        .body(vec![0u8; 12])
        .send()
        .await
        .unwrap();
    expect_error(no_size, 400, "missing_frame_size").await;
    let bad_format = relay
        .post_pixels(&frames, 2, 2, Some("bgr"), vec![0u8; 12])
        .await;
    expect_error(bad_format, 400, "bad_header").await;
    let zero = relay.post_pixels(&frames, 0, 2, None, vec![]).await;
    expect_error(zero, 400, "bad_frame_size").await;
    // The size the headers imply must not overflow before the dimensions are checked.
    for format in ["rgb8", "rgba8", "i420"] {
        let largest = relay
            .post_pixels(&frames, u32::MAX, u32::MAX, Some(format), vec![0u8; 12])
            .await;
        expect_error(largest, 400, "bad_frame_size").await;
    }
    let no_publisher = relay.post_pixels(&frames, 2, 2, None, vec![0u8; 12]).await;
    expect_error(no_publisher, 409, "no_publisher").await;

    let (_ws, _) = common::agent(&relay, true).await;
    let wrong_len = relay.post_pixels(&frames, 2, 2, None, vec![0u8; 11]).await;
    expect_error(wrong_len, 400, "wrong_frame_length").await;
    let too_long = relay.post_pixels(&frames, 2, 2, None, vec![0u8; 13]).await;
    expect_error(too_long, 400, "wrong_frame_length").await;
    let huge = relay
        .post_pixels(&frames, 8192, 8192, Some("rgba8"), vec![0u8; 16])
        .await;
    expect_error(huge, 413, "payload_too_large").await;
    let ok = relay.post_pixels(&frames, 2, 2, None, vec![7u8; 12]).await;
    assert_eq!(ok.status(), 202);
    let body: Value = ok.json().await.unwrap();
    assert_eq!(body["sequence"], 0);
    expect_error(
        relay
            .post_pixels("/v1/streams/str_nope/frames", 2, 2, None, vec![0u8; 12])
            .await,
        404,
        "stream_not_found",
    )
    .await;
    relay.stop().await;
}

#[tokio::test]
async fn output_without_frames_is_204_after_the_wait() {
    let relay = Relay::start().await;
    let stream = relay.default_stream().await;
    let id = stream["id"].as_str().unwrap();
    let r = relay
        .get(&format!("/v1/streams/{id}/output?after=0&wait_ms=50"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let bad = relay
        .get(&format!("/v1/streams/{id}/output?after=x"))
        .send()
        .await
        .unwrap();
    expect_error(bad, 400, "bad_query").await;
    let bad = relay
        .get(&format!("/v1/streams/{id}/output?format=bgr"))
        .send()
        .await
        .unwrap();
    expect_error(bad, 400, "bad_format").await;
    relay.stop().await;
}
