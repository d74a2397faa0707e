//! `GET /v1/events`: SSE with a snapshot, state changes and 1 Hz stats.

use crate::common;

use std::time::Duration;

use common::Relay;
use futures_util::StreamExt;
use serde_json::Value;

struct Sse {
    body: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
}

impl Sse {
    async fn open(relay: &Relay) -> Self {
        let response = relay.get("/v1/events").send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        Self {
            body: Box::pin(response.bytes_stream()),
            buffer: String::new(),
        }
    }

    /// Next event as (name, data).
    async fn next(&mut self) -> (String, Value) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no complete event in 10 s"
            );
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let name = block
                    .lines()
                    .find_map(|l| l.strip_prefix("event: "))
                    .unwrap_or("message")
                    .to_owned();
                let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) else {
                    continue;
                };
                return (name, serde_json::from_str(data).unwrap());
            }
            let chunk = tokio::time::timeout(Duration::from_secs(5), self.body.next())
                .await
                .expect("event in time")
                .expect("stream open")
                .unwrap();
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    async fn next_named(&mut self, name: &str) -> Value {
        for _ in 0..100 {
            let (n, data) = self.next().await;
            if n == name {
                return data;
            }
        }
        panic!("no {name} event among the next 100");
    }
}

#[tokio::test]
async fn snapshot_changes_removals_and_stats() {
    let relay = Relay::start().await;
    let existing = relay.default_stream().await;
    let mut events = Sse::open(&relay).await;
    let snapshot = events.next_named("stream").await;
    assert_eq!(snapshot["id"], existing["id"]);

    let created = relay.default_stream().await;
    let (mut saw_stream, mut saw_log) = (false, false);
    while !(saw_stream && saw_log) {
        let (name, data) = events.next().await;
        if name == "stream" && data["id"] == created["id"] {
            assert_eq!(data["state"], "waiting_for_publisher");
            saw_stream = true;
        }
        if name == "log" && data["message"].as_str().unwrap().contains("created") {
            assert_eq!(data["level"], "info");
            saw_log = true;
        }
    }
    let stats = events.next_named("stats").await;
    assert_eq!(stats["streams"].as_array().unwrap().len(), 2);
    assert!(stats["streams"][0]["frames"]["received"].is_u64());

    relay
        .delete(&format!("/v1/streams/{}", created["id"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    let removed = events.next_named("removed").await;
    assert_eq!(removed["id"], created["id"]);
    relay.stop().await;
}

/// Ids of the listed streams in a given state.
async fn listed(relay: &Relay, state: &str) -> Vec<Value> {
    relay.get_json("/v1/streams").await["streams"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] == state)
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_stream_is_listed_as_starting_before_daydream_answers() {
    let relay = Relay::start().await;
    let mut events = Sse::open(&relay).await;
    relay
        .set_faults(serde_json::json!([{"route": "create", "stall_ms": 1500, "count": 1}]))
        .await;
    let create = tokio::spawn({
        let request = relay
            .post("/v1/streams")
            .json(&serde_json::json!({"name": "slow"}));
        async move { request.send().await.unwrap() }
    });

    // While the create waits for Daydream, the stream is listed and announced.
    let announced = events.next_named("stream").await;
    assert_eq!(announced["state"], "starting", "{announced}");
    assert_eq!(announced["name"], "slow");
    let pending_id = announced["id"].clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let starting = listed(&relay, "starting").await;
        if starting.iter().any(|s| s["id"] == pending_id) {
            assert!(
                !create.is_finished(),
                "listed only after the create answered"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not listed while starting"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let created = create.await.unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    // The real stream is announced, then its placeholder removed.
    let (mut saw_stream, mut saw_removed) = (false, false);
    while !saw_removed {
        let (name, data) = events.next().await;
        if name == "stream" && data["id"] == created["id"] {
            saw_stream = true;
        }
        if name == "removed" && data["id"] == pending_id {
            assert!(saw_stream, "the placeholder went before the stream came");
            saw_removed = true;
        }
    }
    let ids: Vec<Value> = relay.get_json("/v1/streams").await["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].clone())
        .collect();
    assert_eq!(ids, [created["id"].clone()]);
    relay.stop().await;
}

#[tokio::test]
async fn a_failed_create_removes_its_starting_stream_with_an_event() {
    let relay = Relay::start().await;
    let mut events = Sse::open(&relay).await;
    relay
        .set_faults(serde_json::json!([{"route": "create", "status": 422, "count": 1}]))
        .await;
    let refused = relay
        .post("/v1/streams")
        .json(&serde_json::json!({"name": "refused"}))
        .send()
        .await
        .unwrap();
    assert!(refused.status().is_client_error(), "{}", refused.status());

    let announced = events.next_named("stream").await;
    assert_eq!(announced["state"], "starting", "{announced}");
    let (mut saw_log, mut saw_removed) = (false, false);
    while !(saw_log && saw_removed) {
        let (name, data) = events.next().await;
        if name == "log"
            && data["message"]
                .as_str()
                .unwrap()
                .contains("could not be created")
        {
            assert_eq!(data["level"], "warn");
            saw_log = true;
        }
        if name == "removed" && data["id"] == announced["id"] {
            saw_removed = true;
        }
    }
    assert!(
        relay.get_json("/v1/streams").await["streams"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    relay.stop().await;
}
