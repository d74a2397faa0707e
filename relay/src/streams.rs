//! `/v1/streams`: create, list, read, update params, delete, push frames in and read
//! processed frames out. Each stream keeps its remote status fresh with
//! one background poller, so reads are served from memory.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use rtc_protocol::{FRAME_HEADER_LEN, FrameHeader, PixelFormat, check_payload};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use tokio::sync::oneshot;

use crate::agent::lease_input;
use crate::config::Backend;
use crate::daydream::{DaydreamClient, DaydreamError, RemoteStatus};
use crate::error::{ApiError, ApiJson, ApiResult};
use crate::hub::StreamFrames;
use crate::leases::Input;
pub use crate::registry::{StreamEntry, StreamInfo, changed, view};
use crate::runtime_config::FrameSettingsPatch;
use crate::telemetry::escaped;
use crate::{AppState, lock};

/// Longest `wait_ms` honoured by `GET /output` (below the request timeout).
pub const MAX_OUTPUT_WAIT: Duration = Duration::from_secs(25);
/// Status polls answered 404 in a row after which the remote stream counts as gone.
const GONE_AFTER_404S: u32 = 3;
/// Longest pause between status polls while Daydream keeps failing.
const MAX_POLL_BACKOFF: Duration = Duration::from_secs(60);

/// `pipeline_config` as the pack sends it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PipelineConfig {
    /// `streamdiffusion` when missing.
    #[serde(default)]
    pub pipeline: Option<String>,
    /// Params; must name `model_id` on create.
    #[serde(default)]
    pub params: Option<Map<String, Value>>,
}

/// Body of `POST /v1/streams`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    /// Label.
    #[serde(default)]
    pub name: Option<String>,
    /// Pipeline and params.
    #[serde(default)]
    pub pipeline_config: Option<PipelineConfig>,
    /// Overrides of the runtime config.
    #[serde(default)]
    pub frame_rate: Option<u32>,
    /// Width override.
    #[serde(default)]
    pub width: Option<u32>,
    /// Height override.
    #[serde(default)]
    pub height: Option<u32>,
}

/// Body of `PATCH /v1/streams/{id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    /// New pipeline and params.
    #[serde(default)]
    pub pipeline_config: Option<PipelineConfig>,
    /// Shorthand for `pipeline_config.params`.
    #[serde(default)]
    pub params: Option<Map<String, Value>>,
    /// New frame rate.
    #[serde(default)]
    pub frame_rate: Option<u32>,
    /// New width.
    #[serde(default)]
    pub width: Option<u32>,
    /// New height.
    #[serde(default)]
    pub height: Option<u32>,
}

fn default_params() -> Map<String, Value> {
    let catalog = crate::catalog::get();
    ["model_id", "prompt"]
        .into_iter()
        .map(|key| (key.to_owned(), catalog.default_of(key).clone()))
        .collect()
}

fn model_id(params: &Map<String, Value>) -> ApiResult<&str> {
    params
        .get("model_id")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ApiError::Unprocessable {
            code: "invalid_params",
            message: "pipeline_config.params.model_id is required (e.g. stabilityai/sdxl-turbo)"
                .into(),
        })
}

/// What a create has settled before Daydream is called.
struct NewStream {
    name: String,
    pipeline: String,
    params: Map<String, Value>,
    settings: crate::runtime_config::FrameSettings,
    backend: Backend,
    client: Arc<DaydreamClient>,
}

/// Creates a stream upstream and registers it as the current stream.
///
/// The remote create runs on a task of its own: when this call is dropped (the client went
/// away, the request timed out) or fails after Daydream created the stream, that task
/// deletes the stream, so nothing billable is left behind.
pub async fn create(state: &Arc<AppState>, request: CreateRequest) -> ApiResult<Arc<StreamEntry>> {
    let in_flight = state
        .begin_create()
        .ok_or_else(|| ApiError::Unavailable("the relay is shutting down".into()))?;
    let settings = state.runtime.get().patched(FrameSettingsPatch {
        frame_rate: request.frame_rate,
        width: request.width,
        height: request.height,
    })?;
    let config = request.pipeline_config.unwrap_or_default();
    let pipeline = config
        .pipeline
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| crate::catalog::get().pipeline.clone());
    let params = config.params.unwrap_or_else(default_params);
    model_id(&params)?;
    let name = request
        .name
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "ComfyUI stream".to_owned());
    if name.len() > 200 {
        return Err(ApiError::Unprocessable {
            code: "invalid_name",
            message: "name is longer than 200 characters".into(),
        });
    }
    let (backend, client) = state.credentials.client()?;
    let new = NewStream {
        name,
        pipeline,
        params,
        settings,
        backend,
        client,
    };
    let pending = Pending::announce(state, &new);
    let (answer, created) = oneshot::channel();
    let state = state.clone();
    tokio::spawn(async move {
        let name = new.name.clone();
        let result = create_remote(&state, new, &answer).await;
        if let Err(e) = &result {
            state.events.log(
                "warn",
                format!("stream {} could not be created: {e}", escaped(&name)),
            );
        }
        // The new stream (if any) is listed before its placeholder goes.
        drop(pending);
        if let Err(Ok(entry)) = answer.send(result) {
            tracing::warn!(stream = %entry.id, "the stream's creator went away; deleting it");
            delete(&state, &entry).await;
        }
        drop(in_flight);
    });
    created
        .await
        .map_err(|_| ApiError::Internal("the stream create was interrupted".into()))?
}

/// A create waiting for Daydream, listed (`GET /v1/streams`, a `stream` event) as a
/// `starting` stream under a provisional id from before Daydream is called until the create
/// ends, then removed with a `removed` event.
struct Pending {
    state: Arc<AppState>,
    id: String,
}

impl Pending {
    fn announce(state: &Arc<AppState>, new: &NewStream) -> Self {
        let id = format!("pending_{:016x}", rand::random::<u64>());
        let view = json!({
            "id": id, "provisional": true, "index": null, "name": new.name, "current": false,
            "created_at": crate::rfc3339_now(), "backend": new.backend.as_str(),
            "playback_id": null, "whip_url": null, "whep_url": null,
            "state": "starting", "error": null,
            "remote": {"state": "UNKNOWN", "status": null},
            "settings": new.settings,
            "pipeline_config": {"pipeline": new.pipeline, "params": new.params},
            "publisher": null, "player": null, "lease": null,
            "frames": StreamFrames::default().snapshot(),
        });
        state.streams.add_pending(view.clone());
        state.events.emit("stream", view);
        Self {
            state: state.clone(),
            id,
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.state.streams.remove_pending(&self.id);
        self.state.events.emit("removed", json!({ "id": self.id }));
    }
}

/// Creates the remote stream and registers it, unless nobody waits for it any more or the
/// relay is stopping; then the remote stream is deleted at once.
async fn create_remote(
    state: &Arc<AppState>,
    new: NewStream,
    answer: &oneshot::Sender<ApiResult<Arc<StreamEntry>>>,
) -> ApiResult<Arc<StreamEntry>> {
    let remote = new
        .client
        .create_stream(&new.name, &new.pipeline, &Value::Object(new.params.clone()))
        .await?;
    if new.backend == Backend::Daydream {
        state.ledger.add(&new.client, &remote.id).await;
    }
    let unusable = if remote.whip_url.is_empty() {
        Some(DaydreamError::BadResponse("stream without whip_url".into()).into())
    } else if state.is_shutting_down() {
        Some(ApiError::Unavailable("the relay is shutting down".into()))
    } else if answer.is_closed() {
        Some(ApiError::Internal("nobody waits for the stream".into()))
    } else {
        None
    };
    if let Some(error) = unusable {
        tracing::warn!(stream = %escaped(&remote.id), error = %escaped(&error), "deleting a stream that cannot be used");
        if let Err(e) = state.ledger.delete(&new.client, &remote.id).await {
            report_undeleted(state, &remote.id, &e.to_string());
        }
        return Err(error);
    }
    let entry = Arc::new(StreamEntry {
        id: remote.id.clone(),
        index: state.streams.next_index.fetch_add(1, Ordering::Relaxed) + 1,
        name: new.name,
        created_at: remote.created_at.clone().unwrap_or_else(crate::rfc3339_now),
        remote,
        backend: new.backend,
        client: new.client,
        frames: StreamFrames::default(),
        info: Mutex::new(StreamInfo {
            settings: new.settings,
            pipeline: new.pipeline,
            params: new.params,
            whep_url: None,
            remote_state: "LOADING".into(),
            remote_status: Value::Null,
            publisher: None,
            player: None,
            error: None,
            stopping: false,
        }),
        poller: Mutex::new(None),
    });
    state.streams.insert(entry.clone());
    tracing::info!(stream = %entry.id, index = entry.index, "stream created");
    state
        .events
        .log("info", format!("stream {} created", entry.id));
    let poller = tokio::spawn(poll_status(state.clone(), entry.clone()));
    *lock(&entry.poller) = Some(poller.abort_handle());
    lease_input(
        state,
        Input::StreamAdded {
            stream: entry.id.clone(),
            playback_known: false,
        },
    );
    changed(state, &entry);
    Ok(entry)
}

fn report_undeleted(state: &AppState, id: &str, error: &str) {
    tracing::warn!(stream = %escaped(id), error = %escaped(error), "remote stream not deleted");
    state.events.log(
        "warn",
        format!("stream {id} was not deleted upstream: {error}"),
    );
}

/// What an update did: the changed params a running stream takes live, and those that make
/// the service reload its pipeline (the catalog's `hot_swappable` decides).
#[derive(Debug, Default, serde::Serialize)]
pub struct Applied {
    /// Taken by the running pipeline.
    pub live: Vec<String>,
    /// Reload the pipeline (a short pause in the output).
    pub reload: Vec<String>,
}

/// Sends only the params that changed (plus `model_id`) and applies frame-setting changes.
pub async fn update(
    state: &Arc<AppState>,
    entry: &Arc<StreamEntry>,
    request: UpdateRequest,
) -> ApiResult<Applied> {
    let mut incoming = request.params.unwrap_or_default();
    let mut new_pipeline = None;
    if let Some(config) = request.pipeline_config {
        incoming.extend(config.params.unwrap_or_default());
        new_pipeline = config.pipeline.filter(|p| !p.is_empty());
    }
    let settings_patch = FrameSettingsPatch {
        frame_rate: request.frame_rate,
        width: request.width,
        height: request.height,
    };
    let (pipeline, current_model, changed_params, settings, applied) = {
        let info = lock(&entry.info);
        let changed_params: Map<String, Value> = incoming
            .into_iter()
            .filter(|(k, v)| info.params.get(k) != Some(v))
            .collect();
        let settings = info.settings.patched(settings_patch)?;
        let (live, reload) = crate::catalog::get().classify_update(&info.params, &changed_params);
        (
            new_pipeline.unwrap_or_else(|| info.pipeline.clone()),
            info.params
                .get("model_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            changed_params,
            settings,
            Applied { live, reload },
        )
    };
    if !changed_params.is_empty() {
        let model = changed_params
            .get("model_id")
            .and_then(Value::as_str)
            .map_or(current_model, str::to_owned);
        let mut to_send = changed_params.clone();
        to_send.remove("model_id");
        entry
            .client
            .update_stream(&entry.id, &pipeline, &model, &to_send)
            .await?;
        let mut info = lock(&entry.info);
        info.params.extend(changed_params);
        info.pipeline = pipeline;
    }
    let settings_changed = {
        let mut info = lock(&entry.info);
        let changed = info.settings != settings;
        info.settings = settings;
        changed
    };
    if settings_changed {
        crate::agent::settings_changed(state, entry);
    }
    changed(state, entry);
    Ok(applied)
}

/// Outcome of [`delete`].
#[derive(Debug)]
pub struct Deleted {
    /// Error from Daydream's DELETE, when it failed (the stream is forgotten anyway).
    pub remote_error: Option<String>,
}

/// Stops publishing, tears down WHIP/WHEP sessions and deletes the remote stream.
pub async fn delete(state: &Arc<AppState>, entry: &Arc<StreamEntry>) -> Deleted {
    lock(&entry.info).stopping = true;
    changed(state, entry);
    lease_input(
        state,
        Input::StreamStopping {
            stream: entry.id.clone(),
            reason: "stream deleted".into(),
        },
    );
    if let Some(poller) = lock(&entry.poller).take() {
        poller.abort();
    }
    // The billable part first: the REST delete does not wait for the media teardown.
    let ((), remote) = tokio::join!(
        crate::signalling::teardown(state, entry),
        state.ledger.delete(&entry.client, &entry.id),
    );
    let remote_error = remote.err().map(|e| e.to_string());
    if let Some(e) = &remote_error {
        report_undeleted(state, &entry.id, e);
    }
    state.streams.remove(&entry.id);
    state.events.emit("removed", json!({ "id": entry.id }));
    tracing::info!(stream = %entry.id, "stream deleted");
    state
        .events
        .log("info", format!("stream {} deleted", entry.id));
    Deleted { remote_error }
}

/// One poller per stream, so callers never wait on Daydream and polls never pile up. While
/// Daydream fails it backs off (at least as long as `Retry-After` asks), reports each new kind
/// of failure once, and stops for good when the key is rejected or the stream is gone.
async fn poll_status(state: Arc<AppState>, entry: Arc<StreamEntry>) {
    let interval = Duration::from_millis(state.config.status_interval_ms.max(100));
    let mut failures = 0_u32;
    let mut not_found = 0_u32;
    let mut reported: Option<&'static str> = None;
    loop {
        let delay = match entry.client.stream_status(&entry.id).await {
            Ok(status) => {
                failures = 0;
                not_found = 0;
                if reported.take().is_some() {
                    tracing::info!(stream = %entry.id, "status polls answer again");
                    state.events.log(
                        "info",
                        format!("stream {}: Daydream answers again", entry.id),
                    );
                }
                apply_status(&state, &entry, status);
                interval
            }
            Err(failure) => {
                let error = failure.error;
                failures = failures.saturating_add(1);
                not_found = match error {
                    DaydreamError::NotFound(_) => not_found + 1,
                    _ => 0,
                };
                let terminal = match error {
                    DaydreamError::Unauthorized => Some(("api_key_rejected", error.to_string())),
                    DaydreamError::NotFound(_) if not_found >= GONE_AFTER_404S => Some((
                        "remote_stream_gone",
                        format!(
                            "the stream no longer exists on Daydream ({not_found} status checks \
                             answered 404); delete it and create a new one"
                        ),
                    )),
                    _ => None,
                };
                if let Some((code, message)) = terminal {
                    fail(&state, &entry, code, &message);
                    return;
                }
                if reported != Some(error.code()) {
                    reported = Some(error.code());
                    tracing::warn!(stream = %entry.id, error = %escaped(&error), "status poll failed; backing off");
                    state.events.log(
                        "warn",
                        format!("stream {}: status check failed: {error}", entry.id),
                    );
                }
                poll_backoff(interval, failures, failure.retry_after)
            }
        };
        tokio::time::sleep(delay).await;
    }
}

/// Doubles the interval per failure in a row, up to [`MAX_POLL_BACKOFF`]; `Retry-After`
/// lengthens the wait (within the same cap) but never shortens it.
fn poll_backoff(interval: Duration, failures: u32, retry_after: Option<Duration>) -> Duration {
    let exponential = interval
        .saturating_mul(1_u32 << failures.min(10))
        .min(MAX_POLL_BACKOFF);
    retry_after
        .map_or(exponential, |after| exponential.max(after))
        .min(MAX_POLL_BACKOFF)
}

fn apply_status(state: &Arc<AppState>, entry: &Arc<StreamEntry>, status: RemoteStatus) {
    let (changed_now, new_whep) = {
        let mut info = lock(&entry.info);
        let mut changed_now = info.remote_state != status.state;
        info.remote_state = status.state;
        info.remote_status = status.data;
        let mut new_whep = false;
        if let Some(url) = status.whep_url
            && info.whep_url.is_none()
            && url != entry.remote.whip_url
        {
            info.whep_url = Some(url);
            changed_now = true;
            new_whep = true;
        }
        (changed_now, new_whep)
    };
    if new_whep {
        lease_input(
            state,
            Input::PlaybackKnown {
                stream: entry.id.clone(),
            },
        );
    }
    if changed_now {
        changed(state, entry);
    }
}

/// Puts a stream in the error state for a reason polling cannot get past.
fn fail(state: &AppState, entry: &StreamEntry, code: &'static str, message: &str) {
    {
        let mut info = lock(&entry.info);
        info.remote_state = "UNKNOWN".into();
        info.error = Some(format!("{code}: {message}"));
    }
    tracing::error!(stream = %entry.id, code, message = %escaped(message), "stream failed");
    state
        .events
        .log("error", format!("stream {}: {message}", entry.id));
    changed(state, entry);
}

/// Routes of this module.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/streams", get(list_streams).post(create_stream))
        .route(
            "/v1/streams/{id}",
            get(get_stream).patch(update_stream).delete(delete_stream),
        )
        // The body is read by `read_pixels`, which enforces the exact size itself.
        .route("/v1/streams/{id}/frames", post(post_frames))
        .route("/v1/streams/{id}/output", get(get_output))
}

async fn list_streams(State(state): State<Arc<AppState>>) -> Json<Value> {
    let streams: Vec<Value> = state
        .streams
        .list()
        .iter()
        .map(|s| view(&state, s))
        .chain(state.streams.pending())
        .collect();
    Json(json!({"streams": streams, "current": state.streams.current_id()}))
}

async fn create_stream(
    State(state): State<Arc<AppState>>,
    ApiJson(request): ApiJson<CreateRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let entry = create(&state, request).await?;
    Ok((StatusCode::CREATED, Json(view(&state, &entry))))
}

async fn get_stream(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let entry = state.streams.require(&id)?;
    Ok(Json(view(&state, &entry)))
}

async fn update_stream(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<UpdateRequest>,
) -> ApiResult<Json<Value>> {
    let entry = state.streams.require(&id)?;
    let applied = update(&state, &entry, request).await?;
    let mut answer = view(&state, &entry);
    answer["update"] = json!(applied);
    Ok(Json(answer))
}

async fn delete_stream(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let entry = state.streams.require(&id)?;
    let deleted = delete(&state, &entry).await;
    Ok(Json(
        json!({"deleted": id, "remote_error": deleted.remote_error}),
    ))
}

fn header_u32(headers: &HeaderMap, name: &str) -> ApiResult<Option<u32>> {
    let Some(value) = headers.get(name) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_request("bad_header", format!("{name} must be a positive integer"))
        })
}

/// Frame layout from the `X-Frame-*` headers; width and height are required.
pub fn frame_layout(headers: &HeaderMap) -> ApiResult<(PixelFormat, u32, u32)> {
    let format = match headers.get("x-frame-format") {
        None => PixelFormat::Rgb8,
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| {
                ApiError::bad_request("bad_header", "X-Frame-Format must be rgb8, rgba8 or i420")
            })?,
    };
    let width = header_u32(headers, "x-frame-width")?;
    let height = header_u32(headers, "x-frame-height")?;
    let (Some(width), Some(height)) = (width, height) else {
        return Err(ApiError::bad_request(
            "missing_frame_size",
            "send X-Frame-Width and X-Frame-Height with the pixels",
        ));
    };
    check_payload(format, width, height, format.frame_len(width, height))
        .map_err(|e| ApiError::bad_request("bad_frame_size", e.to_string()))?;
    Ok((format, width, height))
}

fn capture_us(headers: &HeaderMap) -> u64 {
    headers
        .get("x-frame-capture-us")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(crate::now_us)
}

/// Checks that the stream has a publisher before a frame is accepted.
pub fn require_publisher(state: &AppState, entry: &StreamEntry) -> ApiResult<()> {
    if state.holder(&entry.id).is_none() {
        return Err(ApiError::conflict(
            "no_publisher",
            "no browser agent publishes this stream; open ComfyUI (or the studio page) in a browser tab",
        ));
    }
    Ok(())
}

/// Reads exactly the expected number of pixel bytes into a message buffer with room for
/// the header, so the pixels are copied once and an oversized body is cut off early.
pub async fn read_pixels(body: Body, expected: usize, max: usize) -> ApiResult<Vec<u8>> {
    if expected > max {
        return Err(ApiError::PayloadTooLarge(format!(
            "a frame of {expected} bytes is larger than the limit of {max} bytes"
        )));
    }
    let mut message = Vec::with_capacity(FRAME_HEADER_LEN + expected);
    message.resize(FRAME_HEADER_LEN, 0);
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request("body_read_failed", format!("reading the body failed: {e}"))
        })?;
        if message.len() - FRAME_HEADER_LEN + chunk.len() > expected {
            return Err(ApiError::bad_request(
                "wrong_frame_length",
                format!("the body is longer than the {expected} bytes the X-Frame headers imply"),
            ));
        }
        message.extend_from_slice(&chunk);
    }
    let actual = message.len() - FRAME_HEADER_LEN;
    if actual != expected {
        return Err(ApiError::bad_request(
            "wrong_frame_length",
            format!("the body has {actual} bytes; the X-Frame headers imply {expected}"),
        ));
    }
    Ok(message)
}

/// Accepts a frame for `entry` into its uplink slot.
pub fn accept_frame(
    entry: &StreamEntry,
    message: Vec<u8>,
    format: PixelFormat,
    width: u32,
    height: u32,
    capture_us: u64,
) -> crate::hub::Accepted {
    let header = FrameHeader {
        stream_index: entry.index,
        sequence: 0,
        capture_us,
        width,
        height,
        format,
    };
    entry.frames.uplink.put(message, header)
}

async fn post_frames(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let entry = state.streams.require(&id)?;
    let (format, width, height) = frame_layout(&headers)?;
    require_publisher(&state, &entry)?;
    let expected = format.frame_len(width, height);
    let message = read_pixels(body, expected, state.config.max_frame_bytes).await?;
    let accepted = accept_frame(&entry, message, format, width, height, capture_us(&headers));
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"sequence": accepted.sequence, "dropped": accepted.dropped})),
    ))
}

#[derive(Debug, Deserialize)]
struct OutputQuery {
    #[serde(default)]
    after: u64,
    #[serde(default)]
    wait_ms: u64,
    #[serde(default)]
    format: Option<String>,
}

async fn get_output(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    query: Result<Query<OutputQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(query) = query.map_err(|e| ApiError::bad_request("bad_query", e.body_text()))?;
    let entry = state.streams.require(&id)?;
    let want = match query.format.as_deref() {
        None => None,
        Some(f) => Some(
            f.parse::<PixelFormat>()
                .map_err(|e| ApiError::bad_request("bad_format", e.to_string()))?,
        ),
    };
    let wait = Duration::from_millis(query.wait_ms).min(MAX_OUTPUT_WAIT);
    // The request is demand while it waits: a player holding its frames back starts sending.
    let _reader = entry.frames.output.reader();
    crate::agent::output_demand_changed(&state, &entry);
    let mut shutdown = state.shutdown.subscribe();
    let newer = tokio::select! {
        frame = entry.frames.output.newer_than(query.after, wait) => frame,
        _ = shutdown.wait_for(|stopped| *stopped) => None,
    };
    let Some(frame) = newer else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let format = want.unwrap_or(frame.format);
    let body = if format == frame.format {
        // The common case: hand out the stored bytes without copying them.
        Body::from(frame.pixels.clone())
    } else {
        let source = frame.clone();
        let converted = crate::blocking(move || {
            crate::pixels::convert(
                &source.pixels,
                source.format,
                format,
                source.width,
                source.height,
            )
        })
        .await?
        .map_err(|e| ApiError::bad_request("unsupported_conversion", e))?;
        Body::from(converted)
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-frame-width", HeaderValue::from(frame.width));
    headers.insert("x-frame-height", HeaderValue::from(frame.height));
    headers.insert("x-frame-format", HeaderValue::from_static(format.as_str()));
    headers.insert("x-frame-sequence", HeaderValue::from(frame.sequence));
    headers.insert("x-frame-capture-us", HeaderValue::from(frame.capture_us));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_backoff_doubles_is_capped_and_honours_retry_after() {
        let base = Duration::from_millis(100);
        assert_eq!(poll_backoff(base, 1, None), Duration::from_millis(200));
        assert_eq!(poll_backoff(base, 3, None), Duration::from_millis(800));
        assert_eq!(poll_backoff(base, 30, None), MAX_POLL_BACKOFF);
        let asked = Some(Duration::from_secs(5));
        assert_eq!(poll_backoff(base, 1, asked), Duration::from_secs(5));
        // `Retry-After` never shortens the wait and is capped like the rest.
        let short = Some(Duration::from_millis(10));
        assert_eq!(poll_backoff(base, 4, short), Duration::from_millis(1600));
        let long = Some(Duration::from_secs(3600));
        assert_eq!(poll_backoff(base, 1, long), MAX_POLL_BACKOFF);
    }
}
