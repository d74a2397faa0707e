//! The local backend's Daydream-shaped REST API, called directly like the cloud.

use crate::common;

use common::Relay;
use serde_json::{Value, json};

fn local(relay: &Relay, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    relay.local(method, path)
}

#[tokio::test]
async fn daydream_shapes_and_both_delete_forms() {
    let relay = Relay::start().await;
    let created = local(&relay, reqwest::Method::POST, "/v1/streams")
        .json(&json!({"pipeline": "streamdiffusion", "params": {"model_id": "stabilityai/sd-turbo"}, "name": "n"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let stream: Value = created.json().await.unwrap();
    let id = stream["id"].as_str().unwrap().to_owned();
    let key = stream["stream_key"].as_str().unwrap();
    assert!(id.starts_with("str_") && id.len() == 20, "{id}");
    assert!(key.starts_with("stk_"));
    assert_eq!(
        stream["whip_url"],
        relay.url(&format!("/local/live/video-to-video/{key}/whip"))
    );
    for field in [
        "output_playback_id",
        "created_at",
        "author",
        "gateway_host",
        "pipeline",
        "params",
    ] {
        assert!(!stream[field].is_null(), "{field} in {stream}");
    }

    let legacy = local(&relay, reqwest::Method::POST, "/v1/streams")
        .json(&json!({"pipeline_id": "pip_SD15", "pipeline_params": {"model_id": "Lykon/dreamshaper-8"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(legacy.status(), 201);
    let legacy: Value = legacy.json().await.unwrap();

    let list: Value = local(&relay, reqwest::Method::GET, "/v1/streams")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["success"], true);
    assert_eq!(list["data"].as_array().unwrap().len(), 2);

    let status: Value = local(
        &relay,
        reqwest::Method::GET,
        &format!("/v1/streams/{id}/status"),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(status["success"], true);
    assert_eq!(status["data"]["state"], "LOADING", "no media has flowed");
    assert_eq!(status["data"]["gateway_status"]["whep_url"], Value::Null);

    let patched: Value = local(&relay, reqwest::Method::PATCH, &format!("/v1/streams/{id}"))
        .json(&json!({"pipeline": "streamdiffusion", "params": {"model_id": "stabilityai/sd-turbo", "prompt": "new"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(patched["params"]["prompt"], "new");

    let by_query = local(
        &relay,
        reqwest::Method::DELETE,
        &format!("/v1/streams?id={id}"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(by_query.status(), 200);
    assert_eq!(
        by_query.json::<Value>().await.unwrap(),
        json!({"success": true, "data": {}})
    );
    let by_path = local(
        &relay,
        reqwest::Method::DELETE,
        &format!("/v1/streams/{}", legacy["id"].as_str().unwrap()),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(by_path.status(), 200);
    let gone = local(&relay, reqwest::Method::GET, &format!("/v1/streams/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    let body: Value = gone.json().await.unwrap();
    assert_eq!(body["code"], "STREAMS/NOT_FOUND");
    relay.stop().await;
}

#[tokio::test]
async fn errors_use_daydreams_envelope() {
    let relay = Relay::start().await;
    let no_key = relay
        .http
        .post(relay.url("/local/v1/streams"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.status(), 401);
    let invalid = local(&relay, reqwest::Method::POST, "/v1/streams")
        .json(&json!({"pipeline": "streamdiffusion", "params": {"model_id": "stabilityai/sdxl-turbo", "height": 100}}))
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), 400);
    let body: Value = invalid.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert_eq!(body["status"], 400);
    assert_eq!(body["details"][0]["path"], "params.height");
    let malformed = local(&relay, reqwest::Method::POST, "/v1/streams")
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let wrong_type = local(&relay, reqwest::Method::POST, "/v1/streams")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), 415);
    let other_pipeline = local(&relay, reqwest::Method::POST, "/v1/streams")
        .json(&json!({"pipeline": "nope", "params": {"model_id": "stabilityai/sd-turbo"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(other_pipeline.status(), 400);
    let no_id = local(&relay, reqwest::Method::DELETE, "/v1/streams")
        .send()
        .await
        .unwrap();
    assert_eq!(no_id.status(), 400);
    relay.stop().await;
}
