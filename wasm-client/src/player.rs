//! The WHEP player (`Player`): WHEP → remote track → a `<video>` and/or decoded frames.
//!
//! Frame ownership: `frame` listeners get a `VideoFrame` that is valid only during the call;
//! the player closes it afterwards (call `frame.clone()` to keep one).
//!
//! Frames come from a `MediaStreamTrackProcessor` (Chromium) or, elsewhere, from a
//! [`VideoTap`]. When neither works, or the sink cannot use them, the player says so once per
//! change of cause: an `error` event and [`FrameSink::frames_failing`].

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};

use rtc_protocol::AgentRole;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    HtmlMediaElement, MediaStream, MediaStreamTrack, MediaStreamTrackProcessor,
    MediaStreamTrackProcessorInit, ReadableStreamDefaultReader, RtcRtpTransceiverDirection,
    RtcRtpTransceiverInit, VideoFrame,
};

use crate::error::{ClientError, ErrorCode, Result};
use crate::js;
use crate::link::{Link, Media};
use crate::peer::Peer;
use crate::signaling::Endpoint;
use crate::state::ReconnectOptions;
use crate::video_tap::VideoTap;

/// `createPlayer` options (`PlayerOptions` in TypeScript).
#[derive(Debug, Clone, Default)]
pub(crate) struct PlayerOptions {
    /// Bearer token for the endpoint.
    pub token: Option<String>,
    /// Reconnection policy (409 "no publisher yet" is retried too).
    pub reconnect: ReconnectOptions,
    /// Upper bound on ICE gathering before the offer is sent.
    pub ice_gathering_timeout_ms: Option<u32>,
}

/// Receives decoded frames inside the agent; the future must finish before the next frame is
/// read, which gives natural backpressure (the processor drops stale frames).
pub(crate) trait FrameSink {
    /// Handles one frame; the player closes it when the future completes.
    fn deliver(&self, frame: &VideoFrame) -> Pin<Box<dyn Future<Output = Result<()>>>>;
    /// Frames stopped coming through (`Some`, with the cause) or flow again (`None`).
    fn frames_failing(&self, error: Option<&ClientError>);
}

/// The player behind the JS `Player`.
pub(crate) struct Player {
    link: Link,
    stream: MediaStream,
    sink: RefCell<Option<Rc<dyn FrameSink>>>,
    /// Bumped per remote track so an old reader loop ends.
    track_generation: Cell<u32>,
    /// Generation whose frames are being read, if any.
    reading: Cell<Option<u32>>,
    track: RefCell<Option<MediaStreamTrack>>,
    /// The `<video>` frames are read from where the processor is missing.
    tap: RefCell<Option<Rc<VideoTap>>>,
    /// Why frames do not come through, while they do not.
    frame_error: RefCell<Option<ClientError>>,
    frames: Cell<u64>,
}

impl std::fmt::Debug for Player {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Player")
            .field("link", &self.link)
            .field("frames", &self.frames.get())
            .finish_non_exhaustive()
    }
}

impl Drop for Player {
    /// A reader waiting on the `<video>` holds no strong reference, so the element would
    /// otherwise stay in the page.
    fn drop(&mut self) {
        self.close_tap();
    }
}

impl Media for Player {
    fn link(&self) -> &Link {
        &self.link
    }

    fn prepare(self: Rc<Self>, peer: &mut Peer) -> Result<()> {
        let init = RtcRtpTransceiverInit::new();
        init.set_direction(RtcRtpTransceiverDirection::Recvonly);
        peer.pc().add_transceiver_with_str_and_init("video", &init);
        let weak = Rc::downgrade(&self);
        peer.on_track(move |track| {
            if let Some(player) = weak.upgrade() {
                player.attach_track(track);
            }
        });
        Ok(())
    }
}

impl Player {
    /// A player for `whep_url`; nothing happens before `connect`.
    pub(crate) fn new(whep_url: String, options: PlayerOptions) -> Result<Rc<Self>> {
        let stream = MediaStream::new()
            .map_err(|e| ClientError::js(ErrorCode::Unsupported, "MediaStream", &e))?;
        let endpoint = Endpoint {
            url: whep_url,
            token: options.token,
        };
        let link = Link::new(
            AgentRole::Player,
            endpoint,
            options.reconnect,
            options.ice_gathering_timeout_ms.unwrap_or(1000),
        );
        Ok(Rc::new(Self {
            link,
            stream,
            sink: RefCell::new(None),
            track_generation: Cell::new(0),
            reading: Cell::new(None),
            track: RefCell::new(None),
            tap: RefCell::new(None),
            frame_error: RefCell::new(None),
            frames: Cell::new(0),
        }))
    }

    /// The received stream; it keeps its identity across reconnects.
    pub(crate) fn stream(&self) -> &MediaStream {
        &self.stream
    }

    /// Plays the stream in a media element (muted, so autoplay is allowed).
    pub(crate) fn attach(&self, element: &HtmlMediaElement) {
        element.set_muted(true);
        element.set_src_object(Some(&self.stream));
        let _ = element.play();
    }

    /// Frames decoded so far.
    pub(crate) fn frames(&self) -> u64 {
        self.frames.get()
    }

    /// Why frames do not come through, while they do not.
    pub(crate) fn frame_error(&self) -> Option<ClientError> {
        self.frame_error.borrow().clone()
    }

    /// Records a change in whether frames come through and tells the listeners and the sink.
    fn frames_failing(&self, error: Option<ClientError>) {
        if *self.frame_error.borrow() == error {
            return;
        }
        if let Some(err) = &error {
            self.link.events.emit("error", &JsValue::from(err.clone()));
        }
        let sink = self.sink.borrow().clone();
        if let Some(sink) = sink {
            sink.frames_failing(error.as_ref());
        }
        self.frame_error.replace(error);
    }

    /// Sends decoded frames to `sink` (the agent) as well as to `frame` listeners.
    pub(crate) fn set_sink(self: &Rc<Self>, sink: Rc<dyn FrameSink>) {
        *self.sink.borrow_mut() = Some(sink);
        self.ensure_reader();
    }

    fn attach_track(self: &Rc<Self>, track: MediaStreamTrack) {
        for old in self.stream.get_tracks().iter() {
            if let Ok(old) = old.dyn_into::<MediaStreamTrack>() {
                self.stream.remove_track(&old);
            }
        }
        self.stream.add_track(&track);
        self.close_tap();
        self.track_generation.set(self.track_generation.get() + 1);
        *self.track.borrow_mut() = Some(track);
        self.ensure_reader();
    }

    /// Starts reading decoded frames when someone wants them and a track is there.
    pub(crate) fn ensure_reader(self: &Rc<Self>) {
        let generation = self.track_generation.get();
        let wanted = self.sink.borrow().is_some() || self.link.events.has("frame");
        if !wanted || self.reading.get() == Some(generation) {
            return;
        }
        if let Some(track) = self.track.borrow().clone() {
            self.reading.set(Some(generation));
            js::spawn(read_frames(Rc::downgrade(self), track, generation));
        }
    }

    fn close_tap(&self) {
        if let Some(tap) = self.tap.borrow_mut().take() {
            tap.close();
        }
    }

    /// Ends playback and DELETEs the session.
    pub(crate) async fn stop(&self) {
        self.track_generation.set(self.track_generation.get() + 1);
        self.track.borrow_mut().take();
        self.close_tap();
        crate::link::stop(&self.link).await;
        for track in self.stream.get_tracks().iter() {
            if let Ok(track) = track.dyn_into::<MediaStreamTrack>() {
                track.stop();
            }
        }
    }
}

/// The frame reader of one remote track: the track processor where the browser has one, the
/// video tap otherwise (or when the processor refuses the track).
async fn read_frames(player: Weak<Player>, track: MediaStreamTrack, generation: u32) {
    let has_processor = !js::get(&js_sys::global(), "MediaStreamTrackProcessor").is_undefined();
    let processor = has_processor
        .then(|| MediaStreamTrackProcessor::new(&MediaStreamTrackProcessorInit::new(&track)).ok())
        .flatten();
    match processor {
        Some(processor) => read_processor(&player, &processor, generation).await,
        None => read_video(&player, &track, generation).await,
    }
}

async fn read_processor(
    player: &Weak<Player>,
    processor: &MediaStreamTrackProcessor,
    generation: u32,
) {
    let reader: ReadableStreamDefaultReader = processor.readable().get_reader().unchecked_into();
    loop {
        let Ok(result) = JsFuture::from(reader.read()).await else {
            break;
        };
        if js::get(&result, "done").as_bool() == Some(true) {
            break;
        }
        let Ok(frame) = js::get(&result, "value").dyn_into::<VideoFrame>() else {
            continue;
        };
        if !pass_on(player, generation, frame).await {
            break;
        }
    }
    let _ = js::call(&reader, "cancel", &[]);
}

async fn read_video(player: &Weak<Player>, track: &MediaStreamTrack, generation: u32) {
    let Some(p) = player.upgrade() else { return };
    let tap = match VideoTap::new(track) {
        Ok(tap) => Rc::new(tap),
        Err(err) => return p.frames_failing(Some(err)),
    };
    if let Some(old) = p.tap.replace(Some(tap.clone())) {
        old.close();
    }
    drop(p);
    while let Some(frame) = tap.next().await {
        let keep_going = match frame {
            Ok(frame) => pass_on(player, generation, frame).await,
            // The element may have nothing to show yet; the next presented frame will.
            Err(err) => player.upgrade().is_some_and(|p| {
                p.frames_failing(Some(err));
                p.track_generation.get() == generation
            }),
        };
        if !keep_going {
            break;
        }
    }
    tap.close();
}

/// Counts a frame, hands it to `frame` listeners and the sink, and closes it. False when the
/// reader should stop (player gone or track replaced).
async fn pass_on(player: &Weak<Player>, generation: u32, frame: VideoFrame) -> bool {
    let Some(p) = player
        .upgrade()
        .filter(|p| p.track_generation.get() == generation)
    else {
        frame.close();
        return false;
    };
    p.frames.set(p.frames.get() + 1);
    p.link.events.emit("frame", &frame);
    let sink = p.sink.borrow().clone();
    drop(p);
    let delivered = match sink {
        Some(sink) => sink.deliver(&frame).await,
        None => Ok(()),
    };
    frame.close();
    if let Some(p) = player.upgrade() {
        p.frames_failing(delivered.err());
    }
    true
}
