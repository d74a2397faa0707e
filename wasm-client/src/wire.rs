//! The agent socket's JSON messages, read and written with the browser's own `JSON` and plain
//! objects. The shapes are those of `rtc-protocol`'s serde impls (the relay's side); the
//! generic serde machinery would triple the package for these few fixed messages.

use rtc_protocol::{
    AgentMessage, AgentRole, LeaseGrant, LinkChoice, LinkFormat, OutputRequest, PixelFormat,
    RelayMessage, StreamStats,
};
use wasm_bindgen::JsValue;

use crate::error::{ClientError, ErrorCode, Result};
use crate::js;
use crate::state::state_name;

/// Name of a role on the wire and in events.
pub const fn role_name(role: AgentRole) -> &'static str {
    match role {
        AgentRole::Publisher => "publisher",
        AgentRole::Player => "player",
    }
}

fn set_str(obj: &JsValue, key: &str, value: &str) {
    js::set(obj, key, &JsValue::from_str(value));
}

fn tagged(kind: &str) -> JsValue {
    let obj = js::object();
    set_str(&obj, "type", kind);
    obj
}

/// `message` as the JSON text the relay reads.
pub fn encode(message: &AgentMessage) -> String {
    let obj = match message {
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
        } => {
            let obj = tagged("hello");
            js::set(&obj, "protocol", &(*protocol).into());
            set_str(&obj, "label", label);
            js::set(&obj, "publish", &(*publish).into());
            let list = js_sys::Array::new();
            for id in resume {
                list.push(&JsValue::from_str(id));
            }
            js::set(&obj, "resume", &list);
            js::set(&obj, "prefer_i420", &(*prefer_i420).into());
            if let Some(link) = link {
                let name = match link {
                    LinkChoice::Auto => "auto",
                    LinkChoice::Raw => "raw",
                    LinkChoice::Jpeg => "jpeg",
                };
                set_str(&obj, "link", name);
            }
            if let Some(quality) = jpeg_quality {
                js::set(&obj, "jpeg_quality", &(*quality).into());
            }
            js::set(&obj, "acks", &(*acks).into());
            js::set(&obj, "fallback", &(*fallback).into());
            obj
        }
        AgentMessage::Ack {
            stream_index,
            sequence,
        } => {
            let obj = tagged("ack");
            js::set(&obj, "stream_index", &(*stream_index).into());
            js::set(&obj, "sequence", &(*sequence as f64).into());
            obj
        }
        AgentMessage::State {
            stream_id,
            role,
            state,
            error,
        } => {
            let obj = tagged("state");
            set_str(&obj, "stream_id", stream_id);
            set_str(&obj, "role", role_name(*role));
            set_str(&obj, "state", state_name(*state));
            if let Some(error) = error {
                set_str(&obj, "error", error);
            }
            obj
        }
        AgentMessage::Stats {
            stream_id,
            role,
            stats,
        } => {
            let obj = tagged("stats");
            set_str(&obj, "stream_id", stream_id);
            set_str(&obj, "role", role_name(*role));
            js::set(&obj, "stats", &stats_object(stats));
            obj
        }
        AgentMessage::Release { stream_id } => {
            let obj = tagged("release");
            set_str(&obj, "stream_id", stream_id);
            obj
        }
    };
    // Plain objects of strings, numbers and arrays always stringify.
    js_sys::JSON::stringify(&obj).map_or_else(|_| String::new(), String::from)
}

/// `stats` as a plain object with the protocol's snake_case keys; missing figures are left out.
pub fn stats_object(stats: &StreamStats) -> JsValue {
    let obj = js::object();
    let counts = [
        ("frames", stats.frames),
        ("frames_dropped", stats.frames_dropped),
        ("frames_skipped", stats.frames_skipped),
    ];
    for (key, value) in counts {
        if let Some(value) = value {
            js::set(&obj, key, &(value as f64).into());
        }
    }
    let figures = [
        ("fps", stats.fps),
        ("bitrate_kbps", stats.bitrate_kbps),
        ("rtt_ms", stats.rtt_ms),
        ("jitter_buffer_ms", stats.jitter_buffer_ms),
        ("encode_ms", stats.encode_ms),
        ("decode_ms", stats.decode_ms),
        ("latency_p50_ms", stats.latency_p50_ms),
        ("latency_p95_ms", stats.latency_p95_ms),
        ("width", stats.width.map(f64::from)),
        ("height", stats.height.map(f64::from)),
    ];
    for (key, value) in figures {
        // JSON has no NaN or infinity; serde writes them as null, which is no figure either.
        if let Some(value) = value.filter(|v| v.is_finite()) {
            js::set(&obj, key, &value.into());
        }
    }
    let names = [
        ("codec", &stats.codec),
        ("implementation", &stats.implementation),
        ("quality_limitation", &stats.quality_limitation),
    ];
    for (key, value) in names {
        if let Some(value) = value {
            set_str(&obj, key, value);
        }
    }
    obj
}

fn invalid(what: &str) -> ClientError {
    ClientError::new(ErrorCode::Protocol, format!("relay message: {what}"))
}

/// Field reader of one decoded message.
struct Fields(JsValue);

impl Fields {
    fn text(&self, key: &str) -> Result<String> {
        js::string(&self.0, key).ok_or_else(|| invalid(&format!("`{key}` must be a string")))
    }

    fn whole(&self, key: &str) -> Result<u32> {
        js::number(&self.0, key)
            .filter(|n| n.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(n))
            .map(|n| n as u32)
            .ok_or_else(|| invalid(&format!("`{key}` must be a whole number")))
    }

    fn format(&self, key: &str) -> Result<PixelFormat> {
        let name = self.text(key)?;
        [
            PixelFormat::Rgba8,
            PixelFormat::Rgb8,
            PixelFormat::I420,
            PixelFormat::Jpeg,
        ]
        .into_iter()
        .find(|f| f.as_str() == name)
        .ok_or_else(|| invalid(&format!("`{key}` must be rgba8, rgb8, i420 or jpeg")))
    }

    fn grant(&self) -> Result<LeaseGrant> {
        Ok(LeaseGrant {
            stream_id: self.text("stream_id")?,
            stream_index: self.whole("stream_index")?,
            whip_url: self.text("whip_url")?,
            frame_rate: self.whole("frame_rate")?,
            width: self.whole("width")?,
            height: self.whole("height")?,
            max_bitrate_kbps: self.whole("max_bitrate_kbps")?,
        })
    }
}

/// Parses a text message from the relay.
pub fn decode(text: &str) -> Result<RelayMessage> {
    let value = js_sys::JSON::parse(text).map_err(|_| invalid("not JSON"))?;
    if !value.is_object() {
        return Err(invalid("not a JSON object"));
    }
    let fields = Fields(value);
    let kind = fields.text("type")?;
    Ok(match kind.as_str() {
        // Fields an older relay does not send mean what it did: raw frames, no acks.
        "welcome" => RelayMessage::Welcome {
            protocol: fields.whole("protocol")?,
            agent_id: fields.text("agent_id")?,
            link: if js::string(&fields.0, "link").as_deref() == Some("jpeg") {
                LinkFormat::Jpeg
            } else {
                LinkFormat::Raw
            },
            jpeg_quality: js::number(&fields.0, "jpeg_quality").map(|q| q as u8),
            max_in_flight: js::number(&fields.0, "max_in_flight").map(|n| n as u32),
        },
        "publish" => RelayMessage::Publish(fields.grant()?),
        "settings" => RelayMessage::Settings(fields.grant()?),
        "play" => RelayMessage::Play(OutputRequest {
            stream_id: fields.text("stream_id")?,
            stream_index: fields.whole("stream_index")?,
            whep_url: fields.text("whep_url")?,
            format: fields.format("format")?,
        }),
        "output_demand" => RelayMessage::OutputDemand {
            stream_id: fields.text("stream_id")?,
            wanted: js::get(&fields.0, "wanted")
                .as_bool()
                .ok_or_else(|| invalid("`wanted` must be true or false"))?,
        },
        "stop" => RelayMessage::Stop {
            stream_id: fields.text("stream_id")?,
            reason: fields.text("reason")?,
        },
        "error" => RelayMessage::Error {
            code: fields.text("code")?,
            message: fields.text("message")?,
        },
        other => return Err(invalid(&format!("unknown type `{other}`"))),
    })
}
