//! `GET /v1/agent`: the browser agent's WebSocket, and carrying out lease decisions.
//!
//! Who holds which stream's lease is decided by [`crate::leases`]; this module connects
//! agents, feeds it their arrivals and departures, and performs its actions. The holder
//! receives the stream's frames as binary messages from the uplink slot, publishes them over
//! WHIP, plays the output back over WHEP and sends the decoded frames back.
//!
//! Liveness: the relay pings every [`PING_EVERY`]; an agent that leaves a ping unanswered for
//! [`DEAD_AFTER`], or says nothing at all for [`SILENT_AFTER`], is gone and its leases move.
//! Pings are answered by the browser's network stack, so a tab busy with script still
//! answers; the pack's proxy forwards pings and pongs rather than answering them itself.
//! Time during which the relay itself did not run (a stopped process) is not held against
//! the agent.
//!
//! Limits: a text message over [`MAX_TEXT_BYTES`], or with a string field over its cap (see
//! [`check_lengths`]), is answered with a `too_long` error and ignored (a `hello` is refused
//! and the socket closed). Replies wait in a queue of [`MAX_PENDING_REPLIES`] messages; an
//! agent that keeps sending without reading fills it, and its socket is closed with the
//! reason logged, rather than the relay buffering replies without end.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use rtc_protocol::{
    AgentMessage, AgentRole, FRAME_HEADER_LEN, FrameHeader, LeaseGrant, LinkFormat, OutputRequest,
    PROTOCOL_VERSION, PixelFormat, RelayMessage,
};
use tokio::sync::{Notify, mpsc};

use crate::leases::{Action, Input};
use crate::link::{InFlight, Link, Locality};
use crate::registry::{MediaReport, StreamEntry, changed};
use crate::telemetry::escaped;
use crate::{AppState, lock};

/// Interval of the relay's pings.
const PING_EVERY: Duration = Duration::from_millis(200);
/// A ping unanswered for this long means the agent is gone. With pings every 200 ms and a
/// 50 ms watchdog, a vanished tab loses its leases within 1.85 s; as much of that as possible
/// is left as budget, since the pack's proxy forwards pings on ComfyUI's busy Python loop.
const DEAD_AFTER: Duration = Duration::from_millis(1_600);
/// Nothing at all heard for this long means the agent is gone, even when pings could not go
/// out (a socket blocked by a large frame the far end no longer reads).
const SILENT_AFTER: Duration = Duration::from_secs(3);
/// Period of the liveness watchdog.
const WATCH_EVERY: Duration = Duration::from_millis(50);
/// A watchdog tick this much later than due means the relay itself was not running (stopped
/// with SIGSTOP, starved workers): the agent could not be heard meanwhile, so that time does
/// not count towards [`DEAD_AFTER`] and [`SILENT_AFTER`].
const STALLED_AFTER: Duration = Duration::from_millis(250);
/// Time an agent has to say `hello`.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest text message read; real ones are well under 4 KiB.
const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Longest agent label, in bytes.
const MAX_LABEL_BYTES: usize = 256;
/// Longest stream id an agent may name, in bytes (relay ids are about 40).
const MAX_ID_BYTES: usize = 128;
/// Most streams in a `hello`'s `resume` list.
const MAX_RESUME: usize = 64;
/// Longest error text in a `state` report, in bytes.
const MAX_ERROR_BYTES: usize = 2 * 1024;
/// Longest text field of `stats` (codec, implementation, quality limitation), in bytes.
const MAX_STATS_TEXT_BYTES: usize = 256;
/// Messages that may wait to be written to one agent; an agent that reads falls nowhere near
/// it, since frames do not queue here.
const MAX_PENDING_REPLIES: usize = 256;

/// The queue of text messages to one agent. Full means the agent stopped reading: the
/// connection is then closed (see [`Outbox::overflowed`]).
#[derive(Debug, Clone)]
struct Outbox {
    tx: mpsc::Sender<String>,
    overflow: Arc<Notify>,
}

impl Outbox {
    fn new() -> (Self, mpsc::Receiver<String>) {
        let (tx, rx) = mpsc::channel(MAX_PENDING_REPLIES);
        let overflow = Arc::new(Notify::new());
        (Self { tx, overflow }, rx)
    }

    fn push(&self, text: String) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(text) {
            self.overflow.notify_one();
        }
    }

    /// Resolves once a message found the queue full.
    async fn overflowed(&self) {
        self.overflow.notified().await;
    }
}

/// What the relay knows of one agent's socket, shared by its reader and writer.
#[derive(Debug, Clone)]
struct Peer {
    id: String,
    outbox: Outbox,
    /// Woken when a frame waits for this agent, or when it acknowledged one.
    frames: Arc<Notify>,
    link: Link,
    prefer_i420: bool,
    /// Present when the agent acknowledges frames.
    in_flight: Option<Arc<InFlight>>,
}

#[derive(Debug)]
struct Connection {
    label: String,
    peer: Peer,
}

impl Connection {
    fn send(&self, message: &RelayMessage) {
        if let Ok(text) = serde_json::to_string(message) {
            self.peer.outbox.push(text);
        }
    }
}

/// Connected agents.
#[derive(Debug, Default)]
pub struct Connections {
    agents: Mutex<Vec<Connection>>,
}

impl Connections {
    fn with(&self, agent: &str, f: impl FnOnce(&Connection)) {
        if let Some(connection) = lock(&self.agents).iter().find(|c| c.peer.id == agent) {
            f(connection);
        }
    }
}

fn grant(entry: &StreamEntry, whip_url: String) -> LeaseGrant {
    let settings = lock(&entry.info).settings;
    let pixels_per_second =
        u64::from(settings.width) * u64::from(settings.height) * u64::from(settings.frame_rate);
    // About 0.08 bit per pixel: enough for H.264 at these sizes without flooding loopback.
    let kbps = (pixels_per_second * 8 / 100 / 1000).clamp(500, 8_000);
    LeaseGrant {
        stream_id: entry.id.clone(),
        stream_index: entry.index,
        whip_url,
        frame_rate: settings.frame_rate,
        width: settings.width,
        height: settings.height,
        max_bitrate_kbps: u32::try_from(kbps).unwrap_or(8_000),
    }
}

/// Tells `connection` to play `entry` back, and whether its frames are read now.
fn play(connection: &Connection, entry: &StreamEntry) {
    connection.send(&RelayMessage::Play(OutputRequest {
        stream_id: entry.id.clone(),
        stream_index: entry.index,
        whep_url: format!("/v1/streams/{}/whep", entry.id),
        format: crate::link::output_format(
            connection.peer.link.format,
            connection.peer.prefer_i420,
        ),
    }));
    if let Some(wanted) = entry.frames.output.demand_changed(Instant::now(), true) {
        connection.send(&output_demand(entry, wanted));
    }
}

fn output_demand(entry: &StreamEntry, wanted: bool) -> RelayMessage {
    RelayMessage::OutputDemand {
        stream_id: entry.id.clone(),
        wanted,
    }
}

/// Tells the agent playing `entry` whether its frames are read, when that changed: at once
/// when a request arrives after a quiet spell, and from [`watch_output_demand`] when reading
/// stopped.
pub fn output_demand_changed(state: &AppState, entry: &StreamEntry) {
    let Some(wanted) = entry.frames.output.demand_changed(Instant::now(), false) else {
        return;
    };
    if let Some(holder) = state.holder(&entry.id) {
        tracing::debug!(stream = %entry.id, wanted, "output demand changed");
        state
            .agents
            .with(&holder, |c| c.send(&output_demand(entry, wanted)));
    }
}

/// Notices, once a second, the streams whose frames nobody has asked for within
/// [`crate::hub::OUTPUT_LINGER`].
pub async fn watch_output_demand(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        for entry in state.streams.list() {
            output_demand_changed(&state, &entry);
        }
    }
}

/// Feeds the lease machine and carries out what it decides. Returns the upstream sessions
/// to DELETE, which the caller sends (it knows the stream's HTTP client).
pub fn lease_input(state: &AppState, input: Input) -> Vec<String> {
    let mut deletes = Vec::new();
    let mut touched: Vec<Arc<StreamEntry>> = Vec::new();
    {
        // Actions are carried out in the order decided, under the lease lock, so a grant and
        // a later revocation can never be applied the other way round. Nothing here takes the
        // lease lock again; change events (which read it) are sent after it is released.
        let mut leases = lock(&state.leases);
        for action in leases.handle(input) {
            perform(state, action, &mut deletes, &mut touched);
        }
    }
    for entry in touched {
        changed(state, &entry);
    }
    deletes
}

fn perform(
    state: &AppState,
    action: Action,
    deletes: &mut Vec<String>,
    touched: &mut Vec<Arc<StreamEntry>>,
) {
    let stream_of = |id: &str| state.streams.get(id);
    match action {
        Action::Grant {
            agent,
            stream,
            lease,
            play: playing,
        } => {
            let Some(entry) = stream_of(&stream) else {
                return;
            };
            {
                let mut info = lock(&entry.info);
                info.error = None;
                info.publisher = None;
                info.player = None;
            }
            state.agents.with(&agent, |connection| {
                if let Some(in_flight) = &connection.peer.in_flight {
                    in_flight.reset(entry.index);
                }
                entry
                    .frames
                    .uplink
                    .set_consumer(Some(connection.peer.frames.clone()));
                // The lease id rides in the URL so that only this grant's holder can publish.
                let whip_url = format!("/v1/streams/{}/whip?lease={lease}", entry.id);
                connection.send(&RelayMessage::Publish(grant(&entry, whip_url)));
                if playing {
                    play(connection, &entry);
                }
                tracing::info!(stream = %entry.id, agent = %agent, label = %escaped(&connection.label), "publish lease granted");
                state.events.log(
                    "info",
                    format!("{} publishes stream {}", escaped(&connection.label), entry.id),
                );
            });
            touched.push(entry);
        }
        Action::Play { agent, stream } => {
            if let Some(entry) = stream_of(&stream) {
                state.agents.with(&agent, |c| play(c, &entry));
            }
        }
        Action::Stop {
            agent,
            stream,
            reason,
        } => {
            tracing::info!(stream = %stream, agent = %agent, %reason, "agent told to stop");
            state.agents.with(&agent, |c| {
                c.send(&RelayMessage::Stop {
                    stream_id: stream,
                    reason,
                });
            });
        }
        Action::Unassigned { stream } => {
            let Some(entry) = stream_of(&stream) else {
                return;
            };
            {
                let mut info = lock(&entry.info);
                info.publisher = None;
                info.player = None;
            }
            entry.frames.uplink.set_consumer(None);
            entry.frames.uplink.clear();
            touched.push(entry);
        }
        Action::DeleteUpstream { upstream } => deletes.push(upstream),
    }
}

/// Frame settings changed: tell the holder.
pub fn settings_changed(state: &AppState, entry: &StreamEntry) {
    let Some(holder) = state.holder(&entry.id) else {
        return;
    };
    // Agents apply settings to the running publisher; the URL is informative only.
    let settings = grant(entry, format!("/v1/streams/{}/whip", entry.id));
    state
        .agents
        .with(&holder, |c| c.send(&RelayMessage::Settings(settings)));
}

/// Routes of this module.
pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/v1/agent", get(upgrade))
}

async fn upgrade(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let max = state.config.max_frame_bytes + FRAME_HEADER_LEN;
    let locality = Locality::from_header(
        headers
            .get(crate::link::LOCALITY_HEADER)
            .and_then(|v| v.to_str().ok()),
    );
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| serve_agent(state, socket, locality))
}

fn agent_id() -> String {
    format!("agt_{:016x}", rand::random::<u64>())
}

async fn serve_agent(state: Arc<AppState>, socket: WebSocket, locality: Locality) {
    let (mut sink, mut stream) = socket.split();
    let hello = tokio::time::timeout(HELLO_TIMEOUT, async {
        while let Some(Ok(message)) = stream.next().await {
            if let Message::Text(text) = message {
                return Some(parse(&text));
            }
        }
        None
    })
    .await;
    if let Ok(Some(Err((code @ "too_long", message)))) = hello {
        let refusal = RelayMessage::Error {
            code: code.into(),
            message,
        };
        let _ = send_json(&mut sink, &refusal).await;
        let _ = sink.send(Message::Close(None)).await;
        return;
    }
    let Ok(Some(Ok(AgentMessage::Hello {
        protocol,
        label,
        publish,
        resume,
        prefer_i420,
        link,
        jpeg_quality,
        acks,
        fallback,
    }))) = hello
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
    let link = crate::link::choose(link, jpeg_quality, locality);
    let welcome = RelayMessage::Welcome {
        protocol: PROTOCOL_VERSION,
        agent_id: id.clone(),
        link: link.format,
        jpeg_quality: (link.format == LinkFormat::Jpeg).then_some(link.jpeg_quality),
        max_in_flight: acks.then_some(crate::link::MAX_IN_FLIGHT as u32),
    };
    if send_json(&mut sink, &welcome).await.is_err() {
        return;
    }
    let (outbox, rx) = Outbox::new();
    let peer = Peer {
        id: id.clone(),
        outbox: outbox.clone(),
        frames: Arc::new(Notify::new()),
        link,
        prefer_i420,
        in_flight: acks.then(Arc::default),
    };
    lock(&state.agents.agents).push(Connection {
        label: label.clone(),
        peer: peer.clone(),
    });
    tracing::info!(
        agent = %id,
        label = %escaped(&label),
        publish,
        link = link.format.as_str(),
        ?locality,
        acks,
        fallback,
        "agent connected"
    );
    lease_input(
        &state,
        Input::AgentJoined {
            agent: id.clone(),
            candidate: publish,
            fallback,
            resume,
        },
    );

    let liveness = Arc::new(Liveness::new());
    let writer = write_loop(state.clone(), peer.clone(), sink, rx, liveness.clone());
    let reader = {
        let state = state.clone();
        let liveness = liveness.clone();
        let peer = peer.clone();
        async move {
            while let Some(Ok(message)) = stream.next().await {
                liveness.heard();
                match message {
                    Message::Text(text) => handle_text(&state, &peer, &text),
                    Message::Binary(data) => handle_frame(&state, &peer, &data).await,
                    Message::Close(_) => break,
                    Message::Ping(_) | Message::Pong(_) => {}
                }
            }
        }
    };
    let watchdog = async {
        let mut tick = tokio::time::interval(WATCH_EVERY);
        let mut last = Instant::now();
        loop {
            tick.tick().await;
            let gap = last.elapsed();
            last = Instant::now();
            if gap > STALLED_AFTER {
                liveness.stalled(gap.saturating_sub(WATCH_EVERY));
            }
            if let Some(why) = liveness.gone() {
                tracing::info!(agent = %id, "agent gone: {why}");
                break;
            }
        }
    };
    tokio::select! {
        () = writer => {},
        () = reader => {},
        () = watchdog => {},
        () = outbox.overflowed() => {
            tracing::warn!(
                agent = %id,
                "closing the agent socket: {MAX_PENDING_REPLIES} replies wait unread, the agent sends without reading"
            );
        }
    }
    lease_input(&state, Input::AgentLeft { agent: id.clone() });
    lock(&state.agents.agents).retain(|c| c.peer.id != id);
    tracing::info!(agent = %id, "agent disconnected");
}

/// When the agent was last heard from, and since when a ping has waited for an answer, on a
/// clock that stops while the relay does.
#[derive(Debug)]
struct Liveness {
    started: Instant,
    stalled_ms: AtomicU64,
    last_heard_ms: AtomicU64,
    /// When the oldest unanswered ping went out; `u64::MAX` when none is waiting.
    ping_waiting_since_ms: AtomicU64,
}

impl Liveness {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            stalled_ms: AtomicU64::new(0),
            last_heard_ms: AtomicU64::new(0),
            ping_waiting_since_ms: AtomicU64::new(u64::MAX),
        }
    }

    fn now_ms(&self) -> u64 {
        millis(self.started.elapsed()).saturating_sub(self.stalled_ms.load(Ordering::Relaxed))
    }

    /// The relay did not run for `time`.
    fn stalled(&self, time: Duration) {
        self.stalled_ms.fetch_add(millis(time), Ordering::Relaxed);
    }

    /// Any message (a pong, stats, a frame) shows the agent is there.
    fn heard(&self) {
        self.last_heard_ms.store(self.now_ms(), Ordering::Relaxed);
        self.ping_waiting_since_ms
            .store(u64::MAX, Ordering::Relaxed);
    }

    /// A ping went out; the clock starts at the oldest one still unanswered.
    fn pinged(&self) {
        let now = self.now_ms();
        let _ = self.ping_waiting_since_ms.compare_exchange(
            u64::MAX,
            now,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    fn gone(&self) -> Option<&'static str> {
        let now = self.now_ms();
        let waiting = self.ping_waiting_since_ms.load(Ordering::Relaxed);
        if waiting != u64::MAX && now.saturating_sub(waiting) > millis(DEAD_AFTER) {
            return Some("a ping went unanswered");
        }
        let silent = now.saturating_sub(self.last_heard_ms.load(Ordering::Relaxed));
        (silent > millis(SILENT_AFTER)).then_some("it went silent")
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
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
    peer: Peer,
    mut sink: S,
    mut rx: mpsc::Receiver<String>,
    liveness: Arc<Liveness>,
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
        // Shutdown, control messages and pings go ahead of multi-megabyte frames.
        let result = tokio::select! {
            biased;
            () = &mut stopping => {
                let _ = sink.send(Message::Close(None)).await;
                break;
            }
            message = rx.recv() => match message {
                Some(text) => sink.send(Message::Text(text.into())).await,
                None => break,
            },
            _ = ping.tick() => {
                let sent = sink.send(Message::Ping(Bytes::new())).await;
                liveness.pinged();
                sent
            }
            () = peer.frames.notified() => send_frames(&state, &peer, &mut sink).await,
        };
        if result.is_err() {
            break;
        }
    }
}

/// Sends the newest pending frame of every stream this agent publishes. A stream with
/// [`crate::link::MAX_IN_FLIGHT`] frames unacknowledged keeps its frame in the newest-wins
/// slot; the agent's next ack wakes this loop again.
async fn send_frames<S>(state: &AppState, peer: &Peer, sink: &mut S) -> Result<(), axum::Error>
where
    S: futures_util::Sink<Message, Error = axum::Error> + Unpin,
{
    let held = lock(&state.leases).held_by(&peer.id);
    for entry in held.iter().filter_map(|stream| state.streams.get(stream)) {
        if let Some(in_flight) = &peer.in_flight
            && !in_flight.has_room(entry.index)
        {
            continue;
        }
        if let Some(message) = entry.frames.uplink.take() {
            let message = for_link(message, peer).await;
            if let (Some(in_flight), Ok(header)) =
                (&peer.in_flight, FrameHeader::decode_header(&message))
            {
                in_flight.sent(entry.index, header.sequence);
            }
            entry
                .frames
                .counters
                .sent_bytes
                .fetch_add(message.len() as u64, Ordering::Relaxed);
            sink.send(Message::Binary(message)).await?;
        }
    }
    Ok(())
}

/// The frame as this agent's link carries it, converted off the runtime and only for frames
/// that are sent: JPEG on a compressed link; on a raw one I420 to agents that ask for it
/// (the socket into the page is the narrow part of the hand-off, and I420 is half the bytes
/// of RGB and what the page's encoder consumes anyway). A frame that cannot be converted goes
/// as it is, and the agent reports the fault.
async fn for_link(message: Bytes, peer: &Peer) -> Bytes {
    let (format, quality, prefer_i420) =
        (peer.link.format, peer.link.jpeg_quality, peer.prefer_i420);
    if format == LinkFormat::Raw && !prefer_i420 {
        return message;
    }
    match tokio::task::spawn_blocking({
        let message = message.clone();
        move || match format {
            LinkFormat::Jpeg => crate::link::encode_message(&message, quality)
                .map_err(|e| tracing::warn!("cannot send a frame as JPEG: {e}"))
                .ok(),
            LinkFormat::Raw => crate::pixels::frame_message_as_i420(&message),
        }
    })
    .await
    {
        Ok(Some(converted)) => Bytes::from(converted),
        _ => message,
    }
}

fn reply_error(outbox: &Outbox, code: &str, message: String) {
    let error = RelayMessage::Error {
        code: code.to_owned(),
        message,
    };
    if let Ok(text) = serde_json::to_string(&error) {
        outbox.push(text);
    }
}

/// A text message parsed and checked against the size caps; on failure the error code and
/// message to answer with.
fn parse(text: &str) -> Result<AgentMessage, (&'static str, String)> {
    if text.len() > MAX_TEXT_BYTES {
        return Err((
            "too_long",
            format!(
                "a text message of {} bytes is longer than the limit of {MAX_TEXT_BYTES}",
                text.len()
            ),
        ));
    }
    let message = serde_json::from_str::<AgentMessage>(text)
        .map_err(|e| ("bad_message", format!("cannot parse message: {e}")))?;
    check_lengths(&message).map_err(|e| ("too_long", e))?;
    Ok(message)
}

/// Caps every string an agent sends, so none can grow the relay's memory, its answers or
/// its log lines beyond a fixed size.
fn check_lengths(message: &AgentMessage) -> Result<(), String> {
    let cap = |field: &str, value: &str, max: usize| {
        if value.len() > max {
            Err(format!(
                "{field} is {} bytes, longer than the limit of {max}",
                value.len()
            ))
        } else {
            Ok(())
        }
    };
    match message {
        AgentMessage::Hello { label, resume, .. } => {
            cap("label", label, MAX_LABEL_BYTES)?;
            if resume.len() > MAX_RESUME {
                return Err(format!(
                    "resume lists {} streams, more than the limit of {MAX_RESUME}",
                    resume.len()
                ));
            }
            resume
                .iter()
                .try_for_each(|id| cap("a resume stream id", id, MAX_ID_BYTES))
        }
        AgentMessage::State {
            stream_id, error, ..
        } => {
            cap("stream_id", stream_id, MAX_ID_BYTES)?;
            cap(
                "error",
                error.as_deref().unwrap_or_default(),
                MAX_ERROR_BYTES,
            )
        }
        AgentMessage::Stats {
            stream_id, stats, ..
        } => {
            cap("stream_id", stream_id, MAX_ID_BYTES)?;
            for (field, value) in [
                ("stats.codec", &stats.codec),
                ("stats.implementation", &stats.implementation),
                ("stats.quality_limitation", &stats.quality_limitation),
            ] {
                cap(
                    field,
                    value.as_deref().unwrap_or_default(),
                    MAX_STATS_TEXT_BYTES,
                )?;
            }
            Ok(())
        }
        AgentMessage::Release { stream_id } => cap("stream_id", stream_id, MAX_ID_BYTES),
        AgentMessage::Ack { .. } => Ok(()),
    }
}

/// The stream `stream_id` if `agent_id` holds its lease; otherwise tells the agent why not.
fn held_stream(
    state: &AppState,
    agent_id: &str,
    outbox: &Outbox,
    stream_id: &str,
) -> Option<Arc<StreamEntry>> {
    let Some(entry) = state.streams.get(stream_id) else {
        reply_error(outbox, "unknown_stream", format!("no stream {stream_id:?}"));
        return None;
    };
    if state.holder(stream_id).as_deref() != Some(agent_id) {
        reply_error(
            outbox,
            "not_lease_holder",
            format!("this agent does not publish {stream_id:?}"),
        );
        return None;
    }
    Some(entry)
}

/// Whether a report arrived after it stopped mattering: its stream is gone, or the agent says
/// its media ended after its lease moved. Agents send these while tearing down; answering with
/// an error would only show users a message about a stream they already stopped.
fn late_report(state: &AppState, agent_id: &str, stream_id: &str, ended: bool) -> bool {
    let late = state.streams.get(stream_id).is_none()
        || (ended && state.holder(stream_id).as_deref() != Some(agent_id));
    if late {
        tracing::debug!(agent = %agent_id, stream = %escaped(stream_id), "late report ignored");
    }
    late
}

fn handle_text(state: &AppState, peer: &Peer, text: &str) {
    let (agent_id, outbox) = (peer.id.as_str(), &peer.outbox);
    let message = match parse(text) {
        Ok(m) => m,
        Err((code, message)) => return reply_error(outbox, code, message),
    };
    match message {
        AgentMessage::Hello { .. } => {
            reply_error(outbox, "bad_message", "hello was already received".into());
        }
        AgentMessage::Ack {
            stream_index,
            sequence,
        } => {
            // From an agent that did not ask for acks this changes nothing: it has no bound.
            if let Some(in_flight) = &peer.in_flight {
                in_flight.acked(stream_index, sequence);
                peer.frames.notify_one();
            }
        }
        AgentMessage::State {
            stream_id,
            role,
            state: media_state,
            error,
        } => {
            let ended = media_state == rtc_protocol::MediaState::Ended;
            if late_report(state, agent_id, &stream_id, ended) {
                return;
            }
            let Some(entry) = held_stream(state, agent_id, outbox, &stream_id) else {
                return;
            };
            let error = error
                .map(|e| crate::media_advice::advise(e, entry.backend, state.media.candidates()));
            {
                let mut info = lock(&entry.info);
                let slot = match role {
                    AgentRole::Publisher => &mut info.publisher,
                    AgentRole::Player => &mut info.player,
                };
                let stats = slot.take().map(|r| r.stats).unwrap_or_default();
                *slot = Some(MediaReport {
                    agent_id: agent_id.to_owned(),
                    link: peer.link.format,
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
            if late_report(state, agent_id, &stream_id, false) {
                return;
            }
            let Some(entry) = held_stream(state, agent_id, outbox, &stream_id) else {
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
                        link: peer.link.format,
                        state: rtc_protocol::MediaState::Connecting,
                        stats,
                        error: None,
                    });
                }
            }
        }
        AgentMessage::Release { stream_id } => {
            if held_stream(state, agent_id, outbox, &stream_id).is_some() {
                lease_input(
                    state,
                    Input::Released {
                        agent: agent_id.to_owned(),
                        stream: stream_id,
                    },
                );
            }
        }
    }
}

async fn handle_frame(state: &AppState, peer: &Peer, data: &Bytes) {
    let (agent_id, outbox) = (peer.id.as_str(), &peer.outbox);
    let header = match FrameHeader::decode(data) {
        Ok((header, _)) => header,
        Err(e) => return reply_error(outbox, "bad_frame", e.to_string()),
    };
    let Some(entry) = state.streams.by_index(header.stream_index) else {
        return reply_error(
            outbox,
            "unknown_stream",
            format!("no stream with index {}", header.stream_index),
        );
    };
    if state.holder(&entry.id).as_deref() != Some(agent_id) {
        return reply_error(
            outbox,
            "not_lease_holder",
            format!("this agent does not play {:?}", entry.id),
        );
    }
    entry
        .frames
        .counters
        .output_bytes
        .fetch_add(data.len() as u64, Ordering::Relaxed);
    let (header, pixels) = if header.format == PixelFormat::Jpeg {
        // Decoded here, once, so every reader of the output gets pixels; off the runtime,
        // since a 720p frame takes milliseconds.
        let data = data.clone();
        let decoded = tokio::task::spawn_blocking(move || {
            crate::link::decode_rgb(&header, &data[FRAME_HEADER_LEN..])
        })
        .await;
        match decoded {
            Ok(Ok(rgb)) => (
                FrameHeader {
                    format: PixelFormat::Rgb8,
                    ..header
                },
                Bytes::from(rgb),
            ),
            Ok(Err(e)) => return reply_error(outbox, "bad_frame", e.to_string()),
            Err(_) => return,
        }
    } else {
        (header, data.slice(FRAME_HEADER_LEN..))
    };
    entry.frames.output.publish(&header, pixels);
}
