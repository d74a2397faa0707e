//! Choosing the backend at runtime with `PUT /v1/credentials {"backend": …}`: new streams
//! use it, running streams keep theirs, the choice survives a restart, and impossible choices
//! are refused.

use crate::common;

use common::{Relay, expect_error};
use serde_json::{Value, json};

async fn credentials(relay: &Relay) -> Value {
    relay.get_json("/v1/credentials").await
}

async fn put_credentials(relay: &Relay, body: Value) -> Value {
    let response = relay
        .put("/v1/credentials")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    response.json().await.unwrap()
}

async fn health_backend(relay: &Relay) -> Value {
    relay.get_json("/healthz").await["backend"].clone()
}

async fn stream(relay: &Relay, id: &Value) -> Value {
    relay
        .get_json(&format!("/v1/streams/{}", id.as_str().unwrap()))
        .await
}

#[tokio::test]
async fn new_streams_use_the_chosen_backend_and_running_ones_keep_theirs() {
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().to_path_buf();
    let relay = Relay::start_with(move |c| c.state_dir = Some(state_dir)).await;
    let initial = credentials(&relay).await;
    assert_eq!(initial["backend"], "local");
    assert_eq!(initial["backend_source"], "key");

    let on_local = relay.default_stream().await;
    assert_eq!(on_local["backend"], "local");

    let refused = relay
        .put("/v1/credentials")
        .json(&json!({"backend": "daydream"}))
        .send()
        .await
        .unwrap();
    let body = expect_error(refused, 409, "no_api_key").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("key"));
    assert_eq!(credentials(&relay).await["backend"], "local");

    // "Daydream" here is the relay's own stand-in reached over HTTP like the cloud, so a
    // stream really is created through the Daydream client with the stored key.
    let cloud = relay.url("/local");
    let with_key = put_credentials(
        &relay,
        json!({"api_key": "sk_switch_test", "api_url": cloud, "backend": "local"}),
    )
    .await;
    assert_eq!(with_key["has_api_key"], true);
    assert_eq!(with_key["backend"], "local", "{with_key}");
    assert_eq!(with_key["backend_source"], "setting");
    assert_eq!(relay.default_stream().await["backend"], "local");

    let switched = put_credentials(&relay, json!({"backend": "daydream"})).await;
    assert_eq!(switched["backend"], "daydream");
    assert_eq!(switched["backend_source"], "setting");
    assert_eq!(health_backend(&relay).await, "daydream");
    let on_daydream = relay.default_stream().await;
    assert_eq!(on_daydream["backend"], "daydream");
    assert_eq!(stream(&relay, &on_local["id"]).await["backend"], "local");

    // The running local stream is still served by the client it was created with.
    let patched = relay
        .patch(&format!("/v1/streams/{}", on_local["id"].as_str().unwrap()))
        .json(&json!({"params": {"prompt": "still local"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200, "{:?}", patched.text().await);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(patched["backend"], "local");
    assert_eq!(
        patched["pipeline_config"]["params"]["prompt"],
        "still local"
    );

    let stored = std::fs::read_to_string(state.path().join("credentials.json")).unwrap();
    let stored: Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(stored["backend"], "daydream");

    expect_error(
        relay
            .put("/v1/credentials")
            .json(&json!({"backend": "cloud"}))
            .send()
            .await
            .unwrap(),
        422,
        "invalid_body",
    )
    .await;
    relay.stop().await;

    let state_dir = state.path().to_path_buf();
    let restarted = Relay::start_with(move |c| c.state_dir = Some(state_dir)).await;
    let reloaded = credentials(&restarted).await;
    assert_eq!(reloaded["backend"], "daydream");
    assert_eq!(reloaded["backend_source"], "setting");
    assert_eq!(health_backend(&restarted).await, "daydream");

    let following = put_credentials(&restarted, json!({"backend": null})).await;
    assert_eq!(following["backend"], "daydream", "a key is set");
    assert_eq!(following["backend_source"], "key");
    restarted.stop().await;
}

#[tokio::test]
async fn removing_the_key_leaves_the_daydream_choice() {
    let relay = Relay::start().await;
    let chosen = put_credentials(
        &relay,
        json!({"api_key": "sk_switch_test", "backend": "daydream"}),
    )
    .await;
    assert_eq!(chosen["backend"], "daydream");
    assert_eq!(chosen["backend_source"], "setting");

    // Both at once cannot work: nothing changes.
    expect_error(
        relay
            .put("/v1/credentials")
            .json(&json!({"api_key": null, "backend": "daydream"}))
            .send()
            .await
            .unwrap(),
        409,
        "no_api_key",
    )
    .await;
    assert_eq!(credentials(&relay).await["has_api_key"], true);

    let removed = put_credentials(&relay, json!({"api_key": null})).await;
    assert_eq!(removed["has_api_key"], false);
    assert_eq!(removed["backend"], "local");
    assert_eq!(removed["backend_source"], "key");
    assert_eq!(health_backend(&relay).await, "local");
    relay.stop().await;
}

#[tokio::test]
async fn rtc_backend_at_start_cannot_be_switched_at_runtime() {
    let relay = Relay::start_with(|c| c.backend = Some(rtc_relay::config::Backend::Local)).await;
    assert_eq!(credentials(&relay).await["backend_source"], "env");
    let refused = relay
        .put("/v1/credentials")
        .json(&json!({"api_key": "sk_switch_test", "backend": "daydream"}))
        .send()
        .await
        .unwrap();
    let body = expect_error(refused, 409, "backend_fixed").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("RTC_BACKEND=local")
    );
    let unchanged = credentials(&relay).await;
    assert_eq!(
        unchanged["has_api_key"], false,
        "a refused request changes nothing"
    );
    assert_eq!(unchanged["backend"], "local");
    relay.stop().await;
}
