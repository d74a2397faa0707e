//! The local backend's media socket reaching beyond loopback: its settings, and the
//! candidates a real relay over real HTTP puts in its answers and in `/healthz`.

use crate::common;
use crate::media_support;

use std::time::{Duration, Instant};

use clap::Parser;
use common::Relay;
use futures_util::SinkExt;
use media_support::{Offer, post_offer};
use rtc_relay::config::{AnnouncedAddr, Config};
use serde_json::{Value, json};
use str0m::media::Direction;
use tokio_tungstenite::tungstenite::Message;

fn parse(args: &[&str]) -> Result<Config, clap::Error> {
    Config::try_parse_from(std::iter::once("rtc-relay").chain(args.iter().copied()))
}

#[test]
fn media_follows_the_http_listener_unless_configured() {
    let config = parse(&[]).unwrap();
    let media = config.media("127.0.0.1".parse().unwrap());
    assert_eq!(media.bind, "127.0.0.1".parse::<std::net::IpAddr>().unwrap());
    assert_eq!(media.port, 0);
    assert!(media.announce.is_empty());

    let config = parse(&[
        "--local-media-bind",
        "0.0.0.0",
        "--local-media-announce",
        "203.0.113.7, 198.51.100.2:40000,[2001:db8::1]:5000",
        "--local-media-port",
        "50123",
    ])
    .unwrap();
    let media = config.media("127.0.0.1".parse().unwrap());
    assert!(media.bind.is_unspecified());
    assert_eq!(media.port, 50123);
    assert_eq!(
        media.announce,
        [
            AnnouncedAddr {
                ip: "203.0.113.7".parse().unwrap(),
                port: None
            },
            AnnouncedAddr {
                ip: "198.51.100.2".parse().unwrap(),
                port: Some(40000)
            },
            AnnouncedAddr {
                ip: "2001:db8::1".parse().unwrap(),
                port: Some(5000)
            },
        ]
    );
    // The HTTP listener is untouched: exposing media does not expose the API.
    assert!(config.check_bind().is_ok());
    assert!(config.addr.ip().is_loopback());
}

#[test]
fn unusable_announcements_are_refused_with_the_reason() {
    for (value, reason) in [
        ("0.0.0.0", "unspecified"),
        ("comfy.example", "expected an IP address"),
        ("203.0.113.7:0", "port 0"),
    ] {
        let error = parse(&["--local-media-announce", value]).unwrap_err();
        let text = error.to_string();
        assert!(text.contains(reason), "{value}: {text}");
    }
    assert!(parse(&["--local-media-bind", "not-an-ip"]).is_err());
}

fn candidate_addresses(sdp: &str) -> Vec<String> {
    sdp.lines()
        .filter_map(|l| l.strip_prefix("a=candidate:"))
        .map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            format!("{}:{}", fields[4], fields[5])
        })
        .collect()
}

#[tokio::test]
async fn answers_and_healthz_carry_the_announced_addresses() {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let relay = Relay::start_with(|config| {
        config.local_media_bind = Some("0.0.0.0".parse().unwrap());
        config.local_media_port = port;
        config.local_media_announce = vec![
            "203.0.113.7".parse().unwrap(),
            "198.51.100.2:40000".parse().unwrap(),
        ];
    })
    .await;
    let expected = [
        format!("127.0.0.1:{port}"),
        format!("203.0.113.7:{port}"),
        "198.51.100.2:40000".to_owned(),
    ];
    let health = relay.get_json("/healthz").await;
    assert_eq!(health["media"], json!(expected), "{health}");

    let created: Value = relay
        .local(reqwest::Method::POST, "/v1/streams")
        .json(
            &json!({"pipeline": "streamdiffusion", "params": {"model_id": "stabilityai/sd-turbo"}}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let whip = created["whip_url"].as_str().unwrap();
    let offer = Offer::new(Direction::SendOnly).await;
    let response = post_offer(whip, &offer.sdp).await;
    assert_eq!(response.status(), 201);
    let answer = response.text().await.unwrap();
    assert_eq!(candidate_addresses(&answer), expected, "{answer}");
    relay.stop().await;
}

#[tokio::test]
async fn a_taken_media_port_stops_the_relay_with_the_reason() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let state = tempfile::tempdir().unwrap();
    let mut config = common::test_config(state.path());
    config.local_media_port = port;
    let error = rtc_relay::AppState::new(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap_err();
    assert!(
        format!("{error:#}").contains("cannot start the local media server"),
        "{error:#}"
    );
}

#[tokio::test]
async fn an_unreachable_report_reaches_the_stream_with_the_addresses_and_the_fix() {
    let relay = Relay::start().await;
    let (mut agent, _) = common::agent(&relay, true).await;
    let stream = relay.default_stream().await;
    let id = stream["id"].as_str().unwrap();
    common::next_of_type(&mut agent, "publish").await;
    let health = relay.get_json("/healthz").await;
    let media = health["media"][0].as_str().unwrap().to_owned();
    assert!(media.starts_with("127.0.0.1:"), "{health}");

    let report = "MEDIA_UNREACHABLE: ICE did not connect";
    let state = json!({"type": "state", "stream_id": id, "role": "publisher", "state": "reconnecting", "error": report});
    agent
        .send(Message::Text(state.to_string().into()))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let stream = loop {
        let one = relay.get_json(&format!("/v1/streams/{id}")).await;
        if one["publisher"]["error"].is_string() {
            break one;
        }
        assert!(Instant::now() < deadline, "{one}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Still retrying, not failed: the stream reconnects and says why.
    assert_eq!(stream["state"], "reconnecting", "{stream}");
    let error = stream["publisher"]["error"].as_str().unwrap();
    assert!(error.starts_with(report), "{error}");
    assert!(
        error.contains(&format!("cannot reach the media server at {media} (UDP)")),
        "{error}"
    );
    assert!(error.contains("start ComfyUI with --listen"), "{error}");
    relay.stop().await;
}
