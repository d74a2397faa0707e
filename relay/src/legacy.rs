//! The original package's single-stream API (`/start`, `/stop`, `/status`, `/frames`,
//! `PATCH /pipeline`, `/config`, `/whep/status`), kept so existing scripts and workflows
//! work. Each route acts on the current stream (the one created last), except that `/start`
//! and `/stop` end only the stream `/start` itself started, never one a workflow made
//! through `/v1/streams`, and `/start` checks the whole request before it deletes anything.

use std::sync::Arc;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use base64::Engine;
use rtc_protocol::{FRAME_HEADER_LEN, MediaState, PixelFormat};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiJson, ApiResult};
use crate::runtime_config::FrameSettingsPatch;
use crate::streams::{self, CreateRequest, PipelineConfig, StreamEntry, UpdateRequest};
use crate::{AppState, lock};

/// The stream `/start` started last; the lock also keeps two starts from interleaving.
#[derive(Debug, Default)]
pub struct Started(tokio::sync::Mutex<Option<String>>);

/// Routes of this module.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/start", post(start))
        .route("/stop", post(stop))
        .route("/status", get(status))
        .route("/frames", post(frames))
        .route("/pipeline", patch(update_pipeline))
        .route("/config", get(get_config).post(set_config))
        .route("/whep/status", get(whep_status))
}

/// `pipeline_config` in either the current or the legacy (`pipeline_params`) shape.
fn pipeline_config(value: Option<Value>) -> ApiResult<Option<PipelineConfig>> {
    let Some(Value::Object(mut map)) = value else {
        return Ok(None);
    };
    if map.is_empty() {
        return Ok(None);
    }
    if let Some(params) = map.remove("pipeline_params") {
        map.entry("params").or_insert(params);
    }
    map.remove("pipeline_id");
    serde_json::from_value(Value::Object(map))
        .map(Some)
        .map_err(|e| ApiError::Unprocessable {
            code: "invalid_pipeline_config",
            message: format!("pipeline_config: {e}"),
        })
}

fn status_json(state: &AppState, entry: Option<&StreamEntry>) -> Value {
    let settings = entry.map_or_else(|| state.runtime.get(), |e| lock(&e.info).settings);
    let Some(entry) = entry else {
        return json!({
            "running": false, "frames_sent": 0, "stream_id": "", "playback_id": "",
            "whip_url": "", "remote_status": {}, "queue_depth": 0,
            "queue_stats": {"queued": 0, "dropped": 0, "depth": 0},
            "stream_settings": {"frame_rate": settings.frame_rate,
                "frame_width": settings.width, "frame_height": settings.height},
            "stream": null,
        });
    };
    let view = streams::view(state, entry);
    let frames = &view["frames"];
    json!({
        "running": true,
        "state": view["state"],
        "frames_sent": frames["sent"],
        "stream_id": entry.id,
        "playback_id": view["playback_id"],
        "whip_url": view["whip_url"],
        "started_at": entry.created_at,
        "remote_status": view["remote"],
        "queue_depth": frames["queue_depth"],
        "queue_stats": {"queued": frames["received"], "dropped": frames["dropped"],
            "depth": frames["queue_depth"]},
        "stream_settings": {"frame_rate": settings.frame_rate,
            "frame_width": settings.width, "frame_height": settings.height},
        "stream": view,
    })
}

#[derive(Debug, Default, Deserialize)]
struct StartRequest {
    #[serde(default)]
    stream_name: Option<String>,
    #[serde(default)]
    pipeline_config: Option<Value>,
    #[serde(default)]
    frame_rate: Option<u32>,
    #[serde(default)]
    frame_width: Option<u32>,
    #[serde(default)]
    frame_height: Option<u32>,
}

/// The original's routes took JSON; requiring the type also keeps pages on other origins
/// from posting a form or `text/plain` at them.
fn require_json(headers: &HeaderMap) -> ApiResult<()> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if json {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(
            "send the body as JSON with `Content-Type: application/json`".into(),
        ))
    }
}

/// Everything a create checks locally, so a bad `/start` fails before the running stream
/// is deleted.
fn check_start(state: &AppState, create: &CreateRequest) -> ApiResult<()> {
    state.runtime.get().patched(FrameSettingsPatch {
        frame_rate: create.frame_rate,
        width: create.width,
        height: create.height,
    })?;
    if let Some(params) = create
        .pipeline_config
        .as_ref()
        .and_then(|c| c.params.clone())
    {
        crate::local::params::validate(&Value::Object(params)).map_err(|e| {
            ApiError::Unprocessable {
                code: "invalid_params",
                message: format!("{}: {}", e.field, e.message),
            }
        })?;
    }
    Ok(())
}

async fn start(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    require_json(&headers)?;
    // The original accepted an empty body; so does this route.
    let request: StartRequest = if body.iter().all(u8::is_ascii_whitespace) {
        StartRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request("malformed_json", format!("invalid JSON body: {e}"))
        })?
    };
    let create = CreateRequest {
        name: request.stream_name,
        pipeline_config: pipeline_config(request.pipeline_config)?,
        frame_rate: request.frame_rate,
        width: request.frame_width,
        height: request.frame_height,
    };
    check_start(&state, &create)?;
    let mut started = state.legacy.0.lock().await;
    // Like the original, a start replaces the stream the previous start made.
    if let Some(previous) = started.take().and_then(|id| state.streams.get(&id)) {
        streams::delete(&state, &previous).await;
    }
    let entry = streams::create(&state, create).await?;
    *started = Some(entry.id.clone());
    Ok(Json(status_json(&state, Some(&entry))))
}

/// Deletes the stream `/start` made. A stream a workflow created through `/v1/streams` is
/// not the legacy routes' to end: with no stream of their own running they answer 409.
async fn stop(State(state): State<Arc<AppState>>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    require_json(&headers)?;
    let mut started = state.legacy.0.lock().await;
    if let Some(own) = started.take().and_then(|id| state.streams.get(&id)) {
        streams::delete(&state, &own).await;
    } else if let Some(other) = state.streams.current() {
        return Err(ApiError::conflict(
            "not_started_here",
            format!(
                "stream {} was created through /v1/streams, not /start; end it with DELETE /v1/streams/{}",
                other.id, other.id
            ),
        ));
    }
    Ok(Json(status_json(&state, None)))
}

async fn status(State(state): State<Arc<AppState>>) -> Json<Value> {
    let current = state.streams.current();
    Json(status_json(&state, current.as_deref()))
}

fn current(state: &AppState) -> ApiResult<Arc<StreamEntry>> {
    state.streams.current().ok_or_else(|| {
        ApiError::conflict("no_current_stream", "no stream is running; start one first")
    })
}

#[derive(Debug, Deserialize)]
struct FrameB64 {
    frame_b64: String,
}

/// The PNG in a `{"frame_b64": "<base64 PNG>"}` body, decoded to RGB after room for a header.
fn decode_frame_b64(body: &[u8], max: usize) -> ApiResult<crate::pixels::DecodedPng> {
    let request: FrameB64 = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            "malformed_json",
            format!("expected {{\"frame_b64\": \"<base64 PNG>\"}}: {e}"),
        )
    })?;
    let png = base64::engine::general_purpose::STANDARD
        .decode(request.frame_b64.trim())
        .map_err(|e| {
            ApiError::bad_request("bad_base64", format!("frame_b64 is not base64: {e}"))
        })?;
    crate::pixels::decode_png_rgb(&png, FRAME_HEADER_LEN, max)
        .map_err(|e| ApiError::bad_request("bad_png", e))
}

/// Raw pixels with `X-Frame-*` headers, or the original's `{"frame_b64": "<PNG>"}`.
async fn frames(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Value>> {
    let entry = current(&state)?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let max = state.config.max_frame_bytes;
    let (message, format, width, height) = if is_json {
        // Base64 is 4/3 of the PNG, and a PNG is at most a little larger than its pixels.
        let limit = max / 3 * 4 + 4096;
        let bytes = to_bytes(body, limit).await.map_err(|_| {
            ApiError::PayloadTooLarge("the frame_b64 body is larger than the frame limit".into())
        })?;
        // Parsing, base64 and PNG decoding of up to tens of megabytes: off the async workers.
        let decoded = crate::blocking(move || decode_frame_b64(&bytes, max)).await??;
        rtc_protocol::check_payload(
            PixelFormat::Rgb8,
            decoded.width,
            decoded.height,
            decoded.buffer.len() - FRAME_HEADER_LEN,
        )
        .map_err(|e| ApiError::bad_request("bad_frame_size", e.to_string()))?;
        streams::require_publisher(&state, &entry)?;
        (
            decoded.buffer,
            PixelFormat::Rgb8,
            decoded.width,
            decoded.height,
        )
    } else {
        let (format, width, height) = streams::frame_layout(&headers)?;
        streams::require_publisher(&state, &entry)?;
        let message = streams::read_pixels(body, format.frame_len(width, height), max).await?;
        (message, format, width, height)
    };
    let accepted = streams::accept_frame(&entry, message, format, width, height, crate::now_us());
    Ok(Json(json!({
        "accepted": true,
        "queue_depth": entry.frames.uplink.depth(),
        "sequence": accepted.sequence,
        "dropped": accepted.dropped,
    })))
}

#[derive(Debug, Deserialize)]
struct PipelineRequest {
    pipeline_config: Value,
}

async fn update_pipeline(
    State(state): State<Arc<AppState>>,
    ApiJson(request): ApiJson<PipelineRequest>,
) -> ApiResult<Json<Value>> {
    let entry = current(&state)?;
    let config =
        pipeline_config(Some(request.pipeline_config))?.ok_or_else(|| ApiError::Unprocessable {
            code: "invalid_pipeline_config",
            message: "pipeline_config must be an object with params".into(),
        })?;
    streams::update(
        &state,
        &entry,
        UpdateRequest {
            pipeline_config: Some(config),
            ..UpdateRequest::default()
        },
    )
    .await?;
    let info = lock(&entry.info);
    Ok(Json(json!({
        "updated": true,
        "stream_id": entry.id,
        "pipeline": info.pipeline,
        "params": Value::Object(info.params.clone()),
    })))
}

fn config_json(state: &AppState) -> Value {
    let settings = state.runtime.get();
    json!({
        "frame_rate": settings.frame_rate,
        "frame_width": settings.width,
        "frame_height": settings.height,
        // Settings apply to the next stream; running streams keep theirs.
        "locked": false,
    })
}

async fn get_config(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(config_json(&state))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyConfig {
    #[serde(default)]
    frame_rate: Option<u32>,
    #[serde(default)]
    frame_width: Option<u32>,
    #[serde(default)]
    frame_height: Option<u32>,
}

async fn set_config(
    State(state): State<Arc<AppState>>,
    ApiJson(request): ApiJson<LegacyConfig>,
) -> ApiResult<Json<Value>> {
    let patch = FrameSettingsPatch {
        frame_rate: request.frame_rate,
        width: request.frame_width,
        height: request.frame_height,
    };
    let persisted = state.clone();
    crate::blocking(move || persisted.runtime.update(patch)).await??;
    Ok(Json(config_json(&state)))
}

async fn whep_status(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Value>) {
    let Some(entry) = state.streams.current() else {
        return (
            StatusCode::OK,
            Json(
                json!({"whep_url": null, "connected": false, "connecting": false,
                "connection_state": "idle", "frames_received": 0, "last_error": null}),
            ),
        );
    };
    let info = lock(&entry.info);
    let player = info.player.as_ref();
    let player_state = player.map(|p| p.state);
    let stats = player.map(|p| &p.stats);
    let connection_state = match player_state {
        Some(MediaState::Live) => "connected",
        Some(MediaState::Connecting) => "connecting",
        Some(MediaState::Reconnecting) => "reconnecting",
        Some(MediaState::Failed) => "failed",
        Some(MediaState::Ended) => "closed",
        Some(MediaState::Idle) | None => "idle",
    };
    let mut body = Map::new();
    body.insert(
        "whep_url".into(),
        info.whep_url.as_ref().map_or(Value::Null, |_| {
            json!(format!("/v1/streams/{}/whep", entry.id))
        }),
    );
    body.insert(
        "connected".into(),
        json!(player_state == Some(MediaState::Live)),
    );
    body.insert(
        "connecting".into(),
        json!(matches!(
            player_state,
            Some(MediaState::Connecting | MediaState::Reconnecting)
        )),
    );
    body.insert("connection_state".into(), json!(connection_state));
    body.insert(
        "frames_received".into(),
        json!(entry.frames.output.sequence()),
    );
    body.insert(
        "last_error".into(),
        json!(player.and_then(|p| p.error.clone())),
    );
    body.insert("stats".into(), json!(stats));
    (StatusCode::OK, Json(Value::Object(body)))
}
