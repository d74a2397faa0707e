//! Nothing billable is left behind: creates whose caller went away, creates in flight at
//! shutdown and streams left by a crash are all deleted upstream; creates are not repeated
//! where the stream may exist. Uses a "succeed, then fail" fault of the local backend.

use crate::common;

use std::time::{Duration, Instant};

use common::{Relay, expect_error};
use rtc_relay::config::{Backend, Secret};
use serde_json::{Value, json};

fn body() -> Value {
    json!({"name": "billable",
        "pipeline_config": {"params": {"model_id": "stabilityai/sdxl-turbo", "prompt": "a"}}})
}

/// Polls `check` until it returns `Some`, failing after `within`.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    within: Duration,
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what} within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Ids the local backend was asked to delete.
async fn deleted_ids(upstream: &Relay) -> Vec<String> {
    upstream
        .calls("delete")
        .await
        .iter()
        .filter_map(|c| c["stream_id"].as_str().map(str::to_owned))
        .collect()
}

/// A relay on the Daydream backend whose "Daydream" is `upstream`'s local backend, so its
/// streams are billable ones: recorded in the state folder and deleted after a crash.
fn billed_by(upstream: &Relay) -> impl FnOnce(&mut rtc_relay::config::Config) {
    let api_url = upstream.url("/local");
    move |config| {
        config.backend = Some(Backend::Daydream);
        config.api_url = Some(api_url);
        // The upstream relay's local backend takes only its own key.
        config.api_key = Some(Secret::new(common::LOCAL_KEY));
    }
}

#[tokio::test]
async fn a_create_whose_caller_went_away_is_deleted_upstream() {
    let relay = Relay::start().await;
    // The backend creates the stream, then takes 1.5 s to answer; the caller gives up first.
    relay
        .set_faults(json!([{"route": "create", "stall_ms": 1500, "then": true}]))
        .await;
    let gave_up = relay
        .post("/v1/streams")
        .timeout(Duration::from_millis(300))
        .json(&body())
        .send()
        .await;
    assert!(gave_up.is_err_and(|e| e.is_timeout()));
    let deleted = eventually(Duration::from_secs(10), "the orphan is deleted", || async {
        let deleted = deleted_ids(&relay).await;
        (!deleted.is_empty()).then_some(deleted)
    })
    .await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(relay.calls("create").await.len(), 1);
    let listed = relay.get_json("/v1/streams").await;
    assert_eq!(listed["streams"], json!([]), "never registered");
    relay.stop().await;
}

#[tokio::test]
async fn a_create_answered_500_after_it_happened_is_not_repeated() {
    let relay = Relay::start().await;
    relay
        .set_faults(json!([{"route": "create", "status": 500, "then": true}]))
        .await;
    let r = relay
        .post("/v1/streams")
        .json(&body())
        .send()
        .await
        .unwrap();
    expect_error(r, 503, "daydream_unavailable").await;
    assert_eq!(relay.calls("create").await.len(), 1, "one create, one bill");
    relay.stop().await;
}

#[tokio::test]
async fn a_create_answered_502_or_504_after_it_happened_is_not_repeated() {
    let relay = Relay::start().await;
    for status in [502, 504] {
        let before = relay.calls("create").await.len();
        relay
            .set_faults(json!([{"route": "create", "status": status, "then": true}]))
            .await;
        let r = relay
            .post("/v1/streams")
            .json(&body())
            .send()
            .await
            .unwrap();
        expect_error(r, 503, "daydream_unavailable").await;
        let creates = relay.calls("create").await.len() - before;
        assert_eq!(creates, 1, "one create after a {status}, one bill");
    }
    let listed = relay.get_json("/v1/streams").await;
    assert_eq!(listed["streams"], json!([]), "nothing registered");
    relay.stop().await;
}

#[tokio::test]
async fn creates_are_refused_once_shutdown_starts_and_in_flight_ones_are_deleted() {
    let upstream = Relay::start().await;
    let relay = Relay::start_with(|config| {
        billed_by(&upstream)(config);
        config.shutdown_grace_ms = 5_000;
    })
    .await;
    let existing = relay.create_stream(body()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // One create is under way upstream when shutdown starts; deletes are slow.
    upstream
        .set_faults(json!([
            {"route": "create", "stall_ms": 800, "then": true},
            {"route": "delete", "stall_ms": 600, "count": 2},
        ]))
        .await;
    let in_flight = tokio::spawn({
        let request = relay.post("/v1/streams").json(&body());
        async move { request.send().await }
    });
    eventually(
        Duration::from_secs(5),
        "the create reaches upstream",
        || async { (upstream.calls("create").await.len() == 2).then_some(()) },
    )
    .await;
    let (http, streams_url) = (relay.http.clone(), relay.url("/v1/streams"));
    let existing_url = relay.url(&format!("/v1/streams/{existing}"));
    let stopped = tokio::spawn(relay.stop());
    eventually(
        Duration::from_secs(5),
        "shutdown starts deleting",
        || async {
            let r = http
                .get(&existing_url)
                .bearer_auth(common::TOKEN)
                .send()
                .await
                .ok()?;
            let stream: Value = r.json().await.ok()?;
            (stream["state"] == "stopping").then_some(())
        },
    )
    .await;
    let refused = http
        .post(&streams_url)
        .bearer_auth(common::TOKEN)
        .json(&body())
        .send()
        .await
        .unwrap();
    expect_error(refused, 503, "unavailable").await;

    // The create that landed during shutdown: its caller hears so and the stream is gone.
    let answer = in_flight.await.unwrap().unwrap();
    expect_error(answer, 503, "unavailable").await;
    stopped.await.unwrap();
    assert_eq!(
        upstream.calls("create").await.len(),
        2,
        "no create after stop"
    );
    let deleted = deleted_ids(&upstream).await;
    assert_eq!(deleted.len(), 2, "{deleted:?}");
    assert!(deleted.contains(&existing));
    upstream.stop().await;
}

#[tokio::test]
async fn remote_streams_left_by_a_crash_are_deleted_on_the_next_start() {
    let upstream = Relay::start().await;
    let relay = Relay::start_with(billed_by(&upstream)).await;
    let stream = relay.create_stream(body()).await;
    let id = stream["id"].as_str().unwrap().to_owned();
    let ledger = relay.state_dir.path().join("remote_streams.json");
    let recorded: Value = serde_json::from_slice(&std::fs::read(&ledger).unwrap()).unwrap();
    assert_eq!(recorded[0]["id"], id.as_str());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&ledger).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let state_dir = relay.crash().await;
    assert!(
        deleted_ids(&upstream).await.is_empty(),
        "a crash deletes nothing"
    );
    let restarted = Relay::start_in(state_dir, billed_by(&upstream)).await;
    eventually(
        Duration::from_secs(10),
        "the leftover is deleted",
        || async { deleted_ids(&upstream).await.contains(&id).then_some(()) },
    )
    .await;
    eventually(
        Duration::from_secs(5),
        "the record is struck off",
        || async {
            let recorded: Value = serde_json::from_slice(&std::fs::read(&ledger).ok()?).ok()?;
            (recorded == json!([])).then_some(())
        },
    )
    .await;
    restarted.stop().await;
    upstream.stop().await;
}

#[tokio::test]
async fn a_deleted_stream_is_struck_off_and_its_rest_delete_does_not_wait_for_media() {
    let upstream = Relay::start().await;
    let relay = Relay::start_with(billed_by(&upstream)).await;
    let id = relay.create_stream(body()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = relay
        .delete(&format!("/v1/streams/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["remote_error"], Value::Null);
    assert_eq!(deleted_ids(&upstream).await, vec![id]);
    let ledger = relay.state_dir.path().join("remote_streams.json");
    let recorded: Value = serde_json::from_slice(&std::fs::read(&ledger).unwrap()).unwrap();
    assert_eq!(recorded, json!([]));
    relay.stop().await;
    upstream.stop().await;
}
