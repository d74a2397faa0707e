//! The status poller backs off while Daydream fails, honours `Retry-After`, and stops with
//! a clear error when the stream is gone or the key is rejected.

use crate::common;

use std::time::{Duration, Instant};

use common::Relay;
use serde_json::{Value, json};

async fn wait_for_stream(
    relay: &Relay,
    id: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stream = relay.get_json(&format!("/v1/streams/{id}")).await;
        if done(&stream) {
            return stream;
        }
        assert!(Instant::now() < deadline, "{what}: {stream}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn faulted_polls(relay: &Relay) -> usize {
    relay
        .calls("status")
        .await
        .iter()
        .filter(|c| c["faulted"] == true)
        .count()
}

#[tokio::test]
async fn polls_back_off_and_wait_as_long_as_retry_after_asks() {
    // Polls every 100 ms while all is well.
    let relay = Relay::start().await;
    let id = relay.default_stream().await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    relay
        .set_faults(json!([{"route": "status", "status": 429, "count": 2, "retry_after": 1}]))
        .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while faulted_polls(&relay).await < 1 {
        assert!(Instant::now() < deadline, "no poll hit the fault");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let first = Instant::now();
    while faulted_polls(&relay).await < 2 {
        assert!(Instant::now() < deadline, "no second poll");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let gap = first.elapsed();
    assert!(
        gap >= Duration::from_millis(900),
        "polled again after {gap:?}"
    );
    // Once Daydream answers again the stream is fine: rate limits are not terminal.
    let before = relay.calls("status").await.len();
    let deadline = Instant::now() + Duration::from_secs(5);
    while relay.calls("status").await.len() < before + 2 {
        assert!(Instant::now() < deadline, "polling did not resume");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stream = relay.get_json(&format!("/v1/streams/{id}")).await;
    assert_eq!(stream["error"], Value::Null, "{stream}");
    relay.stop().await;
}

#[tokio::test]
async fn server_errors_on_polls_are_retried_and_never_terminal() {
    let relay = Relay::start().await;
    let id = relay.default_stream().await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    relay
        .set_faults(json!([
            {"route": "status", "status": 500, "count": 1},
            {"route": "status", "status": 502, "count": 1},
            {"route": "status", "status": 503, "count": 1},
        ]))
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while faulted_polls(&relay).await < 3 {
        assert!(Instant::now() < deadline, "the faults were not all polled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after_faults = relay.calls("status").await.len();
    while relay.calls("status").await.len() < after_faults + 2 {
        assert!(Instant::now() < deadline, "polling did not resume");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stream = relay.get_json(&format!("/v1/streams/{id}")).await;
    assert_eq!(stream["error"], Value::Null, "{stream}");
    assert_ne!(stream["state"], "error", "{stream}");
    relay.stop().await;
}

#[tokio::test]
async fn repeated_404s_end_in_remote_stream_gone_and_polling_stops() {
    let relay = Relay::start().await;
    let id = relay.default_stream().await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    relay
        .set_faults(json!([{"route": "status", "status": 404, "count": 50}]))
        .await;
    let stream = wait_for_stream(&relay, &id, "the stream is marked gone", |s| {
        s["state"] == "error"
    })
    .await;
    let error = stream["error"].as_str().unwrap();
    assert!(error.starts_with("remote_stream_gone"), "{error}");
    assert!(error.contains("create a new one"), "{error}");
    // Three 404s in a row, then no more polls: the rule has 47 calls left, and keeps them
    // through ten poll intervals.
    let left = || async {
        relay.get_json("/local/_faults").await["rules"][0]["count"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(left().await, 47);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(left().await, 47);
    relay.stop().await;
}

#[tokio::test]
async fn a_rejected_key_is_terminal_and_reported_as_an_event() {
    let relay = Relay::start().await;
    let id = relay.default_stream().await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let events = relay.get("/v1/events").send().await.unwrap();
    assert_eq!(events.status(), 200);
    relay
        .set_faults(json!([{"route": "status", "status": 401, "count": 5}]))
        .await;
    let stream = wait_for_stream(&relay, &id, "the key is reported rejected", |s| {
        s["state"] == "error"
    })
    .await;
    let error = stream["error"].as_str().unwrap();
    assert!(error.starts_with("api_key_rejected"), "{error}");
    assert_eq!(faulted_polls(&relay).await, 1, "not polled again");
    // The sidebar hears it as a `log` event at level error.
    let mut body = Box::pin(events.bytes_stream());
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !seen.contains("\"level\":\"error\"") {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, futures_util::StreamExt::next(&mut body))
            .await
            .expect("an error log event in time")
            .expect("event stream open")
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    relay.stop().await;
}

#[tokio::test]
async fn a_failing_poll_is_logged_at_warn_once_per_change() {
    let mut relay = common::RelayProcess::spawn(&[
        ("RTC_STATUS_INTERVAL_MS", "100"),
        ("RTC_LOCAL_FAULTS", "status:429x3"),
    ])
    .await;
    let http = reqwest::Client::new();
    let created = http
        .post(relay.url("/v1/streams"))
        .bearer_auth(common::TOKEN)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    // Three failed polls in a row, then one that succeeds.
    let mut warnings = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let line = tokio::time::timeout_at(deadline, relay.log.recv())
            .await
            .expect("the recovery is logged in time")
            .expect("the relay is running");
        if line.contains(" WARN ") {
            warnings.push(line);
        } else if line.contains("status polls answer again") {
            break;
        }
    }
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].contains("status poll failed"),
        "{}",
        warnings[0]
    );
    assert!(warnings[0].contains("rate limiting"), "{}", warnings[0]);
}
