//! The WHIP publisher (`Broadcast`): frames in → `VideoFrame` → a generated track → WHIP.
//!
//! Frame ownership: `pushFrame` copies the pixels; `pushVideoFrame` takes the `VideoFrame` and
//! closes it when it is replaced. The caller must not use a frame after pushing it.
//!
//! Pacing: a frame is written at once when the previous frame written arrived at least 3/4 of
//! an interval earlier, otherwise it waits for the next tick of a Worker timer running at the configured rate (newest wins,
//! the replaced one counts as dropped). A frame that arrives when the waiting one is already
//! due goes out after it instead of replacing it, so a source running at the configured rate
//! loses nothing to the jitter between its clock and the tick. When nothing new arrives for
//! one and a half intervals, the tick writes the last frame again, and from then on every
//! interval, so the stream keeps its rate while the workflow is slower.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use rtc_protocol::{AgentRole, PixelFormat};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    HtmlCanvasElement, MediaStream, MediaStreamTrack, MediaStreamTrackGenerator,
    MediaStreamTrackGeneratorInit, RtcRtpSender, RtcRtpTransceiverDirection, RtcRtpTransceiverInit,
    VideoFrame, WritableStreamDefaultWriter,
};

use crate::error::{ClientError, ErrorCode, Result};
use crate::link::{Link, Media};
use crate::peer::Peer;
use crate::signaling::Endpoint;
use crate::state::ReconnectOptions;
use crate::ticker::Ticker;
use crate::{frames, js, sdp};

/// Where the outgoing track comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum SourceKind {
    /// `MediaStreamTrackGenerator` where available, else the canvas.
    #[default]
    Auto,
    /// Require `MediaStreamTrackGenerator`.
    Generator,
    /// `canvas.captureStream(0)` + `requestFrame()`.
    Canvas,
}

/// `createBroadcast` options (`BroadcastOptions` in TypeScript).
#[derive(Debug, Clone)]
pub(crate) struct BroadcastOptions {
    /// WHIP endpoint.
    pub whip_url: String,
    /// Bearer token for the endpoint.
    pub token: Option<String>,
    /// Frames per second sent, and the rate the last frame is repeated at.
    pub frame_rate: f64,
    /// Encoder bitrate ceiling.
    pub max_bitrate_kbps: u32,
    /// Preferred codec name.
    pub codec: String,
    /// Reconnection policy.
    pub reconnect: ReconnectOptions,
    /// Upper bound on ICE gathering before the offer is sent.
    pub ice_gathering_timeout_ms: u32,
    /// Track source.
    pub source: SourceKind,
}

impl BroadcastOptions {
    /// Defaults for everything but the URL.
    pub(crate) fn new(whip_url: String) -> Self {
        Self {
            whip_url,
            token: None,
            frame_rate: 30.0,
            max_bitrate_kbps: 2500,
            codec: "h264".to_owned(),
            reconnect: ReconnectOptions::default(),
            ice_gathering_timeout_ms: 1000,
            source: SourceKind::Auto,
        }
    }
}

/// Writes frames into the outgoing track.
#[derive(Debug)]
enum Sink {
    Generator {
        track: MediaStreamTrack,
        writer: WritableStreamDefaultWriter,
    },
    Canvas {
        canvas: HtmlCanvasElement,
        context: JsValue,
        track: MediaStreamTrack,
    },
}

impl Sink {
    fn new(kind: SourceKind) -> Result<Self> {
        let has_generator = !js::get(&js_sys::global(), "MediaStreamTrackGenerator").is_undefined();
        match kind {
            SourceKind::Generator | SourceKind::Auto if has_generator => {
                let generator =
                    MediaStreamTrackGenerator::new(&MediaStreamTrackGeneratorInit::new("video"))
                        .map_err(|e| {
                            ClientError::js(ErrorCode::Unsupported, "MediaStreamTrackGenerator", &e)
                        })?;
                let writer = generator
                    .writable()
                    .get_writer()
                    .map_err(|e| ClientError::js(ErrorCode::Unsupported, "generator writer", &e))?;
                Ok(Self::Generator {
                    track: generator.into(),
                    writer,
                })
            }
            SourceKind::Generator => Err(ClientError::new(
                ErrorCode::Unsupported,
                "MediaStreamTrackGenerator is not available in this browser",
            )),
            _ => Self::canvas(),
        }
    }

    fn canvas() -> Result<Self> {
        let unsupported =
            |e: JsValue| ClientError::js(ErrorCode::Unsupported, "canvas capture", &e);
        let document = web_sys::window()
            .and_then(|w| w.document())
            .ok_or_else(|| {
                ClientError::new(ErrorCode::Unsupported, "canvas capture needs a document")
            })?;
        let canvas: HtmlCanvasElement = document
            .create_element("canvas")
            .map_err(unsupported)?
            .unchecked_into();
        let context = canvas
            .get_context("2d")
            .map_err(unsupported)?
            .map(JsValue::from)
            .unwrap_or_default();
        let stream = canvas
            .capture_stream_with_frame_request_rate(0.0)
            .map_err(unsupported)?;
        let track = stream
            .get_video_tracks()
            .get(0)
            .dyn_into::<MediaStreamTrack>()
            .map_err(unsupported)?;
        Ok(Self::Canvas {
            canvas,
            context,
            track,
        })
    }

    fn track(&self) -> &MediaStreamTrack {
        match self {
            Self::Generator { track, .. } | Self::Canvas { track, .. } => track,
        }
    }

    /// Writes a copy of `frame`; the caller keeps (and later closes) the original.
    fn write(&self, frame: &VideoFrame) {
        match self {
            Self::Generator { writer, .. } => {
                // The generator consumes (closes) what it is given, so it gets a copy. The copy
                // is stamped with the write time: a repeated frame must not carry the same
                // timestamp again (the encoder drops non-increasing ones), and source clocks
                // (the relay's capture times) need not be monotonic.
                let init = web_sys::VideoFrameInit::new();
                init.set_timestamp_f64(js::now_ms() * 1000.0);
                let Ok(copy) = VideoFrame::new_with_video_frame_and_video_frame_init(frame, &init)
                else {
                    return;
                };
                let done = writer.write_with_chunk(&copy);
                js::spawn(async move {
                    if JsFuture::from(done).await.is_err() {
                        copy.close();
                    }
                });
            }
            Self::Canvas {
                canvas,
                context,
                track,
            } => {
                let (w, h) = (frame.display_width(), frame.display_height());
                if canvas.width() != w || canvas.height() != h {
                    canvas.set_width(w);
                    canvas.set_height(h);
                }
                let _ = js::call(
                    context,
                    "drawImage",
                    &[frame.as_ref(), &0.into(), &0.into()],
                );
                let _ = js::call(track, "requestFrame", &[]);
            }
        }
    }
}

#[derive(Debug, Default)]
struct Pacing {
    last: Option<VideoFrame>,
    pending: Option<VideoFrame>,
    /// When `pending` arrived.
    pending_since_ms: f64,
    /// When the newest source frame written arrived (a repeat: when it was written). Arrival,
    /// not write time: a frame held to a tick would otherwise shift the reference onto the
    /// tick, and a source at the configured rate would then wait for every tick, adding a
    /// constant fraction of an interval to every frame's latency.
    last_write_ms: f64,
    /// Whether the last write repeated `last` (the source has stalled).
    repeating: bool,
}

/// Counters for stats and tests.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FrameCounters {
    /// Frames given to `push`.
    pub pushed: u64,
    /// Frames written to the track (new ones).
    pub written: u64,
    /// Repeats of the last frame while waiting for a new one.
    pub repeated: u64,
    /// Frames replaced before they could be written.
    pub dropped: u64,
}

/// The publisher behind the JS `Broadcast`.
#[derive(Debug)]
pub(crate) struct Publisher {
    link: Link,
    options: RefCell<BroadcastOptions>,
    sink: Sink,
    stream: MediaStream,
    sender: RefCell<Option<RtcRtpSender>>,
    pacing: RefCell<Pacing>,
    counters: Cell<FrameCounters>,
    ticker: RefCell<Option<Ticker>>,
    scratch: RefCell<frames::Scratch>,
}

impl Media for Publisher {
    fn link(&self) -> &Link {
        &self.link
    }

    fn prepare(self: Rc<Self>, peer: &mut Peer) -> Result<()> {
        let init = RtcRtpTransceiverInit::new();
        init.set_direction(RtcRtpTransceiverDirection::Sendonly);
        init.set_streams(&js_sys::Array::of1(&self.stream));
        let transceiver = peer
            .pc()
            .add_transceiver_with_media_stream_track_and_init(self.sink.track(), &init);
        prefer_codec(&transceiver, &self.options.borrow().codec);
        *self.sender.borrow_mut() = Some(transceiver.sender());
        Ok(())
    }

    fn negotiated(&self, _peer: &Peer) {
        self.apply_encoding();
    }
}

/// Puts the preferred codec first in `setCodecPreferences` (helpers such as rtx stay).
fn prefer_codec(transceiver: &web_sys::RtcRtpTransceiver, codec: &str) {
    let Some(caps) = RtcRtpSender::get_capabilities("video") else {
        return;
    };
    let list = js::get(&caps, "codecs");
    let Some(list) = list.dyn_ref::<js_sys::Array>() else {
        return;
    };
    let entries: Vec<JsValue> = list.iter().collect();
    let codecs: Vec<sdp::Codec> = entries
        .iter()
        .map(|c| sdp::Codec {
            mime_type: js::string(c, "mimeType").unwrap_or_default(),
            fmtp: js::string(c, "sdpFmtpLine").unwrap_or_default(),
        })
        .collect();
    let ordered = js_sys::Array::new();
    for i in sdp::codec_order(&codecs, codec) {
        ordered.push(&entries[i]);
    }
    // Throws only for codecs the browser does not have, which cannot happen with its own list.
    let _ = js::call(transceiver, "setCodecPreferences", &[&ordered]);
}

impl Publisher {
    /// Creates the track; nothing is sent before `connect`.
    pub(crate) fn new(options: BroadcastOptions) -> Result<Rc<Self>> {
        if !(options.frame_rate > 0.0 && options.frame_rate <= 120.0) {
            return Err(ClientError::new(
                ErrorCode::InvalidOptions,
                "frameRate must be in (0, 120]",
            ));
        }
        let sink = Sink::new(options.source)?;
        let stream = MediaStream::new()
            .map_err(|e| ClientError::js(ErrorCode::Unsupported, "MediaStream", &e))?;
        stream.add_track(sink.track());
        let endpoint = Endpoint {
            url: options.whip_url.clone(),
            token: options.token.clone(),
        };
        let link = Link::new(
            AgentRole::Publisher,
            endpoint,
            options.reconnect,
            options.ice_gathering_timeout_ms,
        );
        let publisher = Rc::new(Self {
            link,
            options: RefCell::new(options),
            sink,
            stream,
            sender: RefCell::new(None),
            pacing: RefCell::new(Pacing::default()),
            counters: Cell::new(FrameCounters::default()),
            ticker: RefCell::new(None),
            scratch: RefCell::new(frames::Scratch::default()),
        });
        publisher.start_ticker();
        Ok(publisher)
    }

    fn start_ticker(self: &Rc<Self>) {
        let interval = (1000.0 / self.options.borrow().frame_rate).round() as u32;
        let weak = Rc::downgrade(self);
        let ticker = Ticker::start(interval.max(1), move || {
            if let Some(publisher) = weak.upgrade() {
                publisher.tick();
            }
        });
        *self.ticker.borrow_mut() = Some(ticker);
    }

    /// The outgoing stream, for a local preview.
    pub(crate) fn stream(&self) -> &MediaStream {
        &self.stream
    }

    /// Whether the track comes from `MediaStreamTrackGenerator` (else the canvas fallback).
    pub(crate) fn uses_generator(&self) -> bool {
        matches!(self.sink, Sink::Generator { .. })
    }

    /// Whether pacing runs on the Worker timer.
    pub(crate) fn paced_by_worker(&self) -> bool {
        self.ticker
            .borrow()
            .as_ref()
            .is_some_and(Ticker::uses_worker)
    }

    /// Frame counters so far.
    pub(crate) fn counters(&self) -> FrameCounters {
        self.counters.get()
    }

    fn interval_ms(&self) -> f64 {
        1000.0 / self.options.borrow().frame_rate
    }

    /// Pushes raw pixels (copied).
    pub(crate) fn push_pixels(
        &self,
        format: PixelFormat,
        width: u32,
        height: u32,
        timestamp_us: f64,
        pixels: &js_sys::Uint8Array,
    ) -> Result<()> {
        let frame = frames::from_pixels(
            format,
            width,
            height,
            timestamp_us,
            pixels,
            &mut self.scratch.borrow_mut(),
        )?;
        self.push_frame(frame);
        Ok(())
    }

    /// Pushes a frame; the publisher owns and eventually closes it.
    pub(crate) fn push_frame(&self, frame: VideoFrame) {
        let mut counters = self.counters.get();
        counters.pushed += 1;
        let now = js::now_ms();
        let mut pacing = self.pacing.borrow_mut();
        // Up to a quarter interval early is fine: sources jitter, and the encoder's cap has
        // the same headroom (see `apply_encoding`).
        if now - pacing.last_write_ms >= self.interval_ms() * 0.75 {
            // A frame still waiting for the tick is older than this one and due now: it goes
            // first (in order), and this one waits for the tick in its place.
            let (write, wait) = match pacing.pending.take() {
                Some(due) => (due, Some(frame)),
                None => (frame, None),
            };
            self.write_new(&mut pacing, write, now);
            pacing.pending = wait;
            pacing.pending_since_ms = now;
            counters.written += 1;
        } else {
            pacing.pending_since_ms = now;
            if let Some(old) = pacing.pending.replace(frame) {
                old.close();
                counters.dropped += 1;
            }
        }
        self.counters.set(counters);
    }

    fn write_new(&self, pacing: &mut Pacing, frame: VideoFrame, arrived_ms: f64) {
        self.sink.write(&frame);
        pacing.last_write_ms = arrived_ms;
        pacing.repeating = false;
        if let Some(old) = pacing.last.replace(frame) {
            old.close();
        }
    }

    fn tick(&self) {
        let now = js::now_ms();
        let mut counters = self.counters.get();
        let mut pacing = self.pacing.borrow_mut();
        // A repeat just before a late source frame would push that frame to the next tick:
        // wait half an interval longer before the first repeat.
        let hold_after = if pacing.repeating { 0.99 } else { 1.5 };
        if let Some(frame) = pacing.pending.take() {
            let arrived_ms = pacing.pending_since_ms;
            self.write_new(&mut pacing, frame, arrived_ms);
            counters.written += 1;
        } else if now - pacing.last_write_ms >= self.interval_ms() * hold_after
            && let Some(last) = pacing.last.as_ref()
        {
            self.sink.write(last);
            counters.repeated += 1;
            pacing.last_write_ms = now;
            pacing.repeating = true;
        }
        self.counters.set(counters);
    }

    /// Changes frame rate and bitrate on the fly.
    pub(crate) fn set_video(
        self: &Rc<Self>,
        frame_rate: Option<f64>,
        max_bitrate_kbps: Option<u32>,
    ) -> Result<()> {
        {
            let mut options = self.options.borrow_mut();
            if let Some(fps) = frame_rate {
                if !(fps > 0.0 && fps <= 120.0) {
                    return Err(ClientError::new(
                        ErrorCode::InvalidOptions,
                        "frameRate must be in (0, 120]",
                    ));
                }
                options.frame_rate = fps;
            }
            if let Some(kbps) = max_bitrate_kbps {
                options.max_bitrate_kbps = kbps;
            }
        }
        if frame_rate.is_some() {
            self.start_ticker();
        }
        self.apply_encoding();
        Ok(())
    }

    /// `setParameters`: bitrate and frame-rate caps; keep resolution, drop frames instead.
    fn apply_encoding(&self) {
        let Some(sender) = self.sender.borrow().clone() else {
            return;
        };
        let (fps, kbps) = {
            let o = self.options.borrow();
            (o.frame_rate, o.max_bitrate_kbps)
        };
        let params: JsValue = sender.get_parameters().into();
        if let Some(encodings) = js::get(&params, "encodings").dyn_ref::<js_sys::Array>() {
            for encoding in encodings.iter() {
                js::set(&encoding, "maxBitrate", &(f64::from(kbps) * 1000.0).into());
                // The pacing above already holds the configured rate. An encoder capped at
                // exactly that rate drops a frame whenever jitter brings two a little closer
                // than an interval (P2 lost 2 of 254), so its cap leaves a quarter headroom.
                js::set(&encoding, "maxFramerate", &(fps * 1.25).into());
            }
        }
        js::set(
            &params,
            "degradationPreference",
            &"maintain-resolution".into(),
        );
        if let Ok(promise) = js::call(&sender, "setParameters", &[&params]) {
            js::spawn(async move {
                if let Err(e) = JsFuture::from(js_sys::Promise::from(promise)).await {
                    js::warn(&format!(
                        "rtc-client: setParameters: {}",
                        crate::error::describe(&e)
                    ));
                }
            });
        }
    }

    /// Ends the broadcast: DELETE, close the track and the held frames.
    pub(crate) async fn stop(&self) {
        self.ticker.borrow_mut().take();
        crate::link::stop(&self.link).await;
        let mut pacing = self.pacing.borrow_mut();
        for frame in [pacing.last.take(), pacing.pending.take()]
            .into_iter()
            .flatten()
        {
            frame.close();
        }
        self.sink.track().stop();
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let pacing = self.pacing.get_mut();
        for frame in [pacing.last.take(), pacing.pending.take()]
            .into_iter()
            .flatten()
        {
            frame.close();
        }
        self.sink.track().stop();
    }
}
