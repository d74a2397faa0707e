//! A str0m peer that publishes or views through the media server over real UDP, and a
//! server on port 0. Used by the `media_*` tests and benchmarks.

#![allow(dead_code, unreachable_pub)]

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use openh264::encoder::{Encoder, EncoderConfig, IntraFramePeriod};
use rtc_relay::local::effect::{Picture, codec};
use rtc_relay::local::media::{MediaServer, MediaSettings, whep_path, whip_path};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// How long a reload shows the reloading frame in these tests.
pub const RELOAD_TIME: Duration = Duration::from_millis(600);

/// Params that forward the input unchanged: the SFU tests compare frames byte for byte.
pub fn passthrough() -> serde_json::Value {
    serde_json::json!({"skip_diffusion": true})
}

/// A media server behind axum on 127.0.0.1:0.
pub struct TestServer {
    pub media: MediaServer,
    pub base: String,
}

impl TestServer {
    pub async fn start() -> Self {
        let media = MediaServer::start(&MediaSettings {
            reload_time: RELOAD_TIME,
            ..MediaSettings::on(Ipv4Addr::LOCALHOST.into())
        })
        .await
        .expect("media server starts");
        let app = Router::new().nest("/local", media.router());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            media,
            base: format!("http://{addr}"),
        }
    }

    pub fn whip_url(&self, key: &str) -> String {
        format!("{}/local{}", self.base, whip_path(key))
    }

    pub fn whep_url(&self, key: &str) -> String {
        format!("{}/local{}", self.base, whep_path(key))
    }

    /// Waits until `check` holds for the stream's status.
    pub async fn wait_status(
        &self,
        key: &str,
        what: &str,
        check: impl Fn(&rtc_relay::local::media::MediaStatus) -> bool,
    ) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status = self.media.status(key);
            if status.as_ref().is_some_and(&check) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// What a test peer observed.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerEvent {
    Connected,
    /// A complete frame (Annex B) and the receive instant.
    Frame(Vec<u8>, Instant),
    KeyframeRequested,
    Ended,
}

/// A running str0m peer.
pub struct TestPeer {
    pub events: mpsc::UnboundedReceiver<PeerEvent>,
    frames: Option<mpsc::UnboundedSender<Vec<u8>>>,
    pub location: String,
    pub playback_url: Option<String>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestPeer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An SDP offer for a video-only H.264 peer, and the state to finish it.
pub struct Offer {
    pub rtc: Rtc,
    pub sdp: String,
    pending: SdpPendingOffer,
    mid: Mid,
    socket: UdpSocket,
}

impl Offer {
    pub async fn new(direction: Direction) -> Self {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        // Load tests run many peers on two cores; do not let a busy moment drop packets here.
        let _ = socket2::SockRef::from(&socket).set_recv_buffer_size(1 << 20);
        let mut rtc = Rtc::builder()
            .clear_codecs()
            .enable_h264(true)
            .build(Instant::now());
        rtc.add_local_candidate(Candidate::host(socket.local_addr().unwrap(), "udp").unwrap());
        let mut change = rtc.sdp_api();
        let mid = change.add_media(MediaKind::Video, direction, Some("s".into()), None, None);
        let (offer, pending) = change.apply().unwrap();
        Self {
            rtc,
            sdp: offer.to_sdp_string(),
            pending,
            mid,
            socket,
        }
    }
}

/// POSTs an offer; returns the raw response.
pub async fn post_offer(url: &str, sdp: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/sdp")
        .body(sdp.to_owned())
        .send()
        .await
        .unwrap()
}

/// Connects a peer through WHIP (`Direction::SendOnly`) or WHEP (`RecvOnly`).
pub async fn connect(url: &str, direction: Direction) -> TestPeer {
    connect_with(reqwest::Client::new().post(url), direction).await
}

/// Connects a peer, sending its offer with `request` (a POST carrying any credentials).
pub async fn connect_with(request: reqwest::RequestBuilder, direction: Direction) -> TestPeer {
    let mut offer = Offer::new(direction).await;
    let response = request
        .header("content-type", "application/sdp")
        .body(offer.sdp.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "offer accepted");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let playback_url = response
        .headers()
        .get("livepeer-playback-url")
        .map(|v| v.to_str().unwrap().to_owned());
    let answer = SdpAnswer::from_sdp_string(&response.text().await.unwrap()).unwrap();
    offer
        .rtc
        .sdp_api()
        .accept_answer(offer.pending, answer)
        .unwrap();
    let (events_tx, events) = mpsc::unbounded_channel();
    let (frames_tx, frames_rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(run_peer(
        offer.rtc,
        offer.socket,
        offer.mid,
        events_tx,
        frames_rx,
    ));
    TestPeer {
        events,
        frames: (direction == Direction::SendOnly).then_some(frames_tx),
        location,
        playback_url,
        task,
    }
}

impl TestPeer {
    /// Queues one Annex B frame for sending (publishers only).
    pub fn send_frame(&self, frame: Vec<u8>) {
        self.frames
            .as_ref()
            .expect("only publishers send")
            .send(frame)
            .unwrap();
    }

    /// Waits up to 10 s for the first event matching `want`, skipping others.
    pub async fn wait_for(&mut self, what: &str, want: impl Fn(&PeerEvent) -> bool) -> PeerEvent {
        self.wait_within(what, Duration::from_secs(10), want).await
    }

    /// Waits up to `limit` for the first event matching `want`, skipping others.
    pub async fn wait_within(
        &mut self,
        what: &str,
        limit: Duration,
        want: impl Fn(&PeerEvent) -> bool,
    ) -> PeerEvent {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(event)) if want(&event) => return event,
                Ok(Some(_)) => {}
                Ok(None) => panic!("peer stopped before {what}"),
                Err(_) => panic!("timed out waiting for {what}"),
            }
        }
    }
}

/// A synthetic H.264 access unit: an IDR (with SPS/PPS) or a non-IDR slice whose payload
/// carries `number`, so receivers can check they got the right frame.
pub fn h264_frame(number: u32, keyframe: bool, payload_len: usize) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload_len + 32);
    if keyframe {
        frame.extend_from_slice(&[0, 0, 0, 1, 0x67, 0x42, 0xe0, 0x1f, 0x8c, 0x8d, 0x40]);
        frame.extend_from_slice(&[0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80]);
        frame.extend_from_slice(&[0, 0, 0, 1, 0x65]);
    } else {
        frame.extend_from_slice(&[0, 0, 0, 1, 0x41]);
    }
    // Seven bits per byte with the top bit set: no zero bytes, so no start code appears
    // inside the slice (real encoders guarantee the same with emulation prevention).
    frame.extend(
        (0..4)
            .rev()
            .map(|i| 0x80 | ((number >> (7 * i)) & 0x7f) as u8),
    );
    // Filler without zero bytes, so no start code appears inside the slice.
    frame.extend((0..payload_len).map(|i| (i % 200) as u8 + 1));
    frame
}

/// Reads the frame number back from a received access unit.
pub fn frame_number(frame: &[u8]) -> Option<u32> {
    let slice = frame
        .windows(5)
        .position(|w| w[..4] == [0, 0, 0, 1] && matches!(w[4] & 0x1f, 1 | 5))?;
    let bytes = frame.get(slice + 5..slice + 9)?;
    Some(bytes.iter().fold(0, |n, b| n << 7 | u32::from(b & 0x7f)))
}

/// RTP ticks between the frames a test peer sends: 24 fps, the local backend's output rate, so
/// its effect stage takes every frame instead of thinning a faster clock.
const RTP_TICKS_PER_FRAME: u64 = 90_000 / 24;

async fn run_peer(
    mut rtc: Rtc,
    socket: UdpSocket,
    mid: Mid,
    events: mpsc::UnboundedSender<PeerEvent>,
    mut frames: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let local = socket.local_addr().unwrap();
    let mut buf = vec![0u8; 2048];
    let mut sent = 0u64;
    loop {
        let deadline = loop {
            if !rtc.is_alive() {
                let _ = events.send(PeerEvent::Ended);
                return;
            }
            match rtc.poll_output() {
                Ok(Output::Timeout(at)) => break at,
                Ok(Output::Transmit(t)) => {
                    let _ = socket.send_to(&t.contents, t.destination).await;
                }
                Ok(Output::Event(event)) => {
                    let mapped = match event {
                        Event::Connected => Some(PeerEvent::Connected),
                        Event::MediaData(data) => {
                            Some(PeerEvent::Frame(data.data.to_vec(), Instant::now()))
                        }
                        Event::KeyframeRequest(_) => Some(PeerEvent::KeyframeRequested),
                        Event::Closed => Some(PeerEvent::Ended),
                        Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                            rtc.disconnect();
                            None
                        }
                        _ => None,
                    };
                    if let Some(event) = mapped {
                        let _ = events.send(event);
                    }
                }
                Err(_) => rtc.disconnect(),
            }
        };
        let sleep = deadline.max(Instant::now() + Duration::from_millis(1));
        tokio::select! {
            frame = frames.recv() => {
                let Some(frame) = frame else { continue };
                let Some(writer) = rtc.writer(mid) else { continue };
                let Some(pt) = writer
                    .payload_params()
                    .find(|p| p.spec().codec == Codec::H264)
                    .map(|p| p.pt())
                else {
                    continue;
                };
                let time = MediaTime::from_90khz(sent * RTP_TICKS_PER_FRAME);
                sent += 1;
                let _ = writer.write(pt, Instant::now(), time, Arc::<[u8]>::from(frame));
            }
            received = socket.recv_from(&mut buf) => {
                if let Ok((len, source)) = received
                    && let Ok(contents) = buf[..len].try_into()
                {
                    let input = Input::Receive(
                        Instant::now(),
                        Receive { proto: Protocol::Udp, source, destination: local, contents },
                    );
                    if rtc.handle_input(input).is_err() {
                        rtc.disconnect();
                    }
                }
            }
            () = tokio::time::sleep_until(sleep.into()) => {}
        }
        if rtc.handle_input(Input::Timeout(Instant::now())).is_err() {
            rtc.disconnect();
        }
    }
}

/// Sends a DELETE and returns its status.
pub async fn delete(url: &str) -> u16 {
    reqwest::Client::new()
        .delete(url)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Resolves a `Location` header against the server.
pub fn absolute(server: &TestServer, location: &str) -> String {
    format!("{}{location}", server.base)
}

/// Frame `n` of a stream with a keyframe every 10th frame, like a short GOP.
pub fn numbered(n: u32) -> Vec<u8> {
    h264_frame(n, n.is_multiple_of(10), 3000)
}

/// Sends frames until `viewer` has received one numbered at least `from`; returns it.
pub async fn pump_until_received(
    publisher: &TestPeer,
    viewer: &mut TestPeer,
    next: &mut u32,
    from: u32,
) -> u32 {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(33));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                assert!(tokio::time::Instant::now() < deadline, "no frame >= {from} arrived");
                publisher.send_frame(numbered(*next));
                *next += 1;
            }
            event = viewer.events.recv() => {
                if let Some(PeerEvent::Frame(frame, _)) = event
                    && let Some(n) = frame_number(&frame)
                    && n >= from
                {
                    return n;
                }
            }
        }
    }
}

/// A moving, textured test picture encoded with openh264, grey chroma throughout: any
/// colour in the output comes from the effect.
pub struct Source {
    encoder: Encoder,
    picture: Picture,
    /// Frames produced so far.
    pub frame: u32,
}

impl Source {
    /// A `width × height` source with a keyframe every 25 frames.
    pub fn new(width: usize, height: usize) -> Self {
        let config = EncoderConfig::new().intra_frame_period(IntraFramePeriod::from_num_frames(25));
        Self {
            encoder: Encoder::with_api_config(openh264::OpenH264API::from_source(), config)
                .unwrap(),
            picture: Picture::new(width, height),
            frame: 0,
        }
    }

    /// The next frame, as Annex B H.264.
    pub fn next(&mut self, keyframe: bool) -> Vec<u8> {
        let (w, h) = (self.picture.width, self.picture.height);
        let shift = self.frame as usize * 3;
        for y in 0..h {
            for x in 0..w {
                let checker = ((x + shift) / 16 + y / 16).is_multiple_of(2);
                let ramp = (x * 120 / w) as u8;
                self.picture.y[y * w + x] = if checker { 60 + ramp } else { 110 + ramp };
            }
        }
        self.frame += 1;
        if keyframe {
            self.encoder.force_intra_frame();
        }
        self.encoder
            .encode(&codec::as_source(&self.picture))
            .unwrap()
            .to_vec()
    }
}
