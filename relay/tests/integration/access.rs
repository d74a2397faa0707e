//! The threat model's rules (docs/ARCHITECTURE.md, "Threat model") over real HTTP: the key
//! bound to its URL, the local backend's own key, no stream keys in answers or events,
//! full-origin and content-type checks, and `/start` and `/stop` touching only their own stream.

use crate::common;

use std::time::Duration;

use common::{Relay, TOKEN, expect_error};
use rtc_relay::config::Secret;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

async fn credentials(relay: &Relay) -> Value {
    relay.get_json("/v1/credentials").await
}

async fn put_credentials(relay: &Relay, body: Value) -> reqwest::Response {
    relay
        .put("/v1/credentials")
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_new_api_url_needs_the_key_and_an_allowed_host() {
    let relay = Relay::start_with(|c| c.allow_api_hosts = vec!["staging.example".into()]).await;
    let r = put_credentials(&relay, json!({"api_key": "sk_bound"})).await;
    assert_eq!(r.status(), 200);
    // Without the key in the same request the stored key would follow the URL.
    let r = put_credentials(&relay, json!({"api_url": "https://staging.example"})).await;
    expect_error(r, 409, "api_key_required").await;
    assert_eq!(
        credentials(&relay).await["api_url"],
        "https://api.daydream.live"
    );
    // Not Daydream's host, not allowed: refused even with a key.
    let r = put_credentials(
        &relay,
        json!({"api_url": "https://other-host/v1", "api_key": "sk_other"}),
    )
    .await;
    let body = expect_error(r, 422, "invalid_api_url").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("DAYDREAM_ALLOW_API_HOST"),
        "{body}"
    );
    let r = put_credentials(
        &relay,
        json!({"api_url": "https://staging.example", "api_key": "sk_staging"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        credentials(&relay).await["api_url"],
        "https://staging.example"
    );
    // The same URL again is no change and needs no key; the local backend's URL is allowed.
    let r = put_credentials(&relay, json!({"api_url": "https://staging.example/"})).await;
    assert_eq!(r.status(), 200);
    let local = relay.url("/local");
    let r = put_credentials(&relay, json!({"api_url": local, "api_key": "sk_x"})).await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    relay.stop().await;
}

#[tokio::test]
async fn the_environment_wins_for_key_and_url() {
    let dir = tempfile::tempdir().unwrap();
    rtc_relay::state_files::write_json(
        &dir.path().join("credentials.json"),
        &json!({"api_key": "sk_file", "api_url": "https://staging.example"}),
    )
    .unwrap();
    let state_dir = dir.path().to_path_buf();
    let relay = Relay::start_with(move |c| {
        c.state_dir = Some(state_dir);
        c.allow_api_hosts = vec!["staging.example".into()];
        c.api_key = Some(Secret::new("sk_env"));
    })
    .await;
    let view = credentials(&relay).await;
    assert_eq!(view["source"], "env");
    // The stored URL belonged to the stored key; the environment key keeps its own URL.
    assert_eq!(view["api_url"], "https://api.daydream.live", "{view}");
    let r = put_credentials(&relay, json!({"api_key": "sk_new"})).await;
    expect_error(r, 409, "api_key_from_env").await;
    let r = put_credentials(&relay, json!({"api_url": "https://staging.example"})).await;
    expect_error(r, 409, "api_key_required").await;
    relay.stop().await;

    let dir = tempfile::tempdir().unwrap();
    rtc_relay::state_files::write_json(
        &dir.path().join("credentials.json"),
        &json!({"api_key": "sk_file", "api_url": "https://staging.example"}),
    )
    .unwrap();
    let state_dir = dir.path().to_path_buf();
    let relay = Relay::start_with(move |c| {
        c.state_dir = Some(state_dir);
        c.api_url = Some("https://env.example/v1/streams".into());
    })
    .await;
    let view = credentials(&relay).await;
    assert_eq!(view["source"], "file");
    assert_eq!(view["api_url"], "https://env.example", "{view}");
    let r = put_credentials(
        &relay,
        json!({"api_url": "https://api.daydream.live", "api_key": "sk_2"}),
    )
    .await;
    expect_error(r, 409, "api_url_from_env").await;
    relay.stop().await;
}

#[tokio::test]
async fn the_local_backend_takes_only_its_own_key() {
    let relay = Relay::start().await;
    for key in ["x", TOKEN, ""] {
        let r = relay
            .http
            .get(relay.url("/local/v1/streams"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "key {key:?}");
    }
    // The relay's own client holds the key: streams on the local backend still work.
    let stream = relay.default_stream().await;
    let r = relay
        .local(reqwest::Method::GET, "/v1/streams")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let list: Value = r.json().await.unwrap();
    assert_eq!(list["data"][0]["id"], stream["id"]);
    relay.stop().await;
}

fn assert_no_secrets(text: &str) {
    for secret in ["stk_", "/local/live/", "gateway_status\":{\"whep_url"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

#[tokio::test]
async fn no_stream_key_or_upstream_url_in_answers_or_events() {
    let relay = Relay::start().await;
    let mut events = relay.get("/v1/events").send().await.unwrap();
    let created = relay.default_stream().await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["whip_url"], format!("/v1/streams/{id}/whip"));
    assert_no_secrets(&created.to_string());
    assert_no_secrets(
        &relay
            .get_json(&format!("/v1/streams/{id}"))
            .await
            .to_string(),
    );
    assert_no_secrets(&relay.get_json("/v1/streams").await.to_string());
    let legacy = relay.get_json("/status").await;
    assert_eq!(legacy["whip_url"], format!("/v1/streams/{id}/whip"));
    assert_no_secrets(&legacy.to_string());

    // Read the event stream until it has carried this stream's object.
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !seen.contains(&format!("\"id\":\"{id}\"")) {
        let chunk = tokio::time::timeout_at(deadline, events.chunk())
            .await
            .expect("the stream's event in time")
            .unwrap()
            .expect("event stream open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert_no_secrets(&seen);
    relay.stop().await;
}

#[tokio::test]
async fn pages_on_other_ports_and_schemes_are_foreign() {
    let relay = Relay::start().await;
    let port = relay.addr.port();
    for origin in [
        format!("http://127.0.0.1:{}", port + 1),
        format!("http://localhost:{}", port + 1),
        format!("https://127.0.0.1:{port}"),
        "null".to_owned(),
    ] {
        for bearer in [false, true] {
            let mut request = relay
                .http
                .get(relay.url("/v1/streams"))
                .header("cookie", format!("rtc_token={TOKEN}"))
                .header("origin", &origin);
            if bearer {
                request = request.bearer_auth(TOKEN);
            }
            expect_error(request.send().await.unwrap(), 403, "forbidden").await;
        }
    }
    let own = relay
        .http
        .get(relay.url("/v1/streams"))
        .header("cookie", format!("rtc_token={TOKEN}"))
        .header("origin", format!("http://localhost:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200);

    // The agent socket: a page on another port would receive the user's frames.
    let socket = |origin: String| {
        let mut request = format!("ws://{}/v1/agent", relay.addr)
            .into_client_request()
            .unwrap();
        let headers = request.headers_mut();
        headers.insert("cookie", format!("rtc_token={TOKEN}").parse().unwrap());
        headers.insert("origin", origin.parse().unwrap());
        tokio_tungstenite::connect_async(request)
    };
    let refused = socket(format!("http://127.0.0.1:{}", port + 1)).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403);
        }
        other => panic!("foreign origin got a socket: {:?}", other.map(|_| ())),
    }
    assert!(socket(format!("http://127.0.0.1:{port}")).await.is_ok());
    relay.stop().await;
}

#[tokio::test]
async fn state_changes_need_a_preflighted_content_type() {
    let relay = Relay::start().await;
    let stream = relay.default_stream().await;
    for (path, content_type) in [
        ("/stop", Some("text/plain")),
        ("/stop", None),
        ("/start", Some("application/x-www-form-urlencoded")),
        ("/v1/streams", Some("text/plain")),
        ("/stop", Some("application/octet-stream")),
    ] {
        let mut request = relay.post(path).body("{}");
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        expect_error(request.send().await.unwrap(), 415, "unsupported_media_type").await;
    }
    // Nothing was deleted or created.
    let list = relay.get_json("/v1/streams").await;
    assert_eq!(list["streams"].as_array().unwrap().len(), 1);
    assert_eq!(list["streams"][0]["id"], stream["id"]);
    relay.stop().await;
}

async fn start(relay: &Relay, body: Value) -> reqwest::Response {
    relay.post("/start").json(&body).send().await.unwrap()
}

#[tokio::test]
async fn legacy_start_validates_first_and_replaces_only_its_own_stream() {
    let relay = Relay::start().await;
    let workflow = relay.default_stream().await;
    let first = start(&relay, json!({})).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    let ids = |list: &Value| -> Vec<String> {
        list["streams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let list = relay.get_json("/v1/streams").await;
    assert_eq!(ids(&list).len(), 2, "the workflow's stream stays: {list}");

    for (bad, code) in [
        (json!({"frame_width": 13}), "invalid_settings"),
        (
            json!({"pipeline_config": {"params": {"model_id": "no/such-model"}}}),
            "invalid_params",
        ),
    ] {
        expect_error(start(&relay, bad).await, 422, code).await;
    }
    let after = relay.get_json("/v1/streams").await;
    assert_eq!(ids(&after), ids(&list), "a refused start touches nothing");

    let second: Value = start(&relay, json!({})).await.json().await.unwrap();
    let now = ids(&relay.get_json("/v1/streams").await);
    assert!(now.contains(&workflow["id"].as_str().unwrap().to_owned()));
    assert!(!now.contains(&first["stream_id"].as_str().unwrap().to_owned()));
    assert!(now.contains(&second["stream_id"].as_str().unwrap().to_owned()));
    assert_eq!(now.len(), 2);
    relay.stop().await;
}

async fn legacy_stop(relay: &Relay) -> reqwest::Response {
    relay
        .post("/stop")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn legacy_stop_ends_only_the_stream_start_made() {
    let relay = Relay::start().await;
    let workflow = relay.default_stream().await;
    let workflow_id = workflow["id"].as_str().unwrap().to_owned();
    let stream_ids = || async {
        relay.get_json("/v1/streams").await["streams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };

    // Only a workflow's stream runs: /stop refuses and names the route that ends it.
    let refused = expect_error(legacy_stop(&relay).await, 409, "not_started_here").await;
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains(&workflow_id), "{message}");
    assert_eq!(stream_ids().await, vec![workflow_id.clone()]);

    let started: Value = start(&relay, json!({})).await.json().await.unwrap();
    let stopped = legacy_stop(&relay).await;
    assert_eq!(stopped.status(), 200);
    let stopped: Value = stopped.json().await.unwrap();
    assert_eq!(stopped["running"], false);
    let left = stream_ids().await;
    assert_eq!(left, vec![workflow_id.clone()], "{started}");

    // A second /stop finds no stream of its own again.
    expect_error(legacy_stop(&relay).await, 409, "not_started_here").await;
    let deleted = relay
        .delete(&format!("/v1/streams/{workflow_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    let idle = legacy_stop(&relay).await;
    assert_eq!(idle.status(), 200);
    relay.stop().await;
}
