//! Agent-socket messages: the JSON codec, and a live socket fed anything.

use std::cell::RefCell;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use proptest::collection::vec;
use proptest::prelude::*;
use rtc_protocol::{
    AgentMessage, AgentRole, LeaseGrant, LinkChoice, LinkFormat, MediaState, OutputRequest,
    PixelFormat, RelayMessage, StreamStats,
};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::frame_header::near_valid_message;
use super::{check, json_object_with, json_value, runtime};
use crate::common::{Relay, Ws, agent, connect, next_of_type};

/// Codes the relay answers a bad agent message with (docs/ARCHITECTURE.md, agent socket).
const DOCUMENTED: [&str; 4] = [
    "bad_message",
    "bad_frame",
    "unknown_stream",
    "not_lease_holder",
];
/// Replaced by the id of the stream the test agent holds.
const HELD: &str = "$held";

fn role() -> impl Strategy<Value = AgentRole> {
    prop_oneof![Just(AgentRole::Publisher), Just(AgentRole::Player)]
}

fn media_state() -> impl Strategy<Value = MediaState> {
    prop_oneof![
        Just(MediaState::Idle),
        Just(MediaState::Connecting),
        Just(MediaState::Live),
        Just(MediaState::Reconnecting),
        Just(MediaState::Ended),
        Just(MediaState::Failed),
    ]
}

/// Numbers JSON carries exactly, so that equality after a round trip is meaningful.
fn exact_f64() -> impl Strategy<Value = f64> {
    any::<i32>().prop_map(|n| f64::from(n) / 8.0)
}

fn stats() -> impl Strategy<Value = StreamStats> {
    use proptest::option::of;
    (
        (
            of(any::<u64>()),
            of(any::<u64>()),
            of(exact_f64()),
            of(exact_f64()),
        ),
        (
            of(".{0,16}"),
            of(".{0,16}"),
            of(any::<u32>()),
            of(any::<u32>()),
        ),
    )
        .prop_map(
            |((frames, frames_dropped, fps, rtt_ms), (codec, quality, width, height))| {
                StreamStats {
                    frames,
                    frames_dropped,
                    fps,
                    rtt_ms,
                    codec,
                    quality_limitation: quality,
                    width,
                    height,
                    ..StreamStats::default()
                }
            },
        )
}

fn link_choice() -> impl Strategy<Value = LinkChoice> {
    prop_oneof![
        Just(LinkChoice::Auto),
        Just(LinkChoice::Raw),
        Just(LinkChoice::Jpeg)
    ]
}

fn agent_message() -> impl Strategy<Value = AgentMessage> {
    prop_oneof![
        (
            any::<u32>(),
            ".{0,24}",
            any::<bool>(),
            vec(".{0,12}", 0..3),
            any::<bool>(),
            proptest::option::of(link_choice()),
            proptest::option::of(any::<u8>()),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(
                |(
                    protocol,
                    label,
                    publish,
                    resume,
                    prefer_i420,
                    link,
                    jpeg_quality,
                    acks,
                    fallback,
                )| {
                    AgentMessage::Hello {
                        protocol,
                        label,
                        publish,
                        resume,
                        prefer_i420,
                        link,
                        jpeg_quality,
                        acks,
                        fallback,
                    }
                }
            ),
        (any::<u32>(), any::<u64>()).prop_map(|(stream_index, sequence)| AgentMessage::Ack {
            stream_index,
            sequence
        }),
        (
            ".{0,20}",
            role(),
            media_state(),
            proptest::option::of(".{0,30}")
        )
            .prop_map(|(stream_id, role, state, error)| AgentMessage::State {
                stream_id,
                role,
                state,
                error,
            }),
        (".{0,20}", role(), stats()).prop_map(|(stream_id, role, stats)| AgentMessage::Stats {
            stream_id,
            role,
            stats,
        }),
        ".{0,20}".prop_map(|stream_id| AgentMessage::Release { stream_id }),
    ]
}

fn relay_message() -> impl Strategy<Value = RelayMessage> {
    let grant = (".{0,20}", any::<u32>(), ".{0,40}", any::<[u32; 4]>()).prop_map(
        |(stream_id, stream_index, whip_url, [frame_rate, width, height, kbps])| LeaseGrant {
            stream_id,
            stream_index,
            whip_url,
            frame_rate,
            width,
            height,
            max_bitrate_kbps: kbps,
        },
    );
    let format = prop_oneof![
        Just(PixelFormat::Rgba8),
        Just(PixelFormat::Rgb8),
        Just(PixelFormat::I420),
        Just(PixelFormat::Jpeg)
    ];
    prop_oneof![
        (
            any::<u32>(),
            ".{0,20}",
            any::<bool>(),
            proptest::option::of(any::<u8>()),
            proptest::option::of(any::<u32>())
        )
            .prop_map(|(protocol, agent_id, jpeg, jpeg_quality, max_in_flight)| {
                RelayMessage::Welcome {
                    protocol,
                    agent_id,
                    link: if jpeg {
                        LinkFormat::Jpeg
                    } else {
                        LinkFormat::Raw
                    },
                    jpeg_quality,
                    max_in_flight,
                }
            }),
        grant.clone().prop_map(RelayMessage::Publish),
        grant.prop_map(RelayMessage::Settings),
        (".{0,20}", any::<u32>(), ".{0,40}", format).prop_map(
            |(stream_id, stream_index, whep_url, format)| RelayMessage::Play(OutputRequest {
                stream_id,
                stream_index,
                whep_url,
                format,
            })
        ),
        (".{0,20}", ".{0,40}")
            .prop_map(|(stream_id, reason)| RelayMessage::Stop { stream_id, reason }),
        (".{0,20}", ".{0,40}").prop_map(|(code, message)| RelayMessage::Error { code, message }),
    ]
}

#[test]
fn agent_and_relay_messages_round_trip_through_json() {
    check(
        1_000,
        (agent_message(), relay_message()),
        |(from_agent, from_relay)| {
            let text = serde_json::to_string(&from_agent).unwrap();
            prop_assert_eq!(
                serde_json::from_str::<AgentMessage>(&text).unwrap(),
                from_agent
            );
            let text = serde_json::to_string(&from_relay).unwrap();
            prop_assert_eq!(
                serde_json::from_str::<RelayMessage>(&text).unwrap(),
                from_relay
            );
            Ok(())
        },
    );
}

/// Objects shaped like agent messages, with right and wrong types in every field.
fn message_like() -> impl Strategy<Value = Value> {
    const KEYS: &[&str] = &[
        "type",
        "protocol",
        "label",
        "publish",
        "resume",
        "prefer_i420",
        "fallback",
        "stream_id",
        "role",
        "state",
        "error",
        "stats",
    ];
    json_object_with(KEYS, |key| match key {
        "type" => prop_oneof![
            Just(json!("hello")),
            Just(json!("state")),
            Just(json!("stats")),
            Just(json!("release")),
        ]
        .boxed(),
        "protocol" => prop_oneof![Just(json!(1)), any::<u32>().prop_map(|n| json!(n))].boxed(),
        "stream_id" => prop_oneof![
            3 => Just(json!(HELD)),
            1 => ".{0,20}".prop_map(|s| json!(s)),
        ]
        .boxed(),
        "role" => prop_oneof![Just(json!("publisher")), Just(json!("player"))].boxed(),
        "state" => prop_oneof![
            Just(json!("live")),
            Just(json!("failed")),
            Just(json!("ended"))
        ]
        .boxed(),
        "stats" => stats()
            .prop_map(|s| serde_json::to_value(s).unwrap())
            .boxed(),
        "resume" => vec(".{0,12}", 0..3).prop_map(|r| json!(r)).boxed(),
        "publish" | "prefer_i420" | "fallback" => any::<bool>().prop_map(|b| json!(b)).boxed(),
        _ => ".{0,30}".prop_map(|s| json!(s)).boxed(),
    })
}

#[derive(Debug, Clone)]
enum Input {
    Text(String),
    /// A binary message; `true` puts the held stream's index in its header.
    Binary(Vec<u8>, bool),
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        4 => message_like().prop_map(|v| Input::Text(v.to_string())),
        1 => json_value().prop_map(|v| Input::Text(v.to_string())),
        1 => ".{0,60}".prop_map(Input::Text),
        3 => (near_valid_message(), any::<bool>()).prop_map(|(m, own)| Input::Binary(m, own)),
    ]
}

async fn next_text(ws: &mut Ws) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("the relay answers in time")
            .expect("the socket stays open")
            .expect("no socket error");
        match message {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Close(frame) => panic!("the relay closed the socket: {frame:?}"),
            _ => {}
        }
    }
}

#[test]
fn the_agent_socket_answers_anything_with_a_documented_error_or_nothing() {
    let rt = runtime();
    let (relay, ws, held, index) = rt.block_on(async {
        let relay = Relay::start().await;
        let stream = relay.default_stream().await;
        let (mut ws, _) = agent(&relay, true).await;
        let grant = next_of_type(&mut ws, "publish").await;
        let index = u32::try_from(grant["stream_index"].as_u64().unwrap()).unwrap();
        (relay, ws, stream["id"].as_str().unwrap().to_owned(), index)
    });
    let ws = RefCell::new(ws);
    let sent = RefCell::new(0u64);
    check(400, input(), |input| {
        let mut ws = ws.borrow_mut();
        let mut sent = sent.borrow_mut();
        *sent += 1;
        // An unknown stream's release always gets an answer, and answers come in order: once
        // it is back, every answer to the input has been read.
        let sentinel = format!("sentinel-{sent}");
        let message = match input {
            Input::Text(text) => Message::Text(text.replace(HELD, &held).into()),
            Input::Binary(mut bytes, own) => {
                if own {
                    bytes[8..12].copy_from_slice(&index.to_le_bytes());
                }
                Message::Binary(bytes.into())
            }
        };
        rt.block_on(async {
            ws.send(message).await.unwrap();
            let release = json!({"type": "release", "stream_id": sentinel});
            ws.send(Message::Text(release.to_string().into()))
                .await
                .unwrap();
            loop {
                let reply = next_text(&mut ws).await;
                match reply["type"].as_str() {
                    Some("error") if reply["message"].as_str().unwrap().contains(&sentinel) => {
                        return Ok(());
                    }
                    Some("error") => {
                        let code = reply["code"].as_str().unwrap_or("");
                        prop_assert!(DOCUMENTED.contains(&code), "undocumented reply {reply}");
                    }
                    // A released lease is granted again: lease traffic, not an answer.
                    Some("publish" | "play" | "stop" | "settings") => {}
                    _ => prop_assert!(false, "unexpected reply {reply}"),
                }
            }
        })
    });
    rt.block_on(relay.stop());
}

#[test]
fn a_first_message_other_than_a_hello_is_refused_with_a_documented_error() {
    let rt = runtime();
    let relay = rt.block_on(Relay::start());
    let first = prop_oneof![
        message_like().prop_map(|v| v.to_string()),
        json_value().prop_map(|v| v.to_string()),
        ".{0,40}",
    ];
    check(150, first, |text| {
        rt.block_on(async {
            let text = text.replace(HELD, "x");
            let mut ws = connect(&relay).await;
            ws.send(Message::Text(text.clone().into())).await.unwrap();
            let reply = next_text(&mut ws).await;
            let hello = serde_json::from_str::<AgentMessage>(&text).ok();
            match (reply["type"].as_str(), hello) {
                (Some("welcome"), Some(AgentMessage::Hello { protocol: 1, .. })) => {}
                (Some("error"), Some(AgentMessage::Hello { protocol, .. })) if protocol != 1 => {
                    prop_assert_eq!(&reply["code"], "protocol_mismatch");
                }
                (Some("error"), _) => prop_assert_eq!(&reply["code"], "hello_expected"),
                _ => prop_assert!(false, "unexpected answer {reply} to {text}"),
            }
            Ok(())
        })
    });
    rt.block_on(relay.stop());
}
