//! What an agent may send: capped strings, a bounded reply queue, and labels that reach the
//! log escaped.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::{self, Relay, TOKEN, agent, next_json, next_of_type};

async fn refused_hello(relay: &Relay, hello: Value) -> Value {
    let mut ws = common::connect(relay).await;
    ws.send(Message::Text(hello.to_string().into()))
        .await
        .unwrap();
    let refusal = next_json(&mut ws).await;
    // The socket closes after the refusal.
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                None | Some(Err(_) | Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the socket stays open after {refusal}");
    refusal
}

#[tokio::test]
async fn oversized_agent_strings_get_too_long() {
    let relay = Relay::start().await;
    let long_label = json!({"type": "hello", "protocol": 1, "label": "l".repeat(10_000)});
    let refusal = refused_hello(&relay, long_label).await;
    assert_eq!(refusal["code"], "too_long", "{refusal}");
    assert!(refusal["message"].as_str().unwrap().contains("label"));
    let many: Vec<String> = (0..100).map(|i| format!("str_{i}")).collect();
    let refusal = refused_hello(
        &relay,
        json!({"type": "hello", "protocol": 1, "resume": many}),
    )
    .await;
    assert_eq!(refusal["code"], "too_long", "{refusal}");
    let long_id = json!({"type": "hello", "protocol": 1, "resume": ["r".repeat(1_000)]});
    assert_eq!(refused_hello(&relay, long_id).await["code"], "too_long");

    let stream = relay.default_stream().await;
    let id = stream["id"].as_str().unwrap();
    let (mut ws, _) = agent(&relay, true).await;
    next_of_type(&mut ws, "publish").await;
    let id_too_long = "s".repeat(1_000);
    for (message, field) in [
        (
            json!({"type": "release", "stream_id": id_too_long}),
            "stream_id",
        ),
        (
            json!({"type": "state", "stream_id": id, "role": "publisher", "state": "failed",
                "error": "e".repeat(10_000)}),
            "error",
        ),
        (
            json!({"type": "stats", "stream_id": id, "role": "publisher",
                "stats": {"codec": "c".repeat(5_000)}}),
            "stats.codec",
        ),
        (
            json!({"type": "state", "stream_id": id, "role": "publisher", "state": "live",
                "padding": "p".repeat(100_000)}),
            "text message",
        ),
    ] {
        ws.send(Message::Text(message.to_string().into()))
            .await
            .unwrap();
        let error = next_of_type(&mut ws, "error").await;
        assert_eq!(error["code"], "too_long", "{error}");
        assert!(
            error["message"].as_str().unwrap().contains(field),
            "{field}: {error}"
        );
    }
    // The refused report changed nothing: the stream is not in error.
    let after = relay.get_json(&format!("/v1/streams/{id}")).await;
    assert_eq!(after["error"], Value::Null, "{after}");
    relay.stop().await;
}

#[tokio::test]
async fn an_agent_that_sends_without_reading_is_closed() {
    let relay = Relay::start().await;
    // A small receive buffer on this side, so the relay's replies back up quickly.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(relay.addr).await.unwrap();
    let mut request = format!("ws://{}/v1/agent", relay.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let tcp = tokio_tungstenite::MaybeTlsStream::Plain(tcp);
    let (mut ws, _) = tokio_tungstenite::client_async(request, tcp).await.unwrap();
    let hello = json!({"type": "hello", "protocol": 1, "label": "never reads"});
    ws.send(Message::Text(hello.to_string().into()))
        .await
        .unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "welcome");

    // Every message earns an `unknown_stream` error reply that is never read.
    let message = json!({"type": "release", "stream_id": "x".repeat(120)}).to_string();
    let limit = 64 << 20;
    let mut sent = 0_usize;
    let outcome = tokio::time::timeout(Duration::from_secs(30), async {
        while sent < limit {
            if ws
                .send(Message::Text(message.clone().into()))
                .await
                .is_err()
            {
                return true;
            }
            sent += message.len();
        }
        false
    })
    .await;
    assert_eq!(
        outcome,
        Ok(true),
        "the relay still takes messages after {sent} bytes whose replies are unread"
    );
    // The relay itself is fine.
    assert_eq!(relay.get_json("/healthz").await["ok"], true);
    relay.stop().await;
}

#[tokio::test]
async fn agent_labels_reach_the_log_escaped() {
    let mut relay = common::RelayProcess::spawn(&[]).await;
    let mut request = format!("ws://{}/v1/agent", relay.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let label = "tab\nERROR rtc_relay: forged line\r\u{1b}[2J\u{1b}]0;title\u{7}";
    let hello = json!({"type": "hello", "protocol": 1, "label": label});
    ws.send(Message::Text(hello.to_string().into()))
        .await
        .unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "welcome");

    let mut lines = Vec::new();
    let connected = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(line) = relay.log.recv().await {
            let done = line.contains("agent connected");
            lines.push(line.clone());
            if done {
                return line;
            }
        }
        panic!("the relay exited: {lines:?}");
    })
    .await
    .expect("the connection is logged");
    assert!(
        connected
            .contains(r#"label="tab\nERROR rtc_relay: forged line\r\u{1b}[2J\u{1b}]0;title\u{7}""#),
        "{connected}"
    );
    for line in &lines {
        assert!(
            !line.contains("forged line") || line.contains("agent connected"),
            "{line}"
        );
        assert!(!line.chars().any(char::is_control), "{line:?}");
    }
}
