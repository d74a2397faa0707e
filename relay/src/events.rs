//! `GET /v1/events`: Server-Sent Events for the sidebar and the preview, instead of polling.
//! Events: `stream` (a Stream object, on every change), `removed` (`{id}`), `stats` (1 Hz)
//! and `log`. A new subscriber first gets one `stream` event per existing stream.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::get;
use futures_util::Stream;
use serde_json::Value;
use tokio::sync::broadcast;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use crate::AppState;

/// How many events a slow subscriber may fall behind before it skips ahead.
const BACKLOG: usize = 256;

/// One event.
#[derive(Debug, Clone)]
pub struct Event {
    /// `stream`, `removed`, `stats` or `log`.
    pub name: &'static str,
    /// JSON payload.
    pub data: Arc<Value>,
}

/// The event bus.
#[derive(Debug)]
pub struct Events {
    tx: broadcast::Sender<Event>,
}

impl Default for Events {
    fn default() -> Self {
        Self {
            tx: broadcast::Sender::new(BACKLOG),
        }
    }
}

impl Events {
    /// Sends an event to every subscriber (none is fine).
    pub fn emit(&self, name: &'static str, data: Value) {
        let _ = self.tx.send(Event {
            name,
            data: Arc::new(data),
        });
    }

    /// A `log` event for the UI's log tab (the same line also goes to the relay's log).
    pub fn log(&self, level: &'static str, message: impl Into<String>) {
        self.emit(
            "log",
            serde_json::json!({"level": level, "message": message.into(), "time": crate::rfc3339_now()}),
        );
    }

    /// Whether anyone listens (the stats ticker skips its work otherwise).
    pub fn has_subscribers(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    /// A receiver of future events.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}

/// Routes of this module.
pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/v1/events", get(events))
}

fn to_sse(event: &Event) -> SseEvent {
    SseEvent::default()
        .event(event.name)
        .data(event.data.to_string())
}

async fn events(
    State(state): State<Arc<AppState>>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let rx = state.events.subscribe();
    let snapshot: Vec<_> = state
        .streams
        .list()
        .iter()
        .map(|s| crate::registry::view(&state, s))
        .chain(state.streams.pending())
        .map(|view| {
            Ok(to_sse(&Event {
                name: "stream",
                data: Arc::new(view),
            }))
        })
        .collect();
    let live = BroadcastStream::new(rx).filter_map(|item| match item {
        Ok(event) => Some(Ok(to_sse(&event))),
        // A subscriber that fell behind skips ahead; the next `stream` events resync it.
        Err(_) => None,
    });
    let mut shutdown = state.shutdown.subscribe();
    let until_shutdown = async move {
        let _ = shutdown.wait_for(|stopping| *stopping).await;
    };
    let stream = futures_util::StreamExt::take_until(
        tokio_stream::iter(snapshot).chain(live),
        until_shutdown,
    );
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// Emits `stats` once a second while anyone listens.
pub async fn stats_ticker(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        if !state.events.has_subscribers() {
            continue;
        }
        let streams: Vec<Value> = state
            .streams
            .list()
            .iter()
            .map(|s| crate::registry::stats(s))
            .collect();
        state
            .events
            .emit("stats", serde_json::json!({ "streams": streams }));
    }
}
