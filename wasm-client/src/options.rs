//! Reads the option objects passed from JavaScript. Read by hand rather than through serde:
//! the generic deserializer costs far more code than these few typed fields.

use rtc_protocol::LinkChoice;
use wasm_bindgen::JsValue;

use crate::agent::AgentOptions;
use crate::error::{ClientError, ErrorCode, Result};
use crate::js;
use crate::player::PlayerOptions;
use crate::publisher::{BroadcastOptions, SourceKind};
use crate::state::ReconnectOptions;

fn invalid(what: &str, key: &str, expected: &str) -> ClientError {
    ClientError::new(
        ErrorCode::InvalidOptions,
        format!("{what}.{key} must be {expected}"),
    )
}

fn present(obj: &JsValue, key: &str) -> Option<JsValue> {
    let value = js::get(obj, key);
    (!value.is_undefined() && !value.is_null()).then_some(value)
}

fn string(obj: &JsValue, what: &str, key: &str) -> Result<Option<String>> {
    present(obj, key)
        .map(|v| v.as_string().ok_or_else(|| invalid(what, key, "a string")))
        .transpose()
}

fn number(obj: &JsValue, what: &str, key: &str) -> Result<Option<f64>> {
    present(obj, key)
        .map(|v| {
            v.as_f64()
                .filter(|n| n.is_finite())
                .ok_or_else(|| invalid(what, key, "a number"))
        })
        .transpose()
}

fn count(obj: &JsValue, what: &str, key: &str) -> Result<Option<u32>> {
    match number(obj, what, key)? {
        Some(n) if n >= 0.0 && n <= f64::from(u32::MAX) && n.fract() == 0.0 => Ok(Some(n as u32)),
        Some(_) => Err(invalid(what, key, "a whole number ≥ 0")),
        None => Ok(None),
    }
}

fn boolean(obj: &JsValue, what: &str, key: &str) -> Result<Option<bool>> {
    present(obj, key)
        .map(|v| {
            v.as_bool()
                .ok_or_else(|| invalid(what, key, "true or false"))
        })
        .transpose()
}

fn object(value: &JsValue, what: &str) -> Result<JsValue> {
    if value.is_undefined() || value.is_null() {
        Ok(js::object())
    } else if value.is_object() {
        Ok(value.clone())
    } else {
        Err(ClientError::new(
            ErrorCode::InvalidOptions,
            format!("{what} must be an object"),
        ))
    }
}

fn reconnect(obj: &JsValue, what: &str) -> Result<ReconnectOptions> {
    let mut out = ReconnectOptions::default();
    let Some(value) = present(obj, "reconnect") else {
        return Ok(out);
    };
    let what = format!("{what}.reconnect");
    let r = object(&value, &what)?;
    out.enabled = boolean(&r, &what, "enabled")?.unwrap_or(out.enabled);
    out.max_attempts = count(&r, &what, "maxAttempts")?.unwrap_or(out.max_attempts);
    out.base_delay_ms = count(&r, &what, "baseDelayMs")?.unwrap_or(out.base_delay_ms);
    out.max_delay_ms = count(&r, &what, "maxDelayMs")?.unwrap_or(out.max_delay_ms);
    Ok(out)
}

fn source(obj: &JsValue, what: &str) -> Result<SourceKind> {
    match string(obj, what, "source")?.as_deref() {
        None | Some("auto") => Ok(SourceKind::Auto),
        Some("generator") => Ok(SourceKind::Generator),
        Some("canvas") => Ok(SourceKind::Canvas),
        Some(_) => Err(invalid(
            what,
            "source",
            "\"auto\", \"generator\" or \"canvas\"",
        )),
    }
}

/// `BroadcastOptions`.
pub(crate) fn broadcast(value: &JsValue) -> Result<BroadcastOptions> {
    const WHAT: &str = "BroadcastOptions";
    let o = object(value, WHAT)?;
    let defaults = BroadcastOptions::new(String::new());
    Ok(BroadcastOptions {
        whip_url: string(&o, WHAT, "whipUrl")?
            .ok_or_else(|| invalid(WHAT, "whipUrl", "the WHIP endpoint URL"))?,
        token: string(&o, WHAT, "token")?,
        frame_rate: number(&o, WHAT, "frameRate")?.unwrap_or(defaults.frame_rate),
        max_bitrate_kbps: count(&o, WHAT, "maxBitrateKbps")?.unwrap_or(defaults.max_bitrate_kbps),
        codec: string(&o, WHAT, "codec")?.unwrap_or(defaults.codec),
        reconnect: reconnect(&o, WHAT)?,
        ice_gathering_timeout_ms: count(&o, WHAT, "iceGatheringTimeoutMs")?
            .unwrap_or(defaults.ice_gathering_timeout_ms),
        source: source(&o, WHAT)?,
    })
}

/// `PlayerOptions`.
pub(crate) fn player(value: &JsValue) -> Result<PlayerOptions> {
    const WHAT: &str = "PlayerOptions";
    let o = object(value, WHAT)?;
    Ok(PlayerOptions {
        token: string(&o, WHAT, "token")?,
        reconnect: reconnect(&o, WHAT)?,
        ice_gathering_timeout_ms: count(&o, WHAT, "iceGatheringTimeoutMs")?,
    })
}

/// `AgentOptions`.
pub(crate) fn agent(value: &JsValue) -> Result<AgentOptions> {
    const WHAT: &str = "AgentOptions";
    let o = object(value, WHAT)?;
    Ok(AgentOptions {
        base_url: string(&o, WHAT, "baseUrl")?,
        label: string(&o, WHAT, "label")?,
        publish: boolean(&o, WHAT, "publish")?,
        fallback: boolean(&o, WHAT, "fallback")?,
        reconnect: reconnect(&o, WHAT)?,
        stats_interval_ms: count(&o, WHAT, "statsIntervalMs")?,
        source: source(&o, WHAT)?,
        link: match string(&o, WHAT, "link")?.as_deref() {
            None | Some("auto") => None,
            Some("raw") => Some(LinkChoice::Raw),
            Some("jpeg") => Some(LinkChoice::Jpeg),
            Some(_) => return Err(invalid(WHAT, "link", "auto, raw or jpeg")),
        },
        jpeg: present(&o, "jpeg")
            .map(|codec| {
                let method = |name| js::get(&codec, name).is_function();
                (method("decode") && method("encode"))
                    .then_some(codec.clone())
                    .ok_or_else(|| invalid(WHAT, "jpeg", "a codec with decode and encode"))
            })
            .transpose()?,
    })
}
