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
