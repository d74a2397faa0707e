//! Names are checked where they are resolved: a Daydream host name whose DNS answer is this
//! machine (or its network) gets neither the key nor media.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rtc_relay::config::{Backend, Config, Secret};
use serde_json::{Value, json};

use crate::common::Relay;

/// A listener on loopback that counts the connections it gets and closes them.
async fn counting_listener() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    tokio::spawn({
        let count = count.clone();
        async move {
            while let Ok((socket, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                drop(socket);
            }
        }
    });
    (addr, count)
}

fn daydream_resolving_to(config: &mut Config, addr: std::net::SocketAddr) {
    config.api_key = Some(Secret::new("test-only-key"));
    config.backend = Some(Backend::Daydream);
    config.dns_overrides = vec![("api.daydream.live".to_owned(), addr)];
    config.upstream_attempts = 2;
}

#[tokio::test]
async fn a_daydream_name_resolving_to_this_machine_is_not_contacted() {
    let (addr, connections) = counting_listener().await;
    let relay = Relay::start_with(|c| daydream_resolving_to(c, addr)).await;
    let refused = relay
        .post("/v1/streams")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "daydream_unreachable", "{body}");
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "the key went to {addr}"
    );
    relay.stop().await;

    // The operator may allow the host; then the same answer is used.
    let (addr, connections) = counting_listener().await;
    let relay = Relay::start_with(|c| {
        daydream_resolving_to(c, addr);
        c.allow_api_hosts = vec!["api.daydream.live".to_owned()];
    })
    .await;
    let failed = relay
        .post("/v1/streams")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert!(failed.status().is_server_error(), "{}", failed.status());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while connections.load(Ordering::SeqCst) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no connection to an allowed host"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    relay.stop().await;
}
