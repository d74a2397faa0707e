//! `GET/PUT /v1/credentials`: the key goes into a 0600 file and never comes back out.

use crate::common;

use common::{Relay, expect_error};
use serde_json::{Value, json};

#[tokio::test]
async fn key_is_stored_privately_and_switches_the_backend() {
    let relay = Relay::start().await;
    let initial: Value = relay
        .get("/v1/credentials")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(initial["has_api_key"], false);
    assert_eq!(initial["source"], "none");
    assert_eq!(initial["backend"], "local");

    let set: Value = relay
        .put("/v1/credentials")
        .json(&json!({"api_key": "sk_live_hidden", "api_url": "https://api.daydream.live/"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        set,
        json!({"has_api_key": true, "source": "file", "api_url": "https://api.daydream.live",
            "backend": "daydream", "backend_source": "key"})
    );
    let path = relay.state_dir.path().join("credentials.json");
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("sk_live_hidden")
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let health: Value = relay
        .http
        .get(relay.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["backend"], "daydream");

    expect_error(
        relay
            .put("/v1/credentials")
            .json(&json!({"api_url": "http://example.com"}))
            .send()
            .await
            .unwrap(),
        422,
        "invalid_api_url",
    )
    .await;
    expect_error(
        relay
            .put("/v1/credentials")
            .json(&json!({"api_key": "a b"}))
            .send()
            .await
            .unwrap(),
        422,
        "invalid_api_key",
    )
    .await;
    expect_error(
        relay
            .put("/v1/credentials")
            .json(&json!({"key": "x"}))
            .send()
            .await
            .unwrap(),
        422,
        "invalid_body",
    )
    .await;

    let cleared: Value = relay
        .put("/v1/credentials")
        .json(&json!({"api_key": null}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cleared["has_api_key"], false);
    assert_eq!(cleared["backend"], "local");
    assert!(
        !std::fs::read_to_string(&path)
            .unwrap()
            .contains("sk_live_hidden")
    );
    relay.stop().await;
}

#[tokio::test]
async fn a_stored_key_is_loaded_at_start() {
    let dir = tempfile::tempdir().unwrap();
    rtc_relay::state_files::write_json(
        &dir.path().join("credentials.json"),
        &json!({"api_key": "sk_saved", "api_url": "http://127.0.0.1:9"}),
    )
    .unwrap();
    let state_dir = dir.path().to_path_buf();
    let relay = Relay::start_with(move |c| {
        c.state_dir = Some(state_dir);
        c.allow_api_hosts = vec!["127.0.0.1:9".into()];
    })
    .await;
    let creds: Value = relay
        .get("/v1/credentials")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(creds["source"], "file");
    assert_eq!(creds["backend"], "daydream");
    // The configured service is down: the user gets an actionable error, not a hang.
    let r = relay
        .post("/v1/streams")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    expect_error(r, 503, "daydream_unreachable").await;
    relay.stop().await;
}

#[tokio::test]
async fn daydream_backend_without_a_key_says_what_to_do() {
    let relay = Relay::start_with(|c| c.backend = Some(rtc_relay::config::Backend::Daydream)).await;
    let r = relay
        .post("/v1/streams")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let body = expect_error(r, 409, "no_api_key").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("PUT /v1/credentials")
    );
    relay.stop().await;
}
