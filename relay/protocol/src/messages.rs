//! JSON control messages on the agent socket.
//!
//! Lease model: every agent that says `hello` with `publish: true` is a candidate. For each
//! stream the relay grants the lease to one agent ([`RelayMessage::Publish`]); that agent
//! publishes the stream (WHIP) and, once the relay knows a playback URL, plays it back
//! ([`RelayMessage::Play`]) and sends the decoded frames to the relay. When the holder goes
//! away the relay grants the lease to the next candidate.

use serde::{Deserialize, Serialize};

use crate::PixelFormat;

/// Version of this message set; sent in `hello` and `welcome`.
pub const PROTOCOL_VERSION: u32 = 1;

/// Agent → relay.
// Messages are decoded, handled and dropped one at a time, so boxing the large variant buys
// nothing. `allow`, not `expect`: on wasm32 the variants are small enough not to trigger it.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentMessage {
    /// First message after the socket opens.
    Hello {
        /// [`PROTOCOL_VERSION`] of the agent.
        protocol: u32,
        /// Free-form label (browser, page) shown in the UI.
        #[serde(default)]
        label: String,
        /// Whether this agent may take publish leases.
        #[serde(default = "default_true")]
        publish: bool,
        /// Streams this agent was serving before a reconnect; the relay prefers it for them.
        #[serde(default)]
        resume: Vec<String>,
        /// Whether the relay should hand this agent RGB(A) frames as I420 (half the bytes of
        /// RGB, and what a video encoder consumes). Otherwise frames arrive as posted.
        #[serde(default)]
        prefer_i420: bool,
        /// How frames should cross this agent's socket. Absent: raw pixels, as before links
        /// were negotiated; `auto`: the relay decides from where the browser is.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        link: Option<LinkChoice>,
        /// JPEG quality (1–100) for a compressed link; the relay's default when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        jpeg_quality: Option<u8>,
        /// Whether the agent acknowledges every frame it receives ([`AgentMessage::Ack`]);
        /// the relay then keeps only a few frames per stream in flight to it.
        #[serde(default)]
        acks: bool,
        /// A fallback candidate (the pack's headless browser): it gets a lease only while no
        /// other candidate is connected, and gives it up as soon as one joins.
        #[serde(default)]
        fallback: bool,
    },
    /// The agent consumed (or dropped) the frame `sequence` of stream `stream_index`, and
    /// every earlier one. Sent only to a relay whose `welcome` gave `max_in_flight`.
    Ack {
        /// Stream index of the frame's header.
        stream_index: u32,
        /// Sequence of the frame's header.
        sequence: u64,
    },
    /// The agent's publisher or player changed state.
    State {
        /// Stream concerned.
        stream_id: String,
        /// Publisher or player.
        role: AgentRole,
        /// New state.
        state: MediaState,
        /// Error code and message when `state` is `failed`; for a player also, in any state,
        /// why its frames do not come back (cleared by a `state` without it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// Once-a-second statistics from `getStats` and the frame pumps.
    Stats {
        /// Stream concerned.
        stream_id: String,
        /// Publisher or player.
        role: AgentRole,
        /// The figures.
        stats: StreamStats,
    },
    /// The agent gives the lease back (tab closing, user stop).
    Release {
        /// Stream concerned.
        stream_id: String,
    },
}

fn default_true() -> bool {
    true
}

/// Relay → agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RelayMessage {
    /// Answer to `hello`.
    Welcome {
        /// [`PROTOCOL_VERSION`] of the relay.
        protocol: u32,
        /// Id the relay gave this connection.
        agent_id: String,
        /// How frames cross this socket, both ways.
        #[serde(default)]
        link: LinkFormat,
        /// Quality the agent should encode returned frames with on a `jpeg` link.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        jpeg_quality: Option<u8>,
        /// Unacknowledged frames per stream the relay sends at most; present when the agent
        /// said `acks`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_in_flight: Option<u32>,
    },
    /// This agent now holds the publish lease of a stream.
    Publish(LeaseGrant),
    /// Frame settings of a published stream changed.
    Settings(LeaseGrant),
    /// Play the processed stream back and send its frames to the relay.
    Play(OutputRequest),
    /// Whether anything reads a played stream's frames (a Frame Output node polling, lately).
    /// While nothing does, the player keeps playing but sends no frames: copying them out
    /// and across the socket is most of the page's work, and on a remote link its upload.
    /// A new player sends until told otherwise.
    OutputDemand {
        /// Stream concerned.
        stream_id: String,
        /// Send the frames (true) or hold them back.
        wanted: bool,
    },
    /// Stop publishing and playing a stream (lease revoked or stream deleted).
    Stop {
        /// Stream concerned.
        stream_id: String,
        /// Why, for logs and the UI.
        reason: String,
    },
    /// Something the agent sent was rejected.
    Error {
        /// Stable machine code.
        code: String,
        /// Human-readable message.
        message: String,
    },
}

/// What an agent asks for in `hello`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkChoice {
    /// Raw on loopback, JPEG when the browser is elsewhere (the relay decides).
    Auto,
    /// Raw pixels whatever the route.
    Raw,
    /// JPEG whatever the route.
    Jpeg,
}

/// How frames cross one agent socket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkFormat {
    /// Pixels as they are (`rgb8`, `rgba8`, `i420`): the browser is on this machine.
    #[default]
    Raw,
    /// JPEG both ways: the browser is across a network.
    Jpeg,
}

impl LinkFormat {
    /// Name on the wire and in the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Jpeg => "jpeg",
        }
    }
}

/// What a publisher needs to know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaseGrant {
    /// Stream id (`str_…` on Daydream).
    pub stream_id: String,
    /// Index used in binary frame headers for this stream.
    pub stream_index: u32,
    /// WHIP endpoint to POST the offer to: the relay's signalling proxy route.
    pub whip_url: String,
    /// Target frames per second.
    pub frame_rate: u32,
    /// Frame width sent to the encoder.
    pub width: u32,
    /// Frame height sent to the encoder.
    pub height: u32,
    /// Encoder bitrate ceiling.
    pub max_bitrate_kbps: u32,
}

/// What a player needs to know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputRequest {
    /// Stream id.
    pub stream_id: String,
    /// Index to put in the headers of the frames sent back.
    pub stream_index: u32,
    /// WHEP endpoint to POST the offer to: the relay's signalling proxy route.
    pub whep_url: String,
    /// Pixel format the relay wants the frames in.
    pub format: PixelFormat,
}

/// Which half of a stream a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentRole {
    /// WHIP side.
    Publisher,
    /// WHEP side.
    Player,
}

/// Connection state of a publisher or player (the names of Daydream's browser SDK).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaState {
    /// Created, not started.
    Idle,
    /// Signalling or ICE/DTLS in progress.
    Connecting,
    /// Media flowing.
    Live,
    /// Lost the connection; retrying with backoff.
    Reconnecting,
    /// Stopped on purpose.
    Ended,
    /// Gave up; `error` says why.
    Failed,
}

/// Figures an agent reports once a second. Every field is optional: browsers differ.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamStats {
    /// Frames handed to the encoder (publisher) or decoded (player).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames: Option<u64>,
    /// Frames dropped on the way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames_dropped: Option<u64>,
    /// Player: decoded frames not sent back because the agent socket still held the previous
    /// one (a slow link; newest wins).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames_skipped: Option<u64>,
    /// Frames per second over the last interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fps: Option<f64>,
    /// Media bitrate over the last interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bitrate_kbps: Option<f64>,
    /// Current round-trip time of the selected candidate pair.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    /// Mean jitter-buffer delay per frame (player).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter_buffer_ms: Option<f64>,
    /// Mean encode time per frame (publisher).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encode_ms: Option<f64>,
    /// Mean decode time per frame (player).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decode_ms: Option<f64>,
    /// Glass-to-glass latency p50 measured from frame markers, when the source carries them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_p50_ms: Option<f64>,
    /// Glass-to-glass latency p95.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_p95_ms: Option<f64>,
    /// Negotiated codec, e.g. `video/H264`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codec: Option<String>,
    /// Encoder or decoder implementation reported by the browser.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub implementation: Option<String>,
    /// Current frame size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Current frame size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Why the encoder lowered quality, if it did (`bandwidth`, `cpu`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality_limitation: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_defaults_are_lenient() {
        let msg: AgentMessage = serde_json::from_str(r#"{"type":"hello","protocol":1}"#).unwrap();
        assert_eq!(
            msg,
            AgentMessage::Hello {
                protocol: 1,
                label: String::new(),
                publish: true,
                resume: vec![],
                prefer_i420: false,
                link: None,
                jpeg_quality: None,
                acks: false,
                fallback: false,
            }
        );
    }

    #[test]
    fn welcome_of_an_older_relay_means_a_raw_link_without_acks() {
        let msg: RelayMessage =
            serde_json::from_str(r#"{"type":"welcome","protocol":1,"agent_id":"a"}"#).unwrap();
        assert_eq!(
            msg,
            RelayMessage::Welcome {
                protocol: 1,
                agent_id: "a".into(),
                link: LinkFormat::Raw,
                jpeg_quality: None,
                max_in_flight: None,
            }
        );
        let ack: AgentMessage =
            serde_json::from_str(r#"{"type":"ack","stream_index":2,"sequence":9}"#).unwrap();
        assert_eq!(
            ack,
            AgentMessage::Ack {
                stream_index: 2,
                sequence: 9
            }
        );
        let hello: AgentMessage = serde_json::from_str(
            r#"{"type":"hello","protocol":1,"link":"auto","jpeg_quality":70,"acks":true}"#,
        )
        .unwrap();
        assert!(matches!(
            hello,
            AgentMessage::Hello {
                link: Some(LinkChoice::Auto),
                jpeg_quality: Some(70),
                acks: true,
                ..
            }
        ));
    }

    #[test]
    fn messages_use_snake_case_tags() {
        let grant = RelayMessage::Publish(LeaseGrant {
            stream_id: "str_x".into(),
            stream_index: 3,
            whip_url: "/v1/streams/str_x/whip".into(),
            frame_rate: 24,
            width: 512,
            height: 512,
            max_bitrate_kbps: 2500,
        });
        let json = serde_json::to_value(&grant).unwrap();
        assert_eq!(json["type"], "publish");
        assert_eq!(json["stream_index"], 3);
        let back: RelayMessage = serde_json::from_value(json).unwrap();
        assert_eq!(back, grant);

        let play = RelayMessage::Play(OutputRequest {
            stream_id: "str_x".into(),
            stream_index: 3,
            whep_url: "/v1/streams/str_x/whep".into(),
            format: PixelFormat::Rgba8,
        });
        assert_eq!(serde_json::to_value(&play).unwrap()["format"], "rgba8");
        let demand = RelayMessage::OutputDemand {
            stream_id: "str_x".into(),
            wanted: false,
        };
        let json = serde_json::to_value(&demand).unwrap();
        assert_eq!(json["type"], "output_demand");
        assert_eq!(
            serde_json::from_value::<RelayMessage>(json).unwrap(),
            demand
        );
    }

    #[test]
    fn stats_skip_missing_fields() {
        let stats = AgentMessage::Stats {
            stream_id: "s".into(),
            role: AgentRole::Player,
            stats: StreamStats {
                fps: Some(29.5),
                ..Default::default()
            },
        };
        let json = serde_json::to_string(&stats).unwrap();
        assert_eq!(
            json,
            r#"{"type":"stats","stream_id":"s","role":"player","stats":{"fps":29.5}}"#
        );
    }

    #[test]
    fn unknown_type_is_an_error() {
        assert!(serde_json::from_str::<AgentMessage>(r#"{"type":"nope"}"#).is_err());
    }
}
