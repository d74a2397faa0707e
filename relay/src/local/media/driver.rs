//! The UDP run loop: one socket for every peer, str0m instances polled to their timeouts,
//! and the gateway's rules: the publisher's video through the stream's effect stage (or
//! unchanged with `skip_diffusion`) to every viewer, audio unchanged, keyframe requests back,
//! and a keyframe request to every publisher every 2 s.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::format::PayloadParams;
use str0m::media::{KeyframeRequestKind, MediaData, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

use super::net::destination_for;
use super::signaling::Role;
use super::state::{Registry, StreamCounters};
use super::transcode::{Produced, Transcoder, Unit};
use crate::local::effect::Control;

/// A peer that has not completed ICE and DTLS in this time is dropped.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// A closing peer gets this long to flush its goodbye before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Keyframe requests to one publisher are spaced at least this far apart.
const KEYFRAME_REQUEST_SPACING: Duration = Duration::from_millis(100);
/// Upper bound on how long the loop sleeps when no peer needs it sooner.
const IDLE_WAKE: Duration = Duration::from_millis(100);
/// Like the gateway, every publisher is asked for a keyframe this often.
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_secs(2);
/// Bytes per RTP packet assumed when counting the effect stage's output.
const PACKET_PAYLOAD: usize = 1100;

/// Work for the driver from the HTTP side.
#[derive(Debug)]
pub(super) enum Command {
    /// A session whose offer was accepted.
    Add(Box<Peer>),
    /// End one session (its DELETE).
    Close(String),
    /// End every session of a stream.
    CloseStream(String),
}

/// One WHIP or WHEP session.
#[derive(Debug)]
pub(super) struct Peer {
    id: String,
    stream: String,
    role: Role,
    rtc: Rtc,
    counters: Arc<StreamCounters>,
    control: Arc<Control>,
    /// For a publisher: whether its last video frame was forwarded unchanged.
    passthrough: Option<bool>,
    mids: Vec<(Mid, MediaKind)>,
    created: Instant,
    connected: bool,
    closing_since: Option<Instant>,
    /// Removed from the registry (done once, as soon as the session stops being open).
    deregistered: bool,
    next_timeout: Instant,
    last_keyframe_request: Option<Instant>,
}

impl Peer {
    /// Wraps an `Rtc` that has accepted the session's offer.
    pub(super) fn new(
        id: String,
        stream: String,
        role: Role,
        rtc: Rtc,
        counters: Arc<StreamCounters>,
        control: Arc<Control>,
    ) -> Self {
        let now = Instant::now();
        Self {
            id,
            stream,
            role,
            rtc,
            counters,
            control,
            passthrough: None,
            mids: Vec::new(),
            created: now,
            connected: false,
            closing_since: None,
            deregistered: false,
            next_timeout: now,
            last_keyframe_request: None,
        }
    }

    fn mid_of(&self, kind: MediaKind) -> Option<Mid> {
        self.mids.iter().find(|(_, k)| *k == kind).map(|(m, _)| *m)
    }

    fn is_open(&self) -> bool {
        self.closing_since.is_none() && self.rtc.is_alive()
    }

    /// Starts a graceful close (RTCP BYE, DTLS close_notify).
    fn close(&mut self, now: Instant) {
        if self.closing_since.is_some() {
            return;
        }
        self.closing_since = Some(now);
        if self.rtc.close().is_err() {
            self.rtc.disconnect();
        }
    }

    fn request_keyframe(&mut self, kind: KeyframeRequestKind, now: Instant) {
        if !self.is_open()
            || self
                .last_keyframe_request
                .is_some_and(|t| now.saturating_duration_since(t) < KEYFRAME_REQUEST_SPACING)
        {
            return;
        }
        let Some(mid) = self.mid_of(MediaKind::Video) else {
            return;
        };
        if let Some(mut writer) = self.rtc.writer(mid)
            && writer.request_keyframe(None, kind).is_ok()
        {
            self.last_keyframe_request = Some(now);
        }
    }

    fn write(&mut self, kind: MediaKind, sample: Sample<'_>) -> bool {
        if !self.is_open() || !self.connected {
            return false;
        }
        let Some(mid) = self.mid_of(kind) else {
            return false;
        };
        let Some(writer) = self.rtc.writer(mid) else {
            return false;
        };
        // Payload types differ per peer: map by codec parameters, then by codec alone
        // (profiles the viewer did not list exactly still decode).
        let pt = writer.match_params(sample.params).or_else(|| {
            writer
                .payload_params()
                .find(|p| p.spec().codec == sample.params.spec().codec)
                .map(|p| p.pt())
        });
        let Some(pt) = pt else {
            return false;
        };
        match writer.write(
            pt,
            sample.network_time,
            sample.time,
            Arc::clone(sample.data),
        ) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(session = %self.id, "forwarding failed, closing: {e}");
                self.rtc.disconnect();
                false
            }
        }
    }
}

/// One frame (or audio packet) to send to a viewer.
#[derive(Clone, Copy)]
struct Sample<'a> {
    params: PayloadParams,
    network_time: Instant,
    time: MediaTime,
    data: &'a Arc<[u8]>,
}

impl<'a> From<&'a MediaData> for Sample<'a> {
    fn from(data: &'a MediaData) -> Self {
        Self {
            params: data.params,
            network_time: data.network_time,
            time: data.time,
            data: &data.data,
        }
    }
}

impl<'a> From<&'a Unit> for Sample<'a> {
    fn from(unit: &'a Unit) -> Self {
        Self {
            params: unit.params,
            network_time: unit.network_time,
            time: unit.time,
            data: &unit.data,
        }
    }
}

/// What one peer's output means for the others.
enum Propagate {
    Media {
        stream: String,
        kind: MediaKind,
        data: Box<MediaData>,
    },
    /// Publisher video for the stream's effect stage.
    Effect {
        stream: String,
        control: Arc<Control>,
        data: Box<MediaData>,
    },
    KeyframeWanted {
        stream: String,
        kind: KeyframeRequestKind,
    },
    PublisherGone {
        stream: String,
    },
}

/// Owns the socket and every session.
#[derive(Debug)]
pub(super) struct Driver {
    socket: UdpSocket,
    port: u16,
    candidates: Vec<SocketAddr>,
    registry: Arc<Registry>,
    peers: Vec<Peer>,
    /// When the datagram being processed arrived, to time forwarding.
    received_at: Option<Instant>,
    /// First-packet arrival of the oldest access unit forwarded since that datagram.
    forwarded_since: Option<Instant>,
    /// Effect stages by stream, while the stream has a publisher and the effect is on.
    transcoders: HashMap<String, Transcoder>,
    produced_tx: UnboundedSender<Produced>,
    produced: UnboundedReceiver<Produced>,
}

impl Driver {
    /// A driver for `socket`, which is announced as `candidates`.
    pub(super) fn new(
        socket: UdpSocket,
        candidates: Vec<SocketAddr>,
        registry: Arc<Registry>,
    ) -> Self {
        let port = socket.local_addr().map(|a| a.port()).unwrap_or(0);
        let (produced_tx, produced) = mpsc::unbounded_channel();
        Self {
            socket,
            port,
            candidates,
            registry,
            peers: Vec::new(),
            received_at: None,
            forwarded_since: None,
            transcoders: HashMap::new(),
            produced_tx,
            produced,
        }
    }

    /// Runs until every command sender is gone.
    pub(super) async fn run(mut self, mut commands: UnboundedReceiver<Command>) {
        let mut buf = vec![0u8; 2048];
        loop {
            let deadline = self.poll_all();
            tokio::select! {
                biased;
                command = commands.recv() => match command {
                    Some(command) => self.handle_command(command),
                    None => break,
                },
                Some(produced) = self.produced.recv() => self.handle_produced(produced),
                received = self.socket.recv_from(&mut buf) => match received {
                    Ok((len, source)) => self.handle_datagram(source, &buf[..len]),
                    Err(e) => tracing::debug!("udp receive failed: {e}"),
                },
                () = tokio::time::sleep_until(deadline.into()) => {}
            }
            self.drive_time(Instant::now());
        }
        let now = Instant::now();
        for peer in &mut self.peers {
            peer.close(now);
        }
        self.poll_all();
    }

    fn handle_produced(&mut self, produced: Produced) {
        let now = Instant::now();
        match produced {
            Produced::Frame { stream, unit } => {
                let packets = unit.data.len().div_ceil(PACKET_PAYLOAD) as u64;
                for viewer in self
                    .peers
                    .iter_mut()
                    .filter(|p| p.role == Role::Viewer && p.stream == stream)
                {
                    if viewer.write(MediaKind::Video, Sample::from(&unit)) {
                        viewer.counters.forwarded(packets);
                    }
                }
            }
            Produced::KeyframeWanted { stream } => {
                self.ask_publisher(&stream, KeyframeRequestKind::Pli, now);
            }
        }
    }

    fn ask_publisher(&mut self, stream: &str, kind: KeyframeRequestKind, now: Instant) {
        if let Some(publisher) = self
            .peers
            .iter_mut()
            .find(|p| p.role == Role::Publisher && p.stream == stream && p.is_open())
        {
            publisher.request_keyframe(kind, now);
        }
    }

    fn handle_command(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            Command::Add(peer) => {
                let mut peer = *peer;
                if peer.role == Role::Viewer && !self.registry.has_publisher(&peer.stream) {
                    // The publisher left between this viewer's POST and now.
                    peer.close(now);
                }
                if peer.role == Role::Publisher {
                    // A new publisher replaces the old one; viewers stay and get its media.
                    for old in self.peers.iter_mut().filter(|p| {
                        p.role == Role::Publisher && p.stream == peer.stream && p.is_open()
                    }) {
                        old.close(now);
                    }
                }
                self.peers.push(peer);
            }
            Command::Close(id) => {
                let mut gone = None;
                if let Some(peer) = self.peers.iter_mut().find(|p| p.id == id) {
                    peer.close(now);
                    if peer.role == Role::Publisher {
                        gone = Some(peer.stream.clone());
                    }
                }
                if let Some(stream) = gone {
                    self.end_viewers(&stream, now);
                }
            }
            Command::CloseStream(stream) => {
                for peer in self.peers.iter_mut().filter(|p| p.stream == stream) {
                    peer.close(now);
                }
            }
        }
    }

    fn handle_datagram(&mut self, source: SocketAddr, bytes: &[u8]) {
        let now = Instant::now();
        let Ok(contents) = bytes.try_into() else {
            return;
        };
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source,
                destination: destination_for(source, &self.candidates, self.port),
                contents,
            },
        );
        let Some(peer) = self.peers.iter_mut().find(|p| p.rtc.accepts(&input)) else {
            return;
        };
        if let Err(e) = peer.rtc.handle_input(input) {
            tracing::debug!(session = %peer.id, "input rejected, closing: {e}");
            peer.rtc.disconnect();
        }
        self.received_at = Some(now);
        self.forwarded_since = None;
    }

    fn drive_time(&mut self, now: Instant) {
        for peer in &mut self.peers {
            if !peer.rtc.is_alive() || now < peer.next_timeout {
                continue;
            }
            if let Err(e) = peer.rtc.handle_input(Input::Timeout(now)) {
                tracing::debug!(session = %peer.id, "timeout handling failed: {e}");
                peer.rtc.disconnect();
            }
        }
    }

    /// Polls every peer until it only has a timeout left, applies the SFU rules to what
    /// came out, and returns when the loop must wake up next.
    fn poll_all(&mut self) -> Instant {
        loop {
            let now = Instant::now();
            let mut deadline = now + IDLE_WAKE;
            let mut propagate = Vec::new();
            for peer in &mut self.peers {
                let wake = poll_peer(peer, &self.socket, &mut propagate, now);
                deadline = deadline.min(wake);
            }
            if propagate.is_empty() {
                break self.finish_round(now, deadline);
            }
            for item in propagate {
                self.apply(item, now);
            }
        }
    }

    fn finish_round(&mut self, now: Instant, deadline: Instant) -> Instant {
        if let Some(received_at) = self.received_at.take()
            && let Some(first_packet_at) = self.forwarded_since.take()
        {
            self.registry
                .record_forwarding_delay(received_at.elapsed(), first_packet_at.elapsed());
        }
        let mut gone_publishers = Vec::new();
        for peer in &mut self.peers {
            let stale =
                !peer.connected && now.saturating_duration_since(peer.created) > CONNECT_TIMEOUT;
            if stale && peer.closing_since.is_none() {
                tracing::info!(session = %peer.id, "peer never connected, dropping it");
                peer.rtc.disconnect();
            }
            let flushed = peer
                .closing_since
                .is_some_and(|t| now.saturating_duration_since(t) > CLOSE_GRACE);
            if flushed {
                peer.rtc.disconnect();
            }
        }
        for peer in self
            .peers
            .iter_mut()
            .filter(|p| !p.is_open() && !p.deregistered)
        {
            peer.deregistered = true;
            let was_current = self
                .registry
                .remove_session(&peer.stream, &peer.id, peer.role);
            if peer.role == Role::Publisher && was_current {
                gone_publishers.push(peer.stream.clone());
            }
        }
        self.peers.retain(|peer| peer.rtc.is_alive());
        for stream in gone_publishers {
            self.end_viewers(&stream, now);
        }
        let peers = &self.peers;
        self.transcoders.retain(|stream, _| {
            peers.iter().any(|p| {
                p.role == Role::Publisher && &p.stream == stream && p.passthrough == Some(false)
            })
        });
        for publisher in self
            .peers
            .iter_mut()
            .filter(|p| p.role == Role::Publisher && p.connected)
        {
            let due = publisher
                .last_keyframe_request
                .is_none_or(|t| now.saturating_duration_since(t) >= KEYFRAME_REQUEST_INTERVAL);
            if due {
                publisher.request_keyframe(KeyframeRequestKind::Pli, now);
            }
        }
        deadline
    }

    fn end_viewers(&mut self, stream: &str, now: Instant) {
        let publisher_left = !self
            .peers
            .iter()
            .any(|p| p.role == Role::Publisher && p.stream == stream && p.is_open());
        if !publisher_left {
            return;
        }
        for viewer in self
            .peers
            .iter_mut()
            .filter(|p| p.role == Role::Viewer && p.stream == stream)
        {
            viewer.close(now);
        }
    }

    fn apply(&mut self, item: Propagate, now: Instant) {
        match item {
            Propagate::Media { stream, kind, data } => {
                let packets = packet_count(&data);
                for viewer in self
                    .peers
                    .iter_mut()
                    .filter(|p| p.role == Role::Viewer && p.stream == stream)
                {
                    if viewer.write(kind, Sample::from(&*data)) && kind == MediaKind::Video {
                        let first = self.forwarded_since.get_or_insert(data.network_time);
                        *first = (*first).min(data.network_time);
                        viewer.counters.forwarded(packets);
                    }
                }
            }
            Propagate::Effect {
                stream,
                control,
                data,
            } => {
                if !self.transcoders.contains_key(&stream) {
                    match Transcoder::spawn(stream.clone(), control, self.produced_tx.clone()) {
                        Ok(transcoder) => {
                            self.transcoders.insert(stream.clone(), transcoder);
                        }
                        Err(e) => {
                            tracing::warn!(%stream, "cannot start the effect stage: {e}");
                            return;
                        }
                    }
                }
                let unit = Unit {
                    data: data.data,
                    time: data.time,
                    network_time: data.network_time,
                    params: data.params,
                };
                let queued = self
                    .transcoders
                    .get(&stream)
                    .is_some_and(|transcoder| transcoder.push(unit));
                if !queued {
                    // The decoder lost a frame: only a keyframe gets it back in sync.
                    self.ask_publisher(&stream, KeyframeRequestKind::Pli, now);
                }
            }
            Propagate::KeyframeWanted { stream, kind } => {
                if let Some(transcoder) = self.transcoders.get(&stream) {
                    transcoder.request_keyframe();
                } else {
                    self.ask_publisher(&stream, kind, now);
                }
            }
            Propagate::PublisherGone { stream } => self.end_viewers(&stream, now),
        }
    }
}

fn packet_count(data: &MediaData) -> u64 {
    let first = **data.seq_range.start();
    let last = **data.seq_range.end();
    last.saturating_sub(first) + 1
}

/// Polls one peer until it reports a timeout; returns that timeout.
fn poll_peer(
    peer: &mut Peer,
    socket: &UdpSocket,
    propagate: &mut Vec<Propagate>,
    now: Instant,
) -> Instant {
    loop {
        if !peer.rtc.is_alive() {
            return now;
        }
        let output = match peer.rtc.poll_output() {
            Ok(output) => output,
            Err(e) => {
                tracing::debug!(session = %peer.id, "poll failed, closing: {e}");
                peer.rtc.disconnect();
                return now;
            }
        };
        match output {
            Output::Timeout(at) => {
                peer.next_timeout = at;
                return at;
            }
            Output::Transmit(transmit) => {
                // UDP may drop under pressure anyway; never block the loop on a full buffer.
                let _ = socket.try_send_to(&transmit.contents, transmit.destination);
            }
            Output::Event(event) => handle_event(peer, event, propagate, now),
        }
    }
}

fn handle_event(peer: &mut Peer, event: Event, propagate: &mut Vec<Propagate>, now: Instant) {
    match event {
        Event::MediaAdded(added) => peer.mids.push((added.mid, added.kind)),
        Event::Connected => {
            peer.connected = true;
            tracing::info!(session = %peer.id, role = ?peer.role, "peer connected");
            if peer.role == Role::Viewer {
                // A viewer joining mid-stream needs a keyframe to show anything.
                propagate.push(Propagate::KeyframeWanted {
                    stream: peer.stream.clone(),
                    kind: KeyframeRequestKind::Pli,
                });
            }
        }
        Event::IceConnectionStateChange(IceConnectionState::Disconnected) | Event::Closed => {
            tracing::info!(session = %peer.id, "peer went away, ending session");
            peer.close(now);
            if peer.role == Role::Publisher {
                propagate.push(Propagate::PublisherGone {
                    stream: peer.stream.clone(),
                });
            }
        }
        Event::MediaData(data) if peer.role == Role::Publisher => {
            let kind = peer
                .mids
                .iter()
                .find(|(m, _)| *m == data.mid)
                .map_or(MediaKind::Video, |(_, k)| *k);
            if kind == MediaKind::Video {
                peer.counters.received(packet_count(&data), now);
                let passthrough = peer.control.passthrough();
                if !data.contiguous || peer.passthrough != Some(passthrough) {
                    // A gap, or the stream switched between effect and passthrough: the
                    // decoder on the other side needs a fresh start.
                    peer.request_keyframe(KeyframeRequestKind::Fir, now);
                }
                peer.passthrough = Some(passthrough);
                if !passthrough {
                    propagate.push(Propagate::Effect {
                        stream: peer.stream.clone(),
                        control: Arc::clone(&peer.control),
                        data: Box::new(data),
                    });
                    return;
                }
            }
            propagate.push(Propagate::Media {
                stream: peer.stream.clone(),
                kind,
                data: Box::new(data),
            });
        }
        Event::KeyframeRequest(request) if peer.role == Role::Viewer => {
            propagate.push(Propagate::KeyframeWanted {
                stream: peer.stream.clone(),
                kind: request.kind,
            });
        }
        _ => {}
    }
}
