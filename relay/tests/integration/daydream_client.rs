//! The Daydream client against the local backend over real HTTP, with injected faults.

use crate::common;

use std::time::Duration;

use common::{Relay, expect_error};
use rtc_relay::config::Secret;
use rtc_relay::daydream::{DaydreamClient, DaydreamError, RetryPolicy};
use serde_json::{Value, json};

fn client(relay: &Relay, key: &str, timeout: Duration) -> DaydreamClient {
    DaydreamClient::new(
        &relay.url("/local"),
        Secret::new(key),
        timeout,
        RetryPolicy {
            attempts: 4,
            base: Duration::from_millis(5),
            cap: Duration::from_millis(20),
        },
        None,
    )
    .unwrap()
}

fn params() -> Value {
    json!({"model_id": "stabilityai/sdxl-turbo", "prompt": "x"})
}

async fn calls(relay: &Relay, route: &str) -> Vec<Value> {
    relay
        .journal()
        .await
        .into_iter()
        .filter(|e| e["route"] == route)
        .collect()
}

#[tokio::test]
async fn warm_up_errors_are_retried_until_success() {
    let relay = Relay::start().await;
    let c = client(&relay, common::LOCAL_KEY, Duration::from_secs(2));

    relay
        .set_faults(json!([{"route": "create", "status": 503, "count": 2, "retry_after": 0}]))
        .await;
    let stream = c
        .create_stream("n", "streamdiffusion", &params())
        .await
        .unwrap();
    assert!(stream.id.starts_with("str_"));
    assert!(stream.stream_key.as_deref().unwrap().starts_with("stk_"));
    let creates = calls(&relay, "create").await;
    assert_eq!(creates.len(), 3);
    assert_eq!(creates.iter().filter(|e| e["faulted"] == true).count(), 2);

    relay
        .set_faults(json!([
            {"route": "update", "status": 404, "count": 1},
            {"route": "update", "status": 409, "count": 1},
            {"route": "update", "status": 429, "count": 1, "retry_after": 1},
        ]))
        .await;
    let mut changed = serde_json::Map::new();
    changed.insert("prompt".into(), json!("y"));
    let updated = c
        .update_stream(
            &stream.id,
            "streamdiffusion",
            "stabilityai/sdxl-turbo",
            &changed,
        )
        .await
        .unwrap();
    assert_eq!(updated.params.unwrap()["prompt"], "y");
    assert_eq!(calls(&relay, "update").await.len(), 4);

    relay
        .set_faults(json!([{"route": "get", "status": 500, "count": 3}]))
        .await;
    assert_eq!(c.get_stream(&stream.id).await.unwrap().id, stream.id);

    relay
        .set_faults(json!([{"route": "delete", "status": 502, "count": 1}]))
        .await;
    c.delete_stream(&stream.id).await.unwrap();
    // Deleting again is not an error: the stream is gone either way.
    c.delete_stream(&stream.id).await.unwrap();
    relay.stop().await;
}

#[tokio::test]
async fn persistent_errors_become_typed_errors() {
    let relay = Relay::start().await;
    let c = client(&relay, common::LOCAL_KEY, Duration::from_secs(2));

    relay
        .set_faults(json!([{"route": "create", "status": 429, "count": 10}]))
        .await;
    let e = c
        .create_stream("n", "streamdiffusion", &params())
        .await
        .unwrap_err();
    assert!(matches!(e, DaydreamError::RateLimited(_)), "{e}");
    assert!(e.to_string().contains("quota"), "{e}");
    assert_eq!(calls(&relay, "create").await.len(), 4, "bounded attempts");

    relay
        .set_faults(json!([{"route": "create", "status": 500, "count": 10}]))
        .await;
    let e = c
        .create_stream("n", "streamdiffusion", &params())
        .await
        .unwrap_err();
    assert!(
        matches!(e, DaydreamError::Unavailable { status: 500, .. }),
        "{e}"
    );
    // After a 500 (or 502, 504, or a 503 without `Retry-After`) the stream may exist: a
    // second create could bill a second stream, so none is sent.
    for status in [500, 502, 503, 504] {
        relay
            .set_faults(json!([{"route": "create", "status": status, "count": 10}]))
            .await;
        let before = calls(&relay, "create").await.len();
        c.create_stream("n", "streamdiffusion", &params())
            .await
            .unwrap_err();
        assert_eq!(
            calls(&relay, "create").await.len(),
            before + 1,
            "create retried after {status}"
        );
    }

    // A 404 on create is not warm-up; it is not retried.
    relay
        .set_faults(json!([{"route": "create", "status": 404, "count": 1}]))
        .await;
    let before = calls(&relay, "create").await.len();
    let e = c
        .create_stream("n", "streamdiffusion", &params())
        .await
        .unwrap_err();
    assert!(matches!(e, DaydreamError::NotFound(_)), "{e}");
    assert_eq!(calls(&relay, "create").await.len(), before + 1);

    let e = c
        .create_stream(
            "n",
            "streamdiffusion",
            &json!({"model_id": "stabilityai/sd-turbo", "ip_adapter": {"enabled": true}}),
        )
        .await
        .unwrap_err();
    match &e {
        DaydreamError::InvalidParams { field, .. } => {
            assert_eq!(field.as_deref(), Some("params.ip_adapter.enabled"));
        }
        other => panic!("{other}"),
    }

    let e = c.get_stream("str_missing").await.unwrap_err();
    assert!(matches!(e, DaydreamError::NotFound(_)), "{e}");

    let bad_key = client(&relay, "", Duration::from_secs(2));
    let e = bad_key
        .create_stream("n", "streamdiffusion", &params())
        .await
        .unwrap_err();
    assert!(matches!(e, DaydreamError::Unauthorized), "{e}");
    assert!(e.to_string().contains("API key"), "{e}");
    relay.stop().await;
}

#[tokio::test]
async fn timeouts_are_retried_only_when_safe() {
    let relay = Relay::start().await;
    let c = client(&relay, common::LOCAL_KEY, Duration::from_millis(300));
    let stream = c
        .create_stream("n", "streamdiffusion", &params())
        .await
        .unwrap();

    relay
        .set_faults(json!([{"route": "get", "stall_ms": 2000, "count": 1}]))
        .await;
    assert_eq!(c.get_stream(&stream.id).await.unwrap().id, stream.id);

    // A create that timed out may have happened; it is not sent again.
    relay
        .set_faults(json!([{"route": "create", "stall_ms": 2000, "count": 1}]))
        .await;
    let before = calls(&relay, "create").await.len();
    let e = c
        .create_stream("n", "streamdiffusion", &params())
        .await
        .unwrap_err();
    assert!(matches!(e, DaydreamError::Timeout(_)), "{e}");
    assert_eq!(calls(&relay, "create").await.len(), before + 1);

    relay
        .set_faults(json!([{"route": "status", "stall_ms": 2000, "count": 1}]))
        .await;
    let e = c.stream_status(&stream.id).await.unwrap_err().error;
    assert!(matches!(e, DaydreamError::Timeout(_)), "{e}");
    let status = c.stream_status(&stream.id).await.unwrap();
    assert_eq!(status.state, "LOADING");
    assert_eq!(status.whep_url, None);
    relay.stop().await;
}

#[tokio::test]
async fn a_dead_upstream_is_a_clear_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let c = DaydreamClient::new(
        &format!("http://{addr}"),
        Secret::new("secret-key-xyz"),
        Duration::from_millis(500),
        RetryPolicy {
            attempts: 2,
            base: Duration::from_millis(5),
            cap: Duration::from_millis(5),
        },
        None,
    )
    .unwrap();
    let e = c
        .create_stream("n", "streamdiffusion", &params())
        .await
        .unwrap_err();
    assert!(matches!(e, DaydreamError::Network(_)), "{e}");
    assert!(e.to_string().contains("cannot reach"), "{e}");
    assert!(!format!("{e} {e:?}").contains("secret-key-xyz"));
}

#[tokio::test]
async fn relay_api_maps_upstream_failures_to_actionable_errors() {
    let relay = Relay::start().await;
    relay
        .set_faults(json!([{"route": "create", "status": 503, "count": 2, "retry_after": 0}]))
        .await;
    relay.default_stream().await;

    // Upstream failures that outlast the retries become errors a user can act on.
    for (upstream, count, status, code) in [
        (500, 50, 503, "daydream_unavailable"),
        (429, 50, 429, "quota_exceeded"),
        (401, 1, 502, "api_key_rejected"),
    ] {
        relay
            .set_faults(json!([{"route": "create", "status": upstream, "count": count}]))
            .await;
        let r = relay
            .post("/v1/streams")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        expect_error(r, status, code).await;
    }
    relay.set_faults(json!([])).await;

    let bad = relay
        .put("/local/_faults")
        .json(&json!({"rules": [{"route": "create", "status": 200}]}))
        .send()
        .await
        .unwrap();
    expect_error(bad, 422, "invalid_fault").await;
    relay.stop().await;
}

#[tokio::test]
async fn faults_from_the_environment_setting_apply_at_start() {
    let relay = Relay::start_with(|c| c.local_faults = Some("create:429x1".into())).await;
    relay.default_stream().await;
    let creates = calls(&relay, "create").await;
    assert_eq!(creates.len(), 2);
    assert_eq!(creates[0]["faulted"], true);
    relay.stop().await;
}

#[tokio::test]
async fn status_is_polled_in_the_background_once_per_interval() {
    let relay = Relay::start().await;
    let stream = relay.default_stream().await;
    let id = stream["id"].as_str().unwrap();
    // The poller runs on its own...
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while calls(&relay, "status").await.len() < 2 {
        assert!(std::time::Instant::now() < deadline, "no background polls");
        tokio::task::yield_now().await;
    }
    // ...and reads never call upstream: 50 reads cost no more than the poller's own pace.
    let before = calls(&relay, "status").await.len();
    let started = std::time::Instant::now();
    for _ in 0..50 {
        relay
            .get(&format!("/v1/streams/{id}"))
            .send()
            .await
            .unwrap();
    }
    let polls = calls(&relay, "status").await.len() - before;
    let paced = usize::try_from(started.elapsed().as_millis() / 100).unwrap() + 2;
    assert!(
        polls <= paced,
        "{polls} polls during 50 reads (pace allows {paced})"
    );
    let one: Value = relay
        .get(&format!("/v1/streams/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["remote"]["state"], "LOADING");
    assert_eq!(one["remote"]["status"]["stream_id"], id);
    relay.stop().await;
}
