//! The local backend's Daydream-shaped REST API under `/local/v1/streams`: `str_…` ids,
//! `stk_…` keys, 201 on create, both DELETE forms, `/status` going LOADING → ONLINE once the
//! media server sees media, params validated like the real runner, Daydream's error
//! envelope, and fault injection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::faults::{Fault, FaultRoute, FaultRule, Faults, JournalEntry, When};
use super::media::{MediaServer, MediaStatus, whep_path, whip_path};
use super::params;
use crate::AppState;
use crate::config::Secret;
use crate::error::{ApiError, ApiJson};
use crate::lock;

/// One stream of the local backend.
#[derive(Debug, Clone)]
struct LocalStream {
    id: String,
    stream_key: String,
    name: String,
    pipeline: String,
    params: Value,
    playback_id: String,
    created_at: String,
    created_ms: u128,
    params_updated_ms: u128,
    ever_online: bool,
}

/// The local backend's REST state.
#[derive(Debug)]
pub struct LocalBackend {
    streams: Mutex<HashMap<String, LocalStream>>,
    media: MediaServer,
    base_url: String,
    key: Secret,
    pub(super) faults: Faults,
    pub(super) sign_ins: super::sign_in::Issued,
}

impl LocalBackend {
    /// `base_url` is `http://<bound addr>/local`; `key` is the only API key accepted.
    pub fn new(media: MediaServer, base_url: String, key: Secret, faults: Vec<FaultRule>) -> Self {
        let backend = Self {
            streams: Mutex::default(),
            media,
            base_url,
            key,
            faults: Faults::default(),
            sign_ins: super::sign_in::Issued::default(),
        };
        // Rules were checked when parsed.
        let _ = backend.faults.set(faults);
        backend
    }

    fn stream_json(&self, s: &LocalStream) -> Value {
        json!({
            "id": s.id,
            "stream_key": s.stream_key,
            "whip_url": format!("{}{}", self.base_url, whip_path(&s.stream_key)),
            "output_playback_id": s.playback_id,
            "output_stream_url": "",
            "pipeline": s.pipeline,
            "params": s.params,
            "created_at": s.created_at,
            "name": s.name,
            "author": "local",
            "from_playground": false,
            "gateway_host": self.base_url.trim_start_matches("http://").trim_end_matches("/local"),
            "is_smoke_test": false,
        })
    }

    fn status_json(&self, s: &mut LocalStream) -> Value {
        let media = self.media.status(&s.stream_key);
        let m = media.clone().unwrap_or_default();
        let state = match &media {
            Some(MediaStatus {
                media_flowing: true,
                ..
            }) => "ONLINE",
            Some(MediaStatus {
                publisher_connected: true,
                ..
            }) if s.ever_online => "DEGRADED_INPUT",
            _ if s.ever_online => "OFFLINE",
            _ => "LOADING",
        };
        if state == "ONLINE" {
            s.ever_online = true;
        }
        // Like the gateway, the WHEP URL shows up once a publisher is connected, a little
        // before the stream is ONLINE.
        let whep_url = m
            .publisher_connected
            .then(|| format!("{}{}", self.base_url, whep_path(&s.stream_key)));
        let now = now_ms();
        json!({
            "success": true,
            "error": null,
            "data": {
                "stream_id": s.id,
                "type": "status",
                "pipeline": s.pipeline,
                "state": state,
                "timestamp": now,
                "start_time": s.created_ms,
                "gateway_status": {
                    "whep_url": whep_url,
                    "ingest_metrics": {"stats": {
                        "conn_quality": if m.media_flowing { "good" } else { "unknown" },
                        "track_stats": [{"type": "video", "packets_received": m.packets_in}],
                    }},
                },
                "inference_status": {
                    "last_params": s.params,
                    "last_params_update_time": s.params_updated_ms,
                    "last_error": null,
                    "restart_count": 0,
                    "packets_out": m.packets_out,
                    "viewers": m.viewers,
                },
                "input_status": {"publisher_connected": m.publisher_connected},
            }
        })
    }
}

/// Daydream's error envelope.
#[derive(Debug)]
pub(super) struct EnvelopeError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Option<Value>,
    retry_after: Option<u32>,
}

impl EnvelopeError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    fn not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "STREAMS/NOT_FOUND",
            format!("Stream {id} not found"),
        )
    }

    fn invalid(e: &params::ParamsError) -> Self {
        let mut error = Self::new(
            StatusCode::BAD_REQUEST,
            "STREAMS/INVALID_PARAMS",
            e.to_string(),
        );
        error.details = Some(json!([{"path": e.field, "message": e.message}]));
        error
    }
}

impl IntoResponse for EnvelopeError {
    fn into_response(self) -> Response {
        let body = json!({
            "success": false,
            "error": self.message,
            "code": self.code,
            "status": self.status.as_u16(),
            "details": self.details,
        });
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

pub(super) type LocalResult<T> = Result<T, EnvelopeError>;

/// Routes of the local REST API, to be nested under `/local`.
pub fn router(state: &Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/v1/streams",
            get(list_streams)
                .post(create_stream)
                .delete(delete_by_query),
        )
        .route(
            "/v1/streams/{id}",
            get(get_stream).patch(update_stream).delete(delete_by_path),
        )
        .route("/v1/streams/{id}/status", get(stream_status))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_key))
        .route(
            "/_faults",
            get(list_faults).put(set_faults).delete(clear_faults),
        )
}

/// The stand-in is reachable by anything on the machine (its routes need no relay token, so
/// the relay's own client can call it like the cloud), hence it accepts only the key the
/// relay generated at start and handed to that client; anything else gets Daydream's 401.
async fn require_key(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let ok = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .is_some_and(|(scheme, key)| {
            scheme.eq_ignore_ascii_case("bearer")
                && crate::auth::secrets_match(state.local.key.expose(), key.trim())
        });
    if !ok {
        return EnvelopeError::new(
            StatusCode::UNAUTHORIZED,
            "AUTH/UNAUTHORIZED",
            "Missing or invalid API key",
        )
        .into_response();
    }
    next.run(request).await
}

/// Records the call and applies a pending fault that strikes before it is served; returns
/// one that strikes on its answer instead (see [`strike`]).
pub(super) async fn enter(
    faults: &Faults,
    route: FaultRoute,
    stream_id: Option<&str>,
    body: Option<&Value>,
) -> LocalResult<Option<Fault>> {
    let fault = faults.take(route);
    faults.record(JournalEntry {
        route,
        stream_id: stream_id.map(str::to_owned),
        body: body.cloned(),
        faulted: matches!(fault, Some((Fault::Status { .. }, _))),
    });
    match fault {
        Some((fault, When::Before)) => strike(fault).await.map(|()| None),
        Some((fault, When::After)) => Ok(Some(fault)),
        None => Ok(None),
    }
}

/// An error answer, or a stall before the normal one.
async fn strike(fault: Fault) -> LocalResult<()> {
    match fault {
        Fault::Status {
            status,
            retry_after,
        } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut error = EnvelopeError::new(status, "FAULT/INJECTED", "injected fault");
            error.retry_after = retry_after;
            Err(error)
        }
        Fault::Stall(duration) => {
            tokio::time::sleep(duration).await;
            Ok(())
        }
    }
}

pub(super) fn parse_body(headers: &HeaderMap, bytes: &Bytes) -> LocalResult<Value> {
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_type {
        return Err(EnvelopeError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "REQUEST/UNSUPPORTED_MEDIA_TYPE",
            "Content-Type must be application/json",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        EnvelopeError::new(
            StatusCode::BAD_REQUEST,
            "REQUEST/INVALID_JSON",
            format!("Invalid JSON: {e}"),
        )
    })
}

/// `{pipeline, params}` or the legacy `{pipeline_id, pipeline_params}`.
fn pipeline_and_params(body: &Value) -> LocalResult<(String, Option<Value>)> {
    let known = &crate::catalog::get().pipeline;
    let pipeline = body
        .get("pipeline")
        .and_then(Value::as_str)
        .map_or_else(|| known.clone(), str::to_owned);
    if &pipeline != known {
        let mut e = EnvelopeError::new(
            StatusCode::BAD_REQUEST,
            "STREAMS/INVALID_PARAMS",
            format!("unknown pipeline {pipeline:?}; only {known} is available"),
        );
        e.details = Some(json!([{"path": "pipeline"}]));
        return Err(e);
    }
    let params = body
        .get("params")
        .or_else(|| body.get("pipeline_params"))
        .cloned();
    Ok((pipeline, params))
}

async fn create_stream(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> LocalResult<(StatusCode, Json<Value>)> {
    let backend = &state.local;
    let body = parse_body(&headers, &bytes)?;
    let answer_fault = enter(&backend.faults, FaultRoute::Create, None, Some(&body)).await?;
    let (pipeline, params) = pipeline_and_params(&body)?;
    let params = params.ok_or_else(|| {
        EnvelopeError::invalid(&params::ParamsError {
            field: "params".into(),
            message: "is required".into(),
        })
    })?;
    params::validate(&params).map_err(|e| EnvelopeError::invalid(&e))?;
    let id = format!("str_{}", nanoid());
    let stream_key = format!("stk_{}", nanoid());
    let now = now_ms();
    let stream = LocalStream {
        name: body
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map_or_else(|| format!("Stream {id}"), str::to_owned),
        id: id.clone(),
        stream_key: stream_key.clone(),
        pipeline,
        params,
        playback_id: nanoid().to_ascii_lowercase(),
        created_at: crate::rfc3339_now(),
        created_ms: now,
        params_updated_ms: now,
        ever_online: false,
    };
    backend.media.open_stream(&stream_key, &stream.params);
    let json = backend.stream_json(&stream);
    tracing::info!(stream = %id, "local backend: stream created");
    lock(&backend.streams).insert(id, stream);
    if let Some(fault) = answer_fault {
        strike(fault).await?;
    }
    Ok((StatusCode::CREATED, Json(json)))
}

async fn list_streams(State(state): State<Arc<AppState>>) -> LocalResult<Json<Value>> {
    let backend = &state.local;
    enter(&backend.faults, FaultRoute::List, None, None).await?;
    let streams = lock(&backend.streams);
    let data: Vec<Value> = streams.values().map(|s| backend.stream_json(s)).collect();
    Ok(Json(json!({"success": true, "data": data})))
}

async fn get_stream(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> LocalResult<Json<Value>> {
    let backend = &state.local;
    enter(&backend.faults, FaultRoute::Get, Some(&id), None).await?;
    let streams = lock(&backend.streams);
    let stream = streams
        .get(&id)
        .ok_or_else(|| EnvelopeError::not_found(&id))?;
    Ok(Json(backend.stream_json(stream)))
}

async fn update_stream(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> LocalResult<Json<Value>> {
    let backend = &state.local;
    let body = parse_body(&headers, &bytes)?;
    enter(&backend.faults, FaultRoute::Update, Some(&id), Some(&body)).await?;
    let (_, patch) = pipeline_and_params(&body)?;
    let Some(Value::Object(patch)) = patch else {
        return Err(EnvelopeError::invalid(&params::ParamsError {
            field: "params".into(),
            message: "must be an object".into(),
        }));
    };
    let mut streams = lock(&backend.streams);
    let stream = streams
        .get_mut(&id)
        .ok_or_else(|| EnvelopeError::not_found(&id))?;
    let mut merged = stream.params.clone();
    if let Value::Object(target) = &mut merged {
        target.extend(patch);
    }
    params::validate(&merged).map_err(|e| EnvelopeError::invalid(&e))?;
    backend.media.update_params(&stream.stream_key, &merged);
    stream.params = merged;
    stream.params_updated_ms = now_ms();
    Ok(Json(backend.stream_json(stream)))
}

#[derive(Debug, Deserialize)]
struct DeleteQuery {
    id: Option<String>,
}

async fn delete_by_query(
    State(state): State<Arc<AppState>>,
    Query(query): Query<DeleteQuery>,
) -> LocalResult<Json<Value>> {
    let id = query.id.filter(|i| !i.is_empty()).ok_or_else(|| {
        EnvelopeError::new(
            StatusCode::BAD_REQUEST,
            "REQUEST/MISSING_ID",
            "query parameter id is required",
        )
    })?;
    delete(&state.local, &id).await
}

async fn delete_by_path(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> LocalResult<Json<Value>> {
    delete(&state.local, &id).await
}

async fn delete(backend: &LocalBackend, id: &str) -> LocalResult<Json<Value>> {
    enter(&backend.faults, FaultRoute::Delete, Some(id), None).await?;
    let removed = lock(&backend.streams).remove(id);
    let stream = removed.ok_or_else(|| EnvelopeError::not_found(id))?;
    backend.media.close_stream(&stream.stream_key);
    tracing::info!(stream = %id, "local backend: stream deleted");
    Ok(Json(json!({"success": true, "data": {}})))
}

async fn stream_status(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> LocalResult<Json<Value>> {
    let backend = &state.local;
    enter(&backend.faults, FaultRoute::Status, Some(&id), None).await?;
    let mut streams = lock(&backend.streams);
    let stream = streams
        .get_mut(&id)
        .ok_or_else(|| EnvelopeError::not_found(&id))?;
    Ok(Json(backend.status_json(stream)))
}

#[derive(Debug, Deserialize)]
struct FaultsBody {
    rules: Vec<FaultRule>,
}

async fn list_faults(State(state): State<Arc<AppState>>) -> Json<Value> {
    let faults = &state.local.faults;
    Json(json!({"rules": faults.rules(), "journal": faults.journal()}))
}

async fn set_faults(
    State(state): State<Arc<AppState>>,
    ApiJson(body): ApiJson<FaultsBody>,
) -> Result<Json<Value>, ApiError> {
    state
        .local
        .faults
        .set(body.rules)
        .map_err(|m| ApiError::Unprocessable {
            code: "invalid_fault",
            message: m,
        })?;
    Ok(Json(json!({"rules": state.local.faults.rules()})))
}

async fn clear_faults(State(state): State<Arc<AppState>>) -> StatusCode {
    let _ = state.local.faults.set(Vec::new());
    StatusCode::NO_CONTENT
}

/// 16 characters from an alphabet without look-alikes, like Daydream's ids.
pub(super) fn nanoid() -> String {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    (0..16)
        .map(|_| char::from(ALPHABET[rand::random_range(0..ALPHABET.len())]))
        .collect()
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}
