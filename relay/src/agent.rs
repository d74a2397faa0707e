//! `GET /v1/agent`: the browser agent's WebSocket and the publish leases.
//!
//! Each stream's lease goes to one candidate agent (the first connected, or the one that
//! served it before a reconnect). The holder receives the stream's frames as binary messages
//! from the uplink slot, publishes them over WHIP, plays the output back over WHEP and sends
//! the decoded frames back. A holder that closes, or stops answering pings, loses its leases
//! to the next candidate within [`DEAD_AFTER`] plus one watchdog tick.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use rtc_protocol::{
    AgentMessage, AgentRole, FRAME_HEADER_LEN, FrameHeader, LeaseGrant, OutputRequest,
    PROTOCOL_VERSION, PixelFormat, RelayMessage,
};
use tokio::sync::{Notify, mpsc};

use crate::streams::{MediaReport, StreamEntry, changed};
use crate::{AppState, lock};

/// Interval of the relay's pings.
const PING_EVERY: Duration = Duration::from_millis(500);
/// An agent silent for this long is treated as gone.
const DEAD_AFTER: Duration = Duration::from_millis(1_200);
/// Time an agent has to say `hello`.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
enum Outbound {
    Text(String),
}

#[derive(Debug)]
struct AgentHandle {
    id: String,
    label: String,
    candidate: bool,
    resume: Vec<String>,
    released: HashSet<String>,
    tx: mpsc::UnboundedSender<Outbound>,
    frames: Arc<Notify>,
}

impl AgentHandle {
    fn send(&self, message: &RelayMessage) {
        if let Ok(text) = serde_json::to_string(message) {
            let _ = self.tx.send(Outbound::Text(text));
        }
    }
}

/// Connected agents, in connection order.
#[derive(Debug, Default)]
pub struct Agents {
    agents: Mutex<Vec<AgentHandle>>,
}

fn grant(entry: &StreamEntry) -> LeaseGrant {
    let settings = lock(&entry.info).settings;
    let pixels_per_second =
        u64::from(settings.width) * u64::from(settings.height) * u64::from(settings.frame_rate);
    // About 0.08 bit per pixel: enough for H.264 at these sizes without flooding loopback.
    let kbps = (pixels_per_second * 8 / 100 / 1000).clamp(500, 8_000);
    LeaseGrant {
        stream_id: entry.id.clone(),
        stream_index: entry.index,
        whip_url: format!("/v1/streams/{}/whip", entry.id),
        frame_rate: settings.frame_rate,
        width: settings.width,
        height: settings.height,
        max_bitrate_kbps: u32::try_from(kbps).unwrap_or(8_000),
    }
}

fn play(entry: &StreamEntry) -> RelayMessage {
    RelayMessage::Play(OutputRequest {
        stream_id: entry.id.clone(),
        stream_index: entry.index,
        whep_url: format!("/v1/streams/{}/whep", entry.id),
        format: PixelFormat::Rgba8,
    })
}

impl Agents {
    /// Gives the stream's lease to a candidate if nobody holds it.
    pub fn assign(&self, state: &AppState, entry: &StreamEntry) {
        {
            let mut info = lock(&entry.info);
            if info.stopping || info.lease.is_some() {
                return;
            }
            let agents = lock(&self.agents);
            let eligible = |a: &&AgentHandle| a.candidate && !a.released.contains(&entry.id);
            let Some(agent) = agents
                .iter()
                .filter(eligible)
                .find(|a| a.resume.contains(&entry.id))
                .or_else(|| agents.iter().find(eligible))
            else {
                return;
            };
            info.lease = Some(agent.id.clone());
            info.error = None;
            info.publisher = None;
            info.player = None;
            let whep_known = info.whep_url.is_some();
            drop(info);
            entry.frames.uplink.set_consumer(Some(agent.frames.clone()));
            agent.send(&RelayMessage::Publish(grant(entry)));
            if whep_known {
                agent.send(&play(entry));
            }
            tracing::info!(stream = %entry.id, agent = %agent.id, label = %agent.label, "publish lease granted");
            state.events.log(
                "info",
                format!("{} publishes stream {}", agent.label, entry.id),
            );
        }
        changed(state, entry);
    }

    fn with_holder(&self, entry: &StreamEntry, f: impl FnOnce(&AgentHandle)) {
        let Some(holder) = lock(&entry.info).lease.clone() else {
            return;
        };
        if let Some(agent) = lock(&self.agents).iter().find(|a| a.id == holder) {
            f(agent);
        }
    }

    /// The WHEP URL became known: tell the holder to play the output.
    pub fn playback_known(&self, entry: &StreamEntry) {
        self.with_holder(entry, |agent| agent.send(&play(entry)));
    }

    /// Frame settings changed: tell the holder.
    pub fn settings_changed(&self, entry: &StreamEntry) {
        self.with_holder(entry, |agent| {
            agent.send(&RelayMessage::Settings(grant(entry)));
        });
    }

    /// Takes the lease away (stream deleted).
    pub fn revoke(&self, entry: &StreamEntry, reason: &str) {
        self.with_holder(entry, |agent| {
            agent.send(&RelayMessage::Stop {
                stream_id: entry.id.clone(),
                reason: reason.to_owned(),
            });
        });
        lock(&entry.info).lease = None;
        entry.frames.uplink.set_consumer(None);
        entry.frames.uplink.clear();
    }

    fn register(&self, handle: AgentHandle) {
        lock(&self.agents).push(handle);
    }

    /// Forgets an agent and hands its leases on.
    fn unregister(&self, state: &AppState, agent_id: &str) {
        lock(&self.agents).retain(|a| a.id != agent_id);
        for entry in state.streams.list() {
            if !release_lease(&entry, agent_id) {
                continue;
            }
            tracing::info!(stream = %entry.id, agent = %agent_id, "publisher gone; handing the lease on");
            self.assign(state, &entry);
            changed(state, &entry);
        }
    }

    /// The agent gave a lease back; it is not offered that stream again.
    fn released(&self, state: &AppState, agent_id: &str, entry: &StreamEntry) {
        if !release_lease(entry, agent_id) {
            return;
        }
        if let Some(agent) = lock(&self.agents).iter_mut().find(|a| a.id == agent_id) {
            agent.released.insert(entry.id.clone());
        }
        self.assign(state, entry);
        changed(state, entry);
    }
}

/// Clears `entry`'s lease if `agent_id` holds it.
fn release_lease(entry: &StreamEntry, agent_id: &str) -> bool {
    let mut info = lock(&entry.info);
    if info.lease.as_deref() != Some(agent_id) {
        return false;
    }
    info.lease = None;
    info.publisher = None;
    info.player = None;
    drop(info);
    entry.frames.uplink.set_consumer(None);
    entry.frames.uplink.clear();
    true
}

/// Routes of this module.
pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/v1/agent", get(upgrade))
}

async fn upgrade(State(state): State<Arc<AppState>>, ws: WebSocketUpgrade) -> Response {
    let max = state.config.max_frame_bytes + FRAME_HEADER_LEN;
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| serve_agent(state, socket))
}

fn agent_id() -> String {
    format!("agt_{:016x}", rand::random::<u64>())
}

async fn serve_agent(state: Arc<AppState>, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let hello = tokio::time::timeout(HELLO_TIMEOUT, async {
        while let Some(Ok(message)) = stream.next().await {
            if let Message::Text(text) = message {
                return serde_json::from_str::<AgentMessage>(&text).ok();
            }
        }
        None
    })
    .await;
    let Ok(Some(AgentMessage::Hello {
        protocol,
        label,
        publish,
        resume,
        prefer_i420,
    })) = hello
    else {
        let refusal = RelayMessage::Error {
            code: "hello_expected".into(),
            message: "the first message must be a hello".into(),
        };
        let _ = send_json(&mut sink, &refusal).await;
        let _ = sink.send(Message::Close(None)).await;
        return;
    };
    if protocol != PROTOCOL_VERSION {
        let refusal = RelayMessage::Error {
            code: "protocol_mismatch".into(),
            message: format!(
                "relay speaks protocol {PROTOCOL_VERSION}, agent {protocol}; reload the page"
            ),
        };
        let _ = send_json(&mut sink, &refusal).await;
        let _ = sink.send(Message::Close(None)).await;
        return;
    }
    let id = agent_id();
    let welcome = RelayMessage::Welcome {
        protocol: PROTOCOL_VERSION,
        agent_id: id.clone(),
    };
    if send_json(&mut sink, &welcome).await.is_err() {
        return;
    }
    // After a relay restart the agent asks to resume streams this relay never heard of;
    // stopping them now keeps it from retrying their WHIP/WHEP sessions forever.
    for stream_id in resume.iter().filter(|id| state.streams.get(id).is_none()) {
        let stop = RelayMessage::Stop {
            stream_id: stream_id.clone(),
            reason: "the relay does not know this stream (it was restarted)".into(),
        };
        if send_json(&mut sink, &stop).await.is_err() {
            return;
        }
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let frames = Arc::new(Notify::new());
    state.agents.register(AgentHandle {
        id: id.clone(),
        label: label.clone(),
        candidate: publish,
        resume,
        released: HashSet::new(),
        tx: tx.clone(),
        frames: frames.clone(),
    });
    tracing::info!(agent = %id, %label, publish, "agent connected");
    for entry in state.streams.list() {
        state.agents.assign(&state, &entry);
    }

    let started = Instant::now();
    let last_heard = Arc::new(AtomicU64::new(0));
    let elapsed_ms = move || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);

    let writer = write_loop(state.clone(), id.clone(), sink, rx, frames, prefer_i420);
    let reader = {
        let state = state.clone();
        let id = id.clone();
        let last_heard = last_heard.clone();
        async move {
            while let Some(Ok(message)) = stream.next().await {
                last_heard.store(elapsed_ms(), Ordering::Relaxed);
                match message {
                    Message::Text(text) => handle_text(&state, &id, &tx, &text),
                    Message::Binary(data) => handle_frame(&state, &id, &tx, &data),
                    Message::Close(_) => break,
                    Message::Ping(_) | Message::Pong(_) => {}
                }
            }
        }
    };
    let watchdog = async {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tick.tick().await;
            let silent = elapsed_ms().saturating_sub(last_heard.load(Ordering::Relaxed));
            if silent > u64::try_from(DEAD_AFTER.as_millis()).unwrap_or(u64::MAX) {
                tracing::info!(agent = %id, silent_ms = silent, "agent stopped answering pings");
                break;
            }
        }
    };
    tokio::select! {
        () = writer => {},
        () = reader => {},
        () = watchdog => {},
    }
    state.agents.unregister(&state, &id);
    tracing::info!(agent = %id, "agent disconnected");
}

async fn send_json<S>(sink: &mut S, message: &RelayMessage) -> Result<(), axum::Error>
where
    S: futures_util::Sink<Message, Error = axum::Error> + Unpin,
{
    let text = serde_json::to_string(message).map_err(axum::Error::new)?;
    sink.send(Message::Text(text.into())).await
}

async fn write_loop<S>(
    state: Arc<AppState>,
    id: String,
    mut sink: S,
    mut rx: mpsc::UnboundedReceiver<Outbound>,
    frames: Arc<Notify>,
    prefer_i420: bool,
) where
    S: futures_util::Sink<Message, Error = axum::Error> + Unpin,
{
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut shutdown = state.shutdown.subscribe();
    let stopping = async move {
        let _ = shutdown.wait_for(|stopping| *stopping).await;
    };
    let mut stopping = std::pin::pin!(stopping);
    loop {
        let result = tokio::select! {
            message = rx.recv() => match message {
                Some(Outbound::Text(text)) => sink.send(Message::Text(text.into())).await,
                None => break,
            },
            () = frames.notified() => send_frames(&state, &id, &mut sink, prefer_i420).await,
            _ = ping.tick() => sink.send(Message::Ping(Bytes::new())).await,
            () = &mut stopping => {
                let _ = sink.send(Message::Close(None)).await;
                break;
            }
        };
        if result.is_err() {
            break;
        }
    }
}

/// Sends the newest pending frame of every stream this agent publishes.
async fn send_frames<S>(
    state: &AppState,
    id: &str,
    sink: &mut S,
    prefer_i420: bool,
) -> Result<(), axum::Error>
where
    S: futures_util::Sink<Message, Error = axum::Error> + Unpin,
{
    for entry in state.streams.list() {
        if lock(&entry.info).lease.as_deref() != Some(id) {
            continue;
        }
        if let Some(message) = entry.frames.uplink.take() {
            let message = if prefer_i420 {
                as_i420(message).await
            } else {
                message
            };
            sink.send(Message::Binary(message)).await?;
        }
    }
    Ok(())
}

/// Converted off the runtime and only for frames that are sent: the socket into the page is
/// the narrow part of the hand-off, and I420 is half the bytes of RGB and what the page's
/// encoder consumes anyway.
async fn as_i420(message: Bytes) -> Bytes {
    match tokio::task::spawn_blocking({
        let message = message.clone();
        move || crate::pixels::frame_message_as_i420(&message)
    })
    .await
    {
        Ok(Some(converted)) => Bytes::from(converted),
        _ => message,
    }
}

fn reply_error(tx: &mpsc::UnboundedSender<Outbound>, code: &str, message: String) {
    let error = RelayMessage::Error {
        code: code.to_owned(),
        message,
    };
    if let Ok(text) = serde_json::to_string(&error) {
        let _ = tx.send(Outbound::Text(text));
    }
}

/// The stream `stream_id` if `agent_id` holds its lease; otherwise tells the agent why not.
fn held_stream(
    state: &AppState,
    agent_id: &str,
    tx: &mpsc::UnboundedSender<Outbound>,
    stream_id: &str,
) -> Option<Arc<StreamEntry>> {
    let Some(entry) = state.streams.get(stream_id) else {
        reply_error(tx, "unknown_stream", format!("no stream {stream_id:?}"));
        return None;
    };
    if lock(&entry.info).lease.as_deref() != Some(agent_id) {
        reply_error(
            tx,
            "not_lease_holder",
            format!("this agent does not publish {stream_id:?}"),
        );
        return None;
    }
    Some(entry)
}

fn handle_text(state: &AppState, agent_id: &str, tx: &mpsc::UnboundedSender<Outbound>, text: &str) {
    let message = match serde_json::from_str::<AgentMessage>(text) {
        Ok(m) => m,
        Err(e) => return reply_error(tx, "bad_message", format!("cannot parse message: {e}")),
    };
    match message {
        AgentMessage::Hello { .. } => {
            reply_error(tx, "bad_message", "hello was already received".into());
        }
        AgentMessage::State {
            stream_id,
            role,
            state: media_state,
            error,
        } => {
            let Some(entry) = held_stream(state, agent_id, tx, &stream_id) else {
                return;
            };
            {
                let mut info = lock(&entry.info);
                let slot = match role {
                    AgentRole::Publisher => &mut info.publisher,
                    AgentRole::Player => &mut info.player,
                };
                let stats = slot.take().map(|r| r.stats).unwrap_or_default();
                *slot = Some(MediaReport {
                    agent_id: agent_id.to_owned(),
                    state: media_state,
                    stats,
                    error: error.clone(),
                });
                // A publisher that gave up puts the stream in error until it (or the next
                // lease holder) is live again.
                match (role, media_state) {
                    (AgentRole::Publisher, rtc_protocol::MediaState::Failed) => {
                        info.error = Some(error.unwrap_or_else(|| "the publisher failed".into()));
                    }
                    (AgentRole::Publisher, rtc_protocol::MediaState::Live) => info.error = None,
                    _ => {}
                }
            }
            changed(state, &entry);
        }
        AgentMessage::Stats {
            stream_id,
            role,
            stats,
        } => {
            let Some(entry) = held_stream(state, agent_id, tx, &stream_id) else {
                return;
            };
            let mut info = lock(&entry.info);
            let slot = match role {
                AgentRole::Publisher => &mut info.publisher,
                AgentRole::Player => &mut info.player,
            };
            match slot {
                Some(report) => report.stats = stats,
                None => {
                    *slot = Some(MediaReport {
                        agent_id: agent_id.to_owned(),
                        state: rtc_protocol::MediaState::Connecting,
                        stats,
                        error: None,
                    });
                }
            }
        }
        AgentMessage::Release { stream_id } => {
            if let Some(entry) = held_stream(state, agent_id, tx, &stream_id) {
                state.agents.released(state, agent_id, &entry);
            }
        }
    }
}

fn handle_frame(
    state: &AppState,
    agent_id: &str,
    tx: &mpsc::UnboundedSender<Outbound>,
    data: &Bytes,
) {
    let header = match FrameHeader::decode(data) {
        Ok((header, _)) => header,
        Err(e) => return reply_error(tx, "bad_frame", e.to_string()),
    };
    let Some(entry) = state.streams.by_index(header.stream_index) else {
        return reply_error(
            tx,
            "unknown_stream",
            format!("no stream with index {}", header.stream_index),
        );
    };
    if lock(&entry.info).lease.as_deref() != Some(agent_id) {
        return reply_error(
            tx,
            "not_lease_holder",
            format!("this agent does not play {:?}", entry.id),
        );
    }
    entry
        .frames
        .output
        .publish(&header, data.slice(FRAME_HEADER_LEN..));
}
