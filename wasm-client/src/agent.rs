//! The browser agent: one WebSocket to the relay's `/v1/agent`. It takes publish leases,
//! runs a [`Publisher`] per leased stream fed by the binary frames the relay sends, plays the
//! processed output back with a [`Player`] whose frames go back over the socket, reports
//! state changes and 1 Hz stats, and survives relay restarts (reconnect with backoff, `hello`
//! with the streams to resume).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};

use rtc_protocol::{
    AgentMessage, AgentRole, FRAME_HEADER_LEN, FrameHeader, LeaseGrant, LinkChoice, MediaState,
    OutputRequest, PROTOCOL_VERSION, PixelFormat, RelayMessage,
};
use wasm_bindgen::prelude::*;
use web_sys::{BinaryType, CloseEvent, MessageEvent, VideoFrame, WebSocket};

use crate::error::{ClientError, ErrorCode, Result};
use crate::events::Emitter;
use crate::latency::LatencyTracker;
use crate::link::Media;
use crate::player::{FrameSink, Player, PlayerOptions};
use crate::publisher::{BroadcastOptions, Publisher, SourceKind};
use crate::signaling::Endpoint;
use crate::state::{Backoff, ReconnectOptions, state_name};
use crate::ticker::Ticker;
use crate::urls::{resolve_url, websocket_url};
use crate::{frames, js, markers, wire};

/// JPEG quality of returned frames when the relay names none.
const DEFAULT_JPEG_QUALITY: u8 = 80;
/// While no frames are wanted back, one played frame in this many is still copied out for its
/// latency marker (about four a second at 30 fps).
const LATENCY_SAMPLE_EVERY: u32 = 8;

/// `createAgent` options (`AgentOptions` in TypeScript).
#[derive(Debug, Clone, Default)]
pub(crate) struct AgentOptions {
    /// Base URL of the relay API (`/` standalone, `/rtc/api/` through ComfyUI).
    pub base_url: Option<String>,
    /// Shown in the relay's UI.
    pub label: Option<String>,
    /// Take publish leases (default true).
    pub publish: Option<bool>,
    /// Take them only while no other candidate is connected (default false).
    pub fallback: Option<bool>,
    /// Socket reconnection policy.
    pub reconnect: ReconnectOptions,
    /// Stats report period.
    pub stats_interval_ms: Option<u32>,
    /// Track source of the publishers (for browsers without the generator).
    pub source: SourceKind,
    /// Frame link asked of the relay (default `auto`: raw on this machine, JPEG across a
    /// network).
    pub link: Option<LinkChoice>,
    /// The page's JPEG codec (`JpegCodec`); without it the link is always raw.
    pub jpeg: Option<JsValue>,
}

/// Connection state of the agent socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AgentState {
    /// Opening the socket, waiting for `welcome`.
    Connecting,
    /// Welcomed by the relay.
    Connected,
    /// Lost the socket; retrying.
    Reconnecting,
    /// Stopped.
    Closed,
}

impl AgentState {
    /// Name JavaScript sees.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Connected => "connected",
            Self::Reconnecting => "reconnecting",
            Self::Closed => "closed",
        }
    }
}

struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut(web_sys::Event)>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close();
    }
}

struct Slot {
    stream_id: String,
    index: u32,
    publisher: Rc<Publisher>,
    player: Option<(OutputRequest, Rc<Player>)>,
    frames_in: u64,
    bad_frames: u64,
    /// Sequence of the newest frame published; JPEG decodes may finish out of order.
    newest_in: u64,
    /// Returned frames skipped because the socket still held the previous one.
    skipped: Rc<Cell<u64>>,
    /// Whether anything reads the returned frames (the relay's `output_demand`); shared with
    /// the player's [`SocketSink`], which sends none while nothing does.
    output_wanted: Rc<Cell<bool>>,
    /// Shared with the player's [`SocketSink`], which sees the frames come back.
    latency: Rc<RefCell<LatencyTracker>>,
}

/// The agent behind the JS `Agent`.
pub(crate) struct Agent {
    base: String,
    options: AgentOptions,
    state: Cell<AgentState>,
    agent_id: RefCell<Option<String>>,
    /// Listeners of the JS object.
    pub(crate) events: Emitter,
    socket: RefCell<Option<Socket>>,
    /// JPEG quality of returned frames, when the relay chose a JPEG link.
    jpeg_quality: Cell<Option<u8>>,
    /// Whether the relay bounds frames in flight, so each one must be acknowledged.
    acks: Cell<bool>,
    backoff: RefCell<Backoff>,
    /// A handful at most: a list is smaller in wasm than a map.
    slots: RefCell<Vec<Slot>>,
    /// Streams whose lease must be renegotiated when granted again (after a socket loss).
    resumed: RefCell<Vec<String>>,
    waiting: RefCell<Vec<(js_sys::Function, js_sys::Function)>>,
    stats_ticker: RefCell<Option<Ticker>>,
    me: Weak<Agent>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("base", &self.base)
            .field("state", &self.state.get())
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// An agent for the relay at `options.baseUrl` (default: the page's origin).
    pub(crate) fn new(options: AgentOptions) -> Result<Rc<Self>> {
        let href = js::string(&js::get(&js_sys::global(), "location"), "href").unwrap_or_default();
        let base = options.base_url.clone().unwrap_or_else(|| "/".to_owned());
        let base = web_sys::Url::new_with_base(&base, &href)
            .or_else(|_| web_sys::Url::new(&base))
            .map_err(|e| ClientError::js(ErrorCode::InvalidOptions, "baseUrl", &e))?
            .href();
        Ok(Rc::new_cyclic(|me| Self {
            base,
            backoff: RefCell::new(Backoff::new(options.reconnect)),
            options,
            state: Cell::new(AgentState::Connecting),
            agent_id: RefCell::new(None),
            events: Emitter::default(),
            socket: RefCell::new(None),
            jpeg_quality: Cell::new(None),
            acks: Cell::new(false),
            slots: RefCell::new(Vec::new()),
            resumed: RefCell::new(Vec::new()),
            waiting: RefCell::new(Vec::new()),
            stats_ticker: RefCell::new(None),
            me: me.clone(),
        }))
    }

    fn stream_ids(&self) -> Vec<String> {
        self.slots
            .borrow()
            .iter()
            .map(|s| s.stream_id.clone())
            .collect()
    }

    /// Current state.
    pub(crate) fn state(&self) -> AgentState {
        self.state.get()
    }

    /// Id the relay gave this connection.
    pub(crate) fn agent_id(&self) -> Option<String> {
        self.agent_id.borrow().clone()
    }

    fn set_state(&self, to: AgentState) {
        let from = self.state.replace(to);
        if from != to {
            let event = js::object();
            js::set(&event, "state", &to.as_str().into());
            js::set(&event, "previous", &from.as_str().into());
            self.events.emit("stateChange", &event);
        }
    }

    /// Opens the socket; the promise resolves on the relay's `welcome`.
    pub(crate) fn connect(&self) -> js_sys::Promise {
        let mut callbacks = None;
        let promise =
            js_sys::Promise::new(&mut |resolve, reject| callbacks = Some((resolve, reject)));
        if let Some(pair) = callbacks {
            if self.state.get() == AgentState::Connected {
                let _ = pair.0.call0(&JsValue::NULL);
                return promise;
            }
            self.waiting.borrow_mut().push(pair);
        }
        if self.state.get() == AgentState::Closed {
            self.settle(&Err(ClientError::new(ErrorCode::Closed, "agent stopped")));
        } else if self.socket.borrow().is_none() {
            self.open();
            if self.stats_ticker.borrow().is_none() {
                let me = self.me.clone();
                let period = self.options.stats_interval_ms.unwrap_or(1000).max(100);
                *self.stats_ticker.borrow_mut() = Some(Ticker::start(period, move || {
                    if let Some(agent) = me.upgrade() {
                        agent.report_stats();
                    }
                }));
            }
        }
        promise
    }

    fn settle(&self, outcome: &std::result::Result<(), ClientError>) {
        for (resolve, reject) in self.waiting.borrow_mut().drain(..) {
            let _ = match outcome {
                Ok(()) => resolve.call0(&JsValue::NULL),
                Err(err) => reject.call1(&JsValue::NULL, &JsValue::from(err.clone())),
            };
        }
    }

    fn open(&self) {
        let url = websocket_url(&resolve_url(&self.base, "v1/agent"));
        let ws = match WebSocket::new(&url) {
            Ok(ws) => ws,
            Err(e) => {
                let err = ClientError::js(ErrorCode::InvalidOptions, "agent socket", &e);
                self.events.emit("error", &JsValue::from(err.clone()));
                self.settle(&Err(err));
                return;
            }
        };
        ws.set_binary_type(BinaryType::Arraybuffer);
        let me = self.me.clone();
        let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            if let Some(agent) = me.upgrade() {
                agent.say_hello();
            }
        });
        let me = self.me.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            if let Some(agent) = me.upgrade() {
                agent.on_message(&event.data());
            }
        });
        let me = self.me.clone();
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
            if let Some(agent) = me.upgrade() {
                agent.on_close(event.code(), &event.reason());
            }
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        *self.socket.borrow_mut() = Some(Socket {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        });
    }

    fn send(&self, message: &AgentMessage) {
        let Some(socket) = self.socket.borrow().as_ref().map(|s| s.ws.clone()) else {
            return;
        };
        if socket.ready_state() != WebSocket::OPEN {
            return;
        }
        let _ = socket.send_with_str(&wire::encode(message));
    }

    fn say_hello(&self) {
        let resume = self.stream_ids();
        let label = self.options.label.clone().unwrap_or_else(|| {
            js::string(&js::get(&js_sys::global(), "navigator"), "userAgent").unwrap_or_default()
        });
        self.send(&AgentMessage::Hello {
            protocol: PROTOCOL_VERSION,
            label,
            publish: self.options.publish.unwrap_or(true),
            resume,
            // The publisher turns I420 straight into a VideoFrame; RGB would need expanding.
            prefer_i420: true,
            link: Some(match self.options.jpeg {
                Some(_) => self.options.link.unwrap_or(LinkChoice::Auto),
                None => LinkChoice::Raw,
            }),
            // The relay's quality: one setting for both directions.
            jpeg_quality: None,
            acks: true,
            fallback: self.options.fallback.unwrap_or(false),
        });
    }

    fn on_close(&self, code: u16, reason: &str) {
        self.socket.borrow_mut().take();
        if self.state.get() == AgentState::Closed {
            return;
        }
        *self.resumed.borrow_mut() = self.stream_ids();
        let delay = self.backoff.borrow_mut().next_delay(None);
        let Some(delay) = delay else {
            let err = ClientError::new(
                ErrorCode::Network,
                format!("agent socket closed ({code} {reason}); gave up"),
            );
            self.events.emit("error", &JsValue::from(err.clone()));
            self.settle(&Err(err));
            self.set_state(AgentState::Closed);
            return;
        };
        self.set_state(AgentState::Reconnecting);
        let me = self.me.clone();
        js::spawn(async move {
            gloo_timers::future::TimeoutFuture::new(delay).await;
            if let Some(agent) = me
                .upgrade()
                .filter(|a| a.state.get() == AgentState::Reconnecting)
            {
                agent.open();
            }
        });
    }

    fn on_message(&self, data: &JsValue) {
        if let Some(text) = data.as_string() {
            match wire::decode(&text) {
                Ok(message) => self.handle(message),
                Err(err) => self.report_error(err),
            }
        } else if let Some(buffer) = data.dyn_ref::<js_sys::ArrayBuffer>() {
            self.on_frame(&js_sys::Uint8Array::new(buffer));
        }
    }

    fn report_error(&self, err: ClientError) {
        self.events.emit("error", &JsValue::from(err));
    }

    /// Tells the relay the frame is consumed, so it may send the next.
    fn ack(&self, header: &FrameHeader) {
        if self.acks.get() {
            self.send(&AgentMessage::Ack {
                stream_index: header.stream_index,
                sequence: header.sequence,
            });
        }
    }

    /// Only the header is copied into wasm; the pixels stay in the socket's buffer until the
    /// `VideoFrame` copies them (a megabyte or more per frame). JPEG frames are decoded by
    /// the browser and acknowledged once decoded, so decodes never pile up.
    fn on_frame(&self, message: &js_sys::Uint8Array) {
        let mut head = [0u8; FRAME_HEADER_LEN];
        let head_len = FRAME_HEADER_LEN.min(message.length() as usize);
        message
            .subarray(0, head_len as u32)
            .copy_to(&mut head[..head_len]);
        let header = match FrameHeader::decode_header(&head[..head_len]) {
            Ok(header) => header,
            Err(e) => {
                return self.report_error(ClientError::new(ErrorCode::InvalidFrame, e.to_string()));
            }
        };
        let pixels = message.subarray(FRAME_HEADER_LEN as u32, message.length());
        if let (PixelFormat::Jpeg, Some(codec)) = (header.format, &self.options.jpeg) {
            let me = self.me.clone();
            let t = (header.capture_us as f64).into();
            let decoding = js::call(codec, "decode", &[&pixels, &t]);
            return js::spawn(async move {
                let decoded = frames::from_jpeg(decoding, header.width, header.height).await;
                if let Some(agent) = me.upgrade() {
                    agent.take_decoded(&header, decoded);
                    agent.ack(&header);
                }
            });
        }
        self.take_raw(&header, &pixels);
        self.ack(&header);
    }

    fn take_decoded(&self, header: &FrameHeader, decoded: Result<VideoFrame>) {
        let mut slots = self.slots.borrow_mut();
        let Some(slot) = slots.iter_mut().find(|s| s.index == header.stream_index) else {
            if let Ok(frame) = decoded {
                frame.close();
            }
            return;
        };
        match decoded {
            Ok(frame) if header.sequence >= slot.newest_in => {
                slot.newest_in = header.sequence;
                slot.frames_in += 1;
                slot.publisher.push_frame(frame);
            }
            Ok(stale) => stale.close(),
            Err(err) => {
                slot.bad_frames += 1;
                drop(slots);
                self.report_error(err);
            }
        }
    }

    fn take_raw(&self, header: &FrameHeader, pixels: &js_sys::Uint8Array) {
        let mut slots = self.slots.borrow_mut();
        let Some(slot) = slots.iter_mut().find(|s| s.index == header.stream_index) else {
            return self.report_error(ClientError::new(
                ErrorCode::InvalidFrame,
                format!("frame for unknown stream index {}", header.stream_index),
            ));
        };
        let marker = markers::read_frame(
            header.format,
            header.width,
            header.height,
            pixels.length() as usize,
            // A few hundred single-byte reads across the JS boundary, not a copy of the frame.
            |i| pixels.get_index(i as u32),
        );
        slot.latency.borrow_mut().sent(marker, js::now_ms());
        match slot.publisher.push_pixels(
            header.format,
            header.width,
            header.height,
            header.capture_us as f64,
            pixels,
        ) {
            Ok(()) => {
                slot.frames_in += 1;
                slot.newest_in = header.sequence;
            }
            Err(err) => {
                slot.bad_frames += 1;
                drop(slots);
                self.report_error(err);
            }
        }
    }

    fn handle(&self, message: RelayMessage) {
        match message {
            RelayMessage::Welcome {
                protocol,
                agent_id,
                link,
                jpeg_quality,
                max_in_flight,
            } => {
                self.jpeg_quality.set(
                    (link == rtc_protocol::LinkFormat::Jpeg)
                        .then(|| jpeg_quality.unwrap_or(DEFAULT_JPEG_QUALITY)),
                );
                self.acks.set(max_in_flight.is_some());
                if protocol != PROTOCOL_VERSION {
                    self.report_error(ClientError::new(
                        ErrorCode::Protocol,
                        format!("relay speaks protocol {protocol}, this agent {PROTOCOL_VERSION}"),
                    ));
                }
                *self.agent_id.borrow_mut() = Some(agent_id);
                self.backoff.borrow_mut().reset();
                self.set_state(AgentState::Connected);
                self.settle(&Ok(()));
            }
            RelayMessage::Publish(grant) => self.publish(&grant),
            RelayMessage::Settings(grant) => {
                if let Some(slot) = slot(&self.slots.borrow(), &grant.stream_id) {
                    let _ = slot.publisher.set_video(
                        Some(f64::from(grant.frame_rate)),
                        Some(grant.max_bitrate_kbps),
                    );
                }
            }
            RelayMessage::Play(request) => self.play(request),
            RelayMessage::OutputDemand { stream_id, wanted } => {
                if let Some(slot) = slot(&self.slots.borrow(), &stream_id) {
                    slot.output_wanted.set(wanted);
                }
            }
            RelayMessage::Stop { stream_id, reason } => self.stop_stream(&stream_id, &reason),
            RelayMessage::Error { code, message } => {
                self.report_error(ClientError::new(
                    ErrorCode::Protocol,
                    format!("relay: {code}: {message}"),
                ));
            }
        }
    }

    fn state_hook(&self, stream_id: &str, role: AgentRole) -> crate::link::StateHook {
        let me = self.me.clone();
        let stream_id = stream_id.to_owned();
        Box::new(move |state: MediaState, error: Option<&ClientError>| {
            let Some(agent) = me.upgrade() else { return };
            // A player that connects fine but whose frames cannot be read keeps saying why.
            let error = match (error, role) {
                (Some(err), _) => Some(err.summary()),
                (None, AgentRole::Player) => agent.player_frame_error(&stream_id),
                (None, AgentRole::Publisher) => None,
            };
            agent.send(&AgentMessage::State {
                stream_id: stream_id.clone(),
                role,
                state,
                error,
            });
            let event = js::object();
            js::set(&event, "streamId", &stream_id.as_str().into());
            js::set(&event, "role", &wire::role_name(role).into());
            js::set(&event, "state", &state_name(state).into());
            agent.events.emit("stream", &event);
        })
    }

    fn publish(&self, grant: &LeaseGrant) {
        let endpoint = Endpoint {
            url: resolve_url(&self.base, &grant.whip_url),
            token: None,
        };
        let renegotiate = {
            let mut resumed = self.resumed.borrow_mut();
            let was_resumed = resumed.contains(&grant.stream_id);
            resumed.retain(|id| id != &grant.stream_id);
            was_resumed
        };
        if let Some(slot) = slot_mut(&mut self.slots.borrow_mut(), &grant.stream_id) {
            slot.index = grant.stream_index;
            // A new grant (maybe from a restarted relay) numbers its frames afresh.
            slot.newest_in = 0;
            slot.publisher.link().set_endpoint(endpoint);
            let _ = slot.publisher.set_video(
                Some(f64::from(grant.frame_rate)),
                Some(grant.max_bitrate_kbps),
            );
            let state = slot.publisher.link().state();
            if renegotiate || matches!(state, MediaState::Failed | MediaState::Idle) {
                js::spawn(crate::link::reconnect(slot.publisher.clone()));
            }
            return;
        }
        let options = BroadcastOptions {
            frame_rate: f64::from(grant.frame_rate),
            max_bitrate_kbps: grant.max_bitrate_kbps,
            source: self.options.source,
            ..BroadcastOptions::new(endpoint.url)
        };
        let publisher = match Publisher::new(options) {
            Ok(p) => p,
            Err(err) => {
                self.send(&AgentMessage::State {
                    stream_id: grant.stream_id.clone(),
                    role: AgentRole::Publisher,
                    state: MediaState::Failed,
                    error: Some(err.summary()),
                });
                return self.report_error(err);
            }
        };
        publisher
            .link()
            .set_hook(self.state_hook(&grant.stream_id, AgentRole::Publisher));
        self.slots.borrow_mut().push(Slot {
            stream_id: grant.stream_id.clone(),
            index: grant.stream_index,
            publisher: publisher.clone(),
            player: None,
            frames_in: 0,
            bad_frames: 0,
            newest_in: 0,
            skipped: Rc::default(),
            output_wanted: Rc::new(Cell::new(true)),
            latency: Rc::default(),
        });
        js::spawn(async move {
            let _ = crate::link::connect(publisher).await;
        });
    }

    fn play(&self, request: OutputRequest) {
        let url = resolve_url(&self.base, &request.whep_url);
        let mut slots = self.slots.borrow_mut();
        let Some(slot) = slot_mut(&mut slots, &request.stream_id) else {
            drop(slots);
            return self.report_error(ClientError::new(
                ErrorCode::Protocol,
                format!("play for {} without a publish lease", request.stream_id),
            ));
        };
        if let Some((current, player)) = &slot.player
            && current == &request
            && player.link().state() != MediaState::Failed
        {
            return;
        }
        let player = match Player::new(url, PlayerOptions::default()) {
            Ok(p) => p,
            Err(err) => {
                drop(slots);
                return self.report_error(err);
            }
        };
        player
            .link()
            .set_hook(self.state_hook(&request.stream_id, AgentRole::Player));
        // A new player sends until the relay says nothing reads (it says so right after).
        slot.output_wanted.set(true);
        player.set_sink(Rc::new(SocketSink {
            agent: self.me.clone(),
            stream_id: request.stream_id.clone(),
            stream_index: request.stream_index,
            format: request.format,
            jpeg: self.options.jpeg.clone().zip(self.jpeg_quality.get()),
            sequence: Cell::new(0),
            last_len: Rc::default(),
            skipped: slot.skipped.clone(),
            output_wanted: slot.output_wanted.clone(),
            held: Cell::new(0),
            latency: slot.latency.clone(),
        }));
        if let Some((_, old)) = slot.player.replace((request, player.clone())) {
            js::spawn(async move { old.stop().await });
        }
        drop(slots);
        js::spawn(async move {
            let _ = crate::link::connect(player).await;
        });
    }

    fn player_of(&self, stream_id: &str) -> Option<Rc<Player>> {
        let slots = self.slots.try_borrow().ok()?;
        slot(&slots, stream_id)?
            .player
            .as_ref()
            .map(|(_, p)| p.clone())
    }

    /// Why the player of `stream_id` gets no frames through, as the relay is told.
    fn player_frame_error(&self, stream_id: &str) -> Option<String> {
        self.player_of(stream_id)?
            .frame_error()
            .map(|e| e.summary())
    }

    /// Tells the relay (in the player's `state` message, whose `error` the Stream object
    /// shows) whether the played-back frames come through, so the UI and Frame Output can
    /// say why they do not.
    fn report_player_frames(&self, stream_id: &str, error: Option<&ClientError>) {
        let Some(player) = self.player_of(stream_id) else {
            return;
        };
        self.send(&AgentMessage::State {
            stream_id: stream_id.to_owned(),
            role: AgentRole::Player,
            state: player.link().state(),
            error: error.map(ClientError::summary),
        });
        if let Some(err) = error {
            self.report_error(err.clone());
        }
    }

    fn stop_stream(&self, stream_id: &str, reason: &str) {
        let slot = {
            let mut slots = self.slots.borrow_mut();
            let Some(at) = slots.iter().position(|s| s.stream_id == stream_id) else {
                return;
            };
            slots.remove(at)
        };
        let event = js::object();
        js::set(&event, "streamId", &stream_id.into());
        js::set(&event, "reason", &reason.into());
        self.events.emit("streamStopped", &event);
        js::spawn(async move {
            if let Some((_, player)) = slot.player {
                player.stop().await;
            }
            slot.publisher.stop().await;
        });
    }

    fn report_stats(&self) {
        if self.state.get() != AgentState::Connected {
            return;
        }
        for slot in self.slots.borrow().iter() {
            let me = self.me.clone();
            let stream_id = slot.stream_id.clone();
            let publisher = slot.publisher.clone();
            let player = slot.player.as_ref().map(|(_, p)| p.clone());
            let latency = slot.latency.clone();
            let skipped = slot.skipped.clone();
            js::spawn(async move {
                let mut reports = Vec::new();
                if let Some(mut stats) = publisher.link().stats().await {
                    let counters = publisher.counters();
                    stats.frames_dropped = Some(counters.dropped);
                    reports.push((AgentRole::Publisher, stats));
                }
                if let Some(player) = player
                    && let Some(mut stats) = player.link().stats().await
                {
                    stats.frames_skipped = Some(skipped.get());
                    if let Some(p) = latency.borrow_mut().percentiles(js::now_ms()) {
                        stats.latency_p50_ms = Some(p.p50_ms);
                        stats.latency_p95_ms = Some(p.p95_ms);
                    }
                    reports.push((AgentRole::Player, stats));
                }
                let Some(agent) = me.upgrade() else { return };
                for (role, stats) in reports {
                    let event = js::object();
                    js::set(&event, "streamId", &stream_id.as_str().into());
                    js::set(&event, "role", &wire::role_name(role).into());
                    js::set(&event, "stats", &wire::stats_object(&stats));
                    agent.events.emit("stats", &event);
                    agent.send(&AgentMessage::Stats {
                        stream_id: stream_id.clone(),
                        role,
                        stats,
                    });
                }
            });
        }
    }

    /// Summary of the streams this agent serves.
    pub(crate) fn streams(&self) -> JsValue {
        let list = js_sys::Array::new();
        for slot in self.slots.borrow().iter() {
            let entry = js::object();
            js::set(&entry, "streamId", &slot.stream_id.as_str().into());
            js::set(&entry, "streamIndex", &slot.index.into());
            js::set(
                &entry,
                "publisher",
                &state_name(slot.publisher.link().state()).into(),
            );
            let player = slot.player.as_ref().map(|(_, p)| p.link().state());
            js::set(
                &entry,
                "player",
                &player.map_or(JsValue::NULL, |s| state_name(s).into()),
            );
            js::set(&entry, "framesIn", &(slot.frames_in as f64).into());
            let out = slot.player.as_ref().map_or(0, |(_, p)| p.frames());
            js::set(&entry, "framesOut", &(out as f64).into());
            js::set(&entry, "badFrames", &(slot.bad_frames as f64).into());
            js::set(
                &entry,
                "usesGenerator",
                &slot.publisher.uses_generator().into(),
            );
            js::set(
                &entry,
                "pacedByWorker",
                &slot.publisher.paced_by_worker().into(),
            );
            list.push(&entry);
        }
        list.into()
    }

    /// The outgoing stream of a published stream (local preview).
    pub(crate) fn publisher_stream(&self, stream_id: &str) -> Option<web_sys::MediaStream> {
        slot(&self.slots.borrow(), stream_id).map(|s| s.publisher.stream().clone())
    }

    /// The played-back stream, for a `<video>`.
    pub(crate) fn player_stream(&self, stream_id: &str) -> Option<web_sys::MediaStream> {
        slot(&self.slots.borrow(), stream_id)?
            .player
            .as_ref()
            .map(|(_, p)| p.stream().clone())
    }

    /// Gives every lease back and closes the socket.
    pub(crate) async fn stop(&self) {
        self.set_state(AgentState::Closed);
        self.stats_ticker.borrow_mut().take();
        let slots = std::mem::take(&mut *self.slots.borrow_mut());
        for slot in &slots {
            self.send(&AgentMessage::Release {
                stream_id: slot.stream_id.clone(),
            });
        }
        for slot in slots {
            if let Some((_, player)) = slot.player {
                player.stop().await;
            }
            slot.publisher.stop().await;
        }
        self.socket.borrow_mut().take();
        self.settle(&Err(ClientError::new(ErrorCode::Closed, "agent stopped")));
    }
}

fn slot<'a>(slots: &'a [Slot], stream_id: &str) -> Option<&'a Slot> {
    slots.iter().find(|s| s.stream_id == stream_id)
}

fn slot_mut<'a>(slots: &'a mut [Slot], stream_id: &str) -> Option<&'a mut Slot> {
    slots.iter_mut().find(|s| s.stream_id == stream_id)
}

/// Sends the player's decoded frames to the relay as binary frame messages: pixels on a raw
/// link, JPEG on a compressed one. At most about two frames wait in the socket: a frame is
/// skipped while the socket still holds more than the previous message, so a slow link
/// drops frames instead of adding latency.
struct SocketSink {
    agent: Weak<Agent>,
    stream_id: String,
    stream_index: u32,
    format: PixelFormat,
    /// The page's codec and the quality, on a JPEG link.
    jpeg: Option<(JsValue, u8)>,
    sequence: Cell<u64>,
    /// Size of the last message sent.
    last_len: Rc<Cell<u32>>,
    skipped: Rc<Cell<u64>>,
    output_wanted: Rc<Cell<bool>>,
    /// Frames not sent because nothing read them.
    held: Cell<u32>,
    latency: Rc<RefCell<LatencyTracker>>,
}

impl FrameSink for SocketSink {
    fn frames_failing(&self, error: Option<&ClientError>) {
        if let Some(agent) = self.agent.upgrade() {
            agent.report_player_frames(&self.stream_id, error);
        }
    }

    fn deliver(&self, frame: &VideoFrame) -> Pin<Box<dyn Future<Output = Result<()>>>> {
        let Some(ws) = self
            .agent
            .upgrade()
            .and_then(|a| a.socket.borrow().as_ref().map(|s| s.ws.clone()))
            .filter(|ws| ws.ready_state() == WebSocket::OPEN)
        else {
            return Box::pin(async { Ok(()) });
        };
        // While nothing reads the frames, none is sent; one in a few is still copied out on a
        // raw link for its marker, so the page's latency figure stays live.
        let send = self.output_wanted.get();
        if !send {
            let held = self.held.get().wrapping_add(1);
            self.held.set(held);
            if self.jpeg.is_some() || !held.is_multiple_of(LATENCY_SAMPLE_EVERY) {
                return Box::pin(async { Ok(()) });
            }
        } else if ws.buffered_amount() > self.last_len.get() {
            self.skipped.set(self.skipped.get() + 1);
            return Box::pin(async { Ok(()) });
        }
        let frame = frame.clone();
        let format = self.format;
        let stream_index = self.stream_index;
        let sequence = self.sequence.get() + u64::from(send);
        self.sequence.set(sequence);
        let latency = self.latency.clone();
        let last_len = self.last_len.clone();
        let header = move |width, height| FrameHeader {
            stream_index,
            sequence,
            capture_us: (js_sys::Date::now() * 1000.0) as u64,
            width,
            height,
            format,
        };
        let jpeg = self.jpeg.clone();
        Box::pin(async move {
            let frame = frame.map_err(|e| ClientError::js(ErrorCode::InvalidFrame, "clone", &e))?;
            let sent = match jpeg {
                Some((codec, quality)) => send_jpeg(&ws, &frame, &codec, quality, header).await,
                None => frames::to_pixels(&frame, format, FRAME_HEADER_LEN)
                    .await
                    .map(|(buffer, width, height)| {
                        let marker = markers::read_frame(
                            format,
                            width,
                            height,
                            (buffer.length() as usize).saturating_sub(FRAME_HEADER_LEN),
                            |i| buffer.get_index((FRAME_HEADER_LEN + i) as u32),
                        );
                        latency.borrow_mut().returned(marker, js::now_ms());
                        if !send {
                            return 0;
                        }
                        buffer
                            .subarray(0, FRAME_HEADER_LEN as u32)
                            .copy_from(&header(width, height).encode());
                        let _ = ws.send_with_js_u8_array(&buffer);
                        buffer.length()
                    }),
            };
            frame.close();
            let sent = sent?;
            if send {
                last_len.set(sent);
            }
            Ok(())
        })
    }
}

/// Encodes `frame` as a JPEG with the page's codec and sends it with its header as one `Blob`
/// (the JPEG never enters wasm memory); returns the message's size.
async fn send_jpeg(
    ws: &WebSocket,
    frame: &VideoFrame,
    codec: &JsValue,
    quality: u8,
    header: impl Fn(u32, u32) -> FrameHeader,
) -> Result<u32> {
    let fail = |e: JsValue| ClientError::js(ErrorCode::InvalidFrame, "JPEG frame", &e);
    let (width, height) = (frame.display_width(), frame.display_height());
    let quality = (f64::from(quality) / 100.0).into();
    let jpeg = frames::settle(js::call(codec, "encode", &[frame, &quality]))
        .await
        .map_err(fail)?;
    let head = js_sys::Uint8Array::from(&header(width, height).encode()[..]);
    let message = web_sys::Blob::new_with_u8_array_sequence(&js_sys::Array::of2(&head, &jpeg))
        .map_err(fail)?;
    let _ = ws.send_with_blob(&message);
    Ok(message.size() as u32)
}
