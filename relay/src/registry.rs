//! The stream registry: every stream's fixed facts and mutable state, the Stream object of
//! the API, and the change events. Operations on streams live in `streams`; who publishes a
//! stream lives in `leases`.

use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex, RwLock};

use rtc_protocol::{MediaState, StreamStats};
use serde_json::{Map, Value, json};

use crate::config::Backend;
use crate::daydream::{DaydreamClient, RemoteStream};
use crate::error::{ApiError, ApiResult};
use crate::hub::StreamFrames;
use crate::runtime_config::FrameSettings;
use crate::{AppState, lock};

/// What an agent last reported about its publisher or player.
#[derive(Debug, Clone)]
pub struct MediaReport {
    /// Reporting agent.
    pub agent_id: String,
    /// How frames cross that agent's socket.
    pub link: rtc_protocol::LinkFormat,
    /// Its state.
    pub state: MediaState,
    /// Its latest stats.
    pub stats: StreamStats,
    /// Error text when failed.
    pub error: Option<String>,
}

/// Mutable part of a stream.
#[derive(Debug)]
pub struct StreamInfo {
    /// Frame rate and size the publisher uses.
    pub settings: FrameSettings,
    /// `streamdiffusion`.
    pub pipeline: String,
    /// Params as last accepted upstream.
    pub params: Map<String, Value>,
    /// Upstream WHEP URL, once known.
    pub whep_url: Option<String>,
    /// Last `data.state` from `/status`.
    pub remote_state: String,
    /// Last `data` from `/status`.
    pub remote_status: Value,
    /// Publisher report.
    pub publisher: Option<MediaReport>,
    /// Player report.
    pub player: Option<MediaReport>,
    /// Error that stopped the stream.
    pub error: Option<String>,
    /// Being deleted.
    pub stopping: bool,
}

/// One stream.
#[derive(Debug)]
pub struct StreamEntry {
    /// Upstream id (`str_…`).
    pub id: String,
    /// Index used in frame headers.
    pub index: u32,
    /// Label.
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
    /// What Daydream returned on create (WHIP URL, playback id).
    pub remote: RemoteStream,
    /// Backend the stream was created on (a later switch applies to new streams only).
    pub backend: Backend,
    /// Client the stream was created with.
    pub client: Arc<DaydreamClient>,
    /// Frame slots.
    pub frames: StreamFrames,
    /// Mutable state.
    pub info: Mutex<StreamInfo>,
    /// The background status poller.
    pub poller: Mutex<Option<tokio::task::AbortHandle>>,
}

impl StreamEntry {
    /// The state shown to users.
    pub fn state(info: &StreamInfo, holder: Option<&str>) -> &'static str {
        if info.stopping {
            return "stopping";
        }
        if info.error.is_some() {
            return "error";
        }
        if holder.is_none() {
            return "waiting_for_publisher";
        }
        match info.publisher.as_ref().map(|p| p.state) {
            Some(MediaState::Live) => "live",
            Some(MediaState::Reconnecting) => "reconnecting",
            Some(MediaState::Failed) => "error",
            _ => "connecting",
        }
    }
}

/// All streams, in creation order, plus the "current" one the seed's routes act on.
#[derive(Debug, Default)]
pub struct Registry {
    streams: RwLock<Vec<Arc<StreamEntry>>>,
    current: Mutex<Option<String>>,
    /// Creates waiting for Daydream: the Stream objects (state `starting`, provisional ids)
    /// listed after the streams until each create ends.
    pending: Mutex<Vec<Value>>,
    /// The last frame-header index handed out.
    pub next_index: AtomicU32,
}

impl Registry {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<StreamEntry>>> {
        self.streams
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Arc<StreamEntry>>> {
        self.streams
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every stream.
    pub fn list(&self) -> Vec<Arc<StreamEntry>> {
        self.read().clone()
    }

    /// A stream by id.
    pub fn get(&self, id: &str) -> Option<Arc<StreamEntry>> {
        self.read().iter().find(|s| s.id == id).cloned()
    }

    /// A stream by id, or the API's 404.
    pub fn require(&self, id: &str) -> ApiResult<Arc<StreamEntry>> {
        self.get(id).ok_or_else(|| ApiError::unknown_stream(id))
    }

    /// A stream by frame-header index.
    pub fn by_index(&self, index: u32) -> Option<Arc<StreamEntry>> {
        self.read().iter().find(|s| s.index == index).cloned()
    }

    /// The current stream's id.
    pub fn current_id(&self) -> Option<String> {
        lock(&self.current).clone()
    }

    /// The current stream.
    pub fn current(&self) -> Option<Arc<StreamEntry>> {
        self.current_id().and_then(|id| self.get(&id))
    }

    /// Adds a stream and makes it the current one.
    pub fn insert(&self, entry: Arc<StreamEntry>) {
        *lock(&self.current) = Some(entry.id.clone());
        self.write().push(entry);
    }

    /// Lists a create in progress.
    pub fn add_pending(&self, view: Value) {
        lock(&self.pending).push(view);
    }

    /// Forgets a create in progress.
    pub fn remove_pending(&self, id: &str) {
        lock(&self.pending).retain(|v| v["id"] != id);
    }

    /// The creates in progress.
    pub fn pending(&self) -> Vec<Value> {
        lock(&self.pending).clone()
    }

    /// Forgets a stream; the current one becomes the newest left.
    pub fn remove(&self, id: &str) -> Option<Arc<StreamEntry>> {
        let mut streams = self.write();
        let position = streams.iter().position(|s| s.id == id)?;
        let entry = streams.remove(position);
        let mut current = lock(&self.current);
        if current.as_deref() == Some(id) {
            *current = streams.last().map(|s| s.id.clone());
        }
        Some(entry)
    }
}

/// Emits the stream's new state.
pub fn changed(state: &AppState, entry: &StreamEntry) {
    state.events.emit("stream", view(state, entry));
}

fn report_json(report: Option<&MediaReport>) -> Value {
    report.map_or(Value::Null, |r| {
        json!({
            "agent_id": r.agent_id,
            "link": r.link.as_str(),
            "state": r.state,
            "stats": r.stats,
            "error": r.error,
        })
    })
}

/// The Stream object of the API.
pub fn view(state: &AppState, entry: &StreamEntry) -> Value {
    // The lease table is read first and released: it is never held while a stream's info is.
    let (holder, fallback) = {
        let leases = lock(&state.leases);
        let holder = leases.holder(&entry.id).map(str::to_owned);
        (holder, leases.held_by_fallback(&entry.id))
    };
    let info = lock(&entry.info);
    json!({
        "id": entry.id,
        "index": entry.index,
        "name": entry.name,
        "current": state.streams.current_id().as_deref() == Some(entry.id.as_str()),
        "created_at": entry.created_at,
        "backend": entry.backend.as_str(),
        "playback_id": entry.remote.output_playback_id,
        // The upstream URLs carry the stream key (whoever has them can publish or watch):
        // callers get the relay's proxy routes instead.
        "whip_url": format!("/v1/streams/{}/whip", entry.id),
        "whep_url": info.whep_url.as_ref().map(|_| format!("/v1/streams/{}/whep", entry.id)),
        "state": StreamEntry::state(&info, holder.as_deref()),
        "error": info.error,
        "remote": {"state": info.remote_state, "status": without_secrets(&info.remote_status)},
        "settings": info.settings,
        "pipeline_config": {"pipeline": info.pipeline, "params": info.params},
        "publisher": report_json(info.publisher.as_ref()),
        "player": report_json(info.player.as_ref()),
        "lease": holder,
        // The pack's headless browser holds it, standing in for a tab.
        "lease_fallback": fallback,
        "frames": entry.frames.snapshot(),
    })
}

/// Daydream's status without what grants access to the stream: its URLs (`whep_url` and
/// any other `…url`) and stream keys.
fn without_secrets(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| {
                    let k = k.to_ascii_lowercase();
                    !k.ends_with("url") && k != "stream_key"
                })
                .map(|(k, v)| (k.clone(), without_secrets(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_secrets).collect()),
        other => other.clone(),
    }
}

/// The per-stream part of the 1 Hz `stats` event.
pub fn stats(entry: &StreamEntry) -> Value {
    let info = lock(&entry.info);
    json!({
        "id": entry.id,
        "publisher": info.publisher.as_ref().map(|p| &p.stats),
        "player": info.player.as_ref().map(|p| &p.stats),
        "frames": entry.frames.snapshot(),
    })
}
