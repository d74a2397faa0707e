//! Connection deadlines: a client that never finishes its request head, or idles on a
//! keep-alive connection, is cut off; and SIGTERM ends a real relay process within its grace
//! period whatever clients hold open.

use crate::common;

use std::time::{Duration, Instant};

use common::Relay;
use rtc_relay::server::HEADER_READ_TIMEOUT;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the peer closes; returns what was read.
async fn read_to_close(socket: &mut TcpStream, within: Duration) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buffer = [0_u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, socket.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => return all,
            Ok(Ok(n)) => all.extend_from_slice(&buffer[..n]),
            Err(_) => panic!("the connection is still open after {within:?}"),
        }
    }
}

async fn unfinished_head(addr: std::net::SocketAddr) -> TcpStream {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nX-Slow: ").as_bytes())
        .await
        .unwrap();
    socket
}

/// A keep-alive connection that has been answered once and now idles.
async fn idle_keep_alive(addr: std::net::SocketAddr) -> TcpStream {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut buffer = [0_u8; 1024];
    while !String::from_utf8_lossy(&head).contains("\"ok\":true") {
        let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buffer))
            .await
            .expect("an answer in time")
            .unwrap();
        assert!(n > 0, "closed before answering");
        head.extend_from_slice(&buffer[..n]);
    }
    assert!(head.starts_with(b"HTTP/1.1 200"));
    socket
}

#[tokio::test]
async fn unfinished_heads_and_idle_keep_alives_are_closed_after_the_header_deadline() {
    let relay = Relay::start().await;
    let started = Instant::now();
    let mut slow = unfinished_head(relay.addr).await;
    let mut idle = idle_keep_alive(relay.addr).await;
    let limit = HEADER_READ_TIMEOUT + Duration::from_secs(5);
    let (slow_answer, ()) = tokio::join!(read_to_close(&mut slow, limit), async {
        read_to_close(&mut idle, limit).await;
    });
    let elapsed = started.elapsed();
    assert!(
        elapsed >= HEADER_READ_TIMEOUT - Duration::from_millis(500),
        "closed after {elapsed:?}, before the deadline"
    );
    // Nothing was served to the unfinished request.
    assert!(!String::from_utf8_lossy(&slow_answer).contains("200 OK"));
    relay.stop().await;
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_ends_a_real_relay_within_its_grace_whatever_clients_hold() {
    let grace = Duration::from_millis(1500);
    let mut relay =
        common::RelayProcess::spawn(&[("RTC_SHUTDOWN_GRACE_MS", &grace.as_millis().to_string())])
            .await;
    let addr = relay.addr;
    let http = reqwest::Client::new();
    let stream: serde_json::Value = http
        .post(format!("http://{addr}/v1/streams"))
        .bearer_auth(common::TOKEN)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = stream["id"].as_str().unwrap().to_owned();
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(unfinished_head(addr).await);
    }
    for _ in 0..50 {
        held.push(idle_keep_alive(addr).await);
    }
    // Event streams and a long poll that nobody reads.
    let mut readers = Vec::new();
    for _ in 0..5 {
        let events = http
            .get(format!("http://{addr}/v1/events"))
            .bearer_auth(common::TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(events.status(), 200);
        readers.push(events);
    }
    let mut long_poll = TcpStream::connect(addr).await.unwrap();
    long_poll
        .write_all(
            format!(
                "GET /v1/streams/{id}/output?wait_ms=25000 HTTP/1.1\r\nHost: {addr}\r\n\
                 Authorization: Bearer {}\r\n\r\n",
                common::TOKEN
            )
            .as_bytes(),
        )
        .await
        .unwrap();

    let pid = relay.child.id().unwrap().to_string();
    let signalled = Instant::now();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = tokio::time::timeout(grace + Duration::from_secs(5), relay.child.wait())
        .await
        .expect("the relay exits")
        .unwrap();
    let took = signalled.elapsed();
    assert!(status.success(), "{status}");
    assert!(
        took < grace + Duration::from_millis(1000),
        "SIGTERM took {took:?} (grace {grace:?})"
    );
    // The long poll was answered (no frame) rather than cut off.
    let answered = read_to_close(&mut long_poll, Duration::from_secs(1)).await;
    assert!(
        answered.starts_with(b"HTTP/1.1 204"),
        "{}",
        String::from_utf8_lossy(&answered)
    );
    drop((held, readers));
}
