//! The exported classes and factories (browser only: they need the unstable web-sys APIs).

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use rtc_protocol::PixelFormat;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::error::{ClientError, ErrorCode};
use crate::link::Media as _;
use crate::state::state_name;
use crate::{agent, js, link, options, player, publisher};

type JsOutcome = Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>>;

/// One copy of the promise adapter for every method (it is generic over the future).
fn to_promise(future: JsOutcome) -> js_sys::Promise {
    future_to_promise(future)
}

fn promise(f: impl Future<Output = Result<(), ClientError>> + 'static) -> js_sys::Promise {
    to_promise(Box::pin(async move {
        f.await.map(|()| JsValue::UNDEFINED).map_err(JsValue::from)
    }))
}

fn stats_promise(
    link_stats: impl Future<Output = Option<rtc_protocol::StreamStats>> + 'static,
) -> js_sys::Promise {
    to_promise(Box::pin(async move {
        Ok(link_stats
            .await
            .map(|s| crate::wire::stats_object(&s))
            .unwrap_or(JsValue::UNDEFINED))
    }))
}

/// A WHIP publisher. Create with `createBroadcast`.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Broadcast {
    inner: Rc<publisher::Publisher>,
}

/// Creates a WHIP publisher; frames pushed before `connect()` are held and sent once live.
#[wasm_bindgen(js_name = createBroadcast)]
pub fn create_broadcast(
    #[wasm_bindgen(unchecked_param_type = "BroadcastOptions")] options: &JsValue,
) -> Result<Broadcast, JsValue> {
    let options = options::broadcast(options)?;
    Ok(Broadcast {
        inner: publisher::Publisher::new(options)?,
    })
}

#[wasm_bindgen]
impl Broadcast {
    /// Current state.
    #[wasm_bindgen(getter, unchecked_return_type = "MediaState")]
    pub fn state(&self) -> String {
        state_name(self.inner.link().state()).to_owned()
    }

    /// Signals and connects; resolves once the server's answer is applied (the state turns
    /// `live` when media flows). Retries per `reconnect`; rejects with an `RtcClientError`.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn connect(&self) -> js_sys::Promise {
        promise(link::connect(self.inner.clone()))
    }

    /// Stops sending, DELETEs the WHIP session and releases the track. Final.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn stop(&self) -> js_sys::Promise {
        let inner = self.inner.clone();
        promise(async move {
            inner.stop().await;
            Ok(())
        })
    }

    /// Queues a frame of raw pixels (copied; `pixels` can be reused at once). `timestampUs`
    /// defaults to now.
    #[wasm_bindgen(js_name = pushFrame)]
    pub fn push_frame(
        &self,
        pixels: &js_sys::Uint8Array,
        width: u32,
        height: u32,
        #[wasm_bindgen(unchecked_param_type = "PixelFormatName")] format: &str,
        #[wasm_bindgen(js_name = timestampUs)] timestamp_us: Option<f64>,
    ) -> Result<(), JsValue> {
        let format: PixelFormat = format.parse().map_err(|e: rtc_protocol::FrameError| {
            ClientError::new(ErrorCode::InvalidFrame, e.to_string())
        })?;
        let ts = timestamp_us.unwrap_or_else(|| js::now_ms() * 1000.0);
        Ok(self.inner.push_pixels(format, width, height, ts, pixels)?)
    }

    /// Queues a `VideoFrame`. Ownership passes to the broadcast, which closes it; do not use
    /// the frame afterwards.
    #[wasm_bindgen(js_name = pushVideoFrame)]
    pub fn push_video_frame(&self, frame: web_sys::VideoFrame) {
        self.inner.push_frame(frame);
    }

    /// Changes frame rate and bitrate ceiling while live.
    #[wasm_bindgen(js_name = setVideo)]
    pub fn set_video(
        &self,
        #[wasm_bindgen(unchecked_param_type = "VideoSettings")] settings: &JsValue,
    ) -> Result<(), JsValue> {
        let fps = js::number(settings, "frameRate");
        let kbps = js::number(settings, "maxBitrateKbps").map(|v| v as u32);
        Ok(self.inner.set_video(fps, kbps)?)
    }

    /// The outgoing stream, e.g. for a local preview.
    #[wasm_bindgen(getter)]
    pub fn stream(&self) -> web_sys::MediaStream {
        self.inner.stream().clone()
    }

    /// Whether the track comes from `MediaStreamTrackGenerator` (false: canvas fallback).
    #[wasm_bindgen(getter, js_name = usesGenerator)]
    pub fn uses_generator(&self) -> bool {
        self.inner.uses_generator()
    }

    /// Frame counters: pushed, written, repeated (held last frame), dropped (replaced).
    #[wasm_bindgen(getter, unchecked_return_type = "FrameCounters")]
    pub fn frames(&self) -> JsValue {
        let c = self.inner.counters();
        let out = js::object();
        js::set(&out, "pushed", &(c.pushed as f64).into());
        js::set(&out, "written", &(c.written as f64).into());
        js::set(&out, "repeated", &(c.repeated as f64).into());
        js::set(&out, "dropped", &(c.dropped as f64).into());
        out
    }

    /// One `getStats` sample (rates since the previous call).
    #[wasm_bindgen(unchecked_return_type = "Promise<StreamStats | undefined>")]
    pub fn stats(&self) -> js_sys::Promise {
        let inner = self.inner.clone();
        stats_promise(async move { inner.link().stats().await })
    }

    /// Subscribes to an event; returns the unsubscribe function.
    #[wasm_bindgen(skip_typescript)]
    pub fn on(&self, event: &str, listener: &js_sys::Function) -> js_sys::Function {
        self.inner.link().events.on(event, listener)
    }
}

/// A WHEP player. Create with `createPlayer`.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Player {
    inner: Rc<player::Player>,
}

/// Creates a WHEP player for `whepUrl`.
#[wasm_bindgen(js_name = createPlayer)]
pub fn create_player(
    #[wasm_bindgen(js_name = whepUrl)] whep_url: String,
    #[wasm_bindgen(unchecked_param_type = "PlayerOptions | undefined")] options: &JsValue,
) -> Result<Player, JsValue> {
    let options = options::player(options)?;
    Ok(Player {
        inner: player::Player::new(whep_url, options)?,
    })
}

#[wasm_bindgen]
impl Player {
    /// Current state.
    #[wasm_bindgen(getter, unchecked_return_type = "MediaState")]
    pub fn state(&self) -> String {
        state_name(self.inner.link().state()).to_owned()
    }

    /// Signals and connects (answers a 406 counter-offer, waits out 409 + Retry-After).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn connect(&self) -> js_sys::Promise {
        promise(link::connect(self.inner.clone()))
    }

    /// Stops playback and DELETEs the WHEP session. Final.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn stop(&self) -> js_sys::Promise {
        let inner = self.inner.clone();
        promise(async move {
            inner.stop().await;
            Ok(())
        })
    }

    /// The received stream; keeps its identity across reconnects.
    #[wasm_bindgen(getter)]
    pub fn stream(&self) -> web_sys::MediaStream {
        self.inner.stream().clone()
    }

    /// Plays into a `<video>` (muted so autoplay works).
    pub fn attach(&self, element: &web_sys::HtmlMediaElement) {
        self.inner.attach(element);
    }

    /// Frames decoded and delivered so far.
    #[wasm_bindgen(getter)]
    pub fn frames(&self) -> f64 {
        self.inner.frames() as f64
    }

    /// One `getStats` sample (rates since the previous call).
    #[wasm_bindgen(unchecked_return_type = "Promise<StreamStats | undefined>")]
    pub fn stats(&self) -> js_sys::Promise {
        let inner = self.inner.clone();
        stats_promise(async move { inner.link().stats().await })
    }

    /// Subscribes to an event; returns the unsubscribe function.
    #[wasm_bindgen(skip_typescript)]
    pub fn on(&self, event: &str, listener: &js_sys::Function) -> js_sys::Function {
        let off = self.inner.link().events.on(event, listener);
        if event == "frame" {
            self.inner.ensure_reader();
        }
        off
    }
}

/// The relay-driven agent. Create with `createAgent`.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Agent {
    inner: Rc<agent::Agent>,
}

/// Creates an agent for the relay at `options.baseUrl` (default: this page's origin).
#[wasm_bindgen(js_name = createAgent)]
pub fn create_agent(
    #[wasm_bindgen(unchecked_param_type = "AgentOptions | undefined")] options: &JsValue,
) -> Result<Agent, JsValue> {
    let options = options::agent(options)?;
    Ok(Agent {
        inner: agent::Agent::new(options)?,
    })
}

#[wasm_bindgen]
impl Agent {
    /// Current socket state.
    #[wasm_bindgen(getter, unchecked_return_type = "AgentState")]
    pub fn state(&self) -> String {
        self.inner.state().as_str().to_owned()
    }

    /// Id the relay gave this agent, once welcomed.
    #[wasm_bindgen(getter, js_name = agentId)]
    pub fn agent_id(&self) -> Option<String> {
        self.inner.agent_id()
    }

    /// Opens the agent socket; resolves on the relay's `welcome`. Reconnects on its own
    /// after a relay restart.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn connect(&self) -> js_sys::Promise {
        self.inner.connect()
    }

    /// Releases every lease, stops publishers and players, closes the socket. Final.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn stop(&self) -> js_sys::Promise {
        let inner = self.inner.clone();
        promise(async move {
            inner.stop().await;
            Ok(())
        })
    }

    /// The streams this agent serves.
    #[wasm_bindgen(unchecked_return_type = "AgentStreamInfo[]")]
    pub fn streams(&self) -> JsValue {
        self.inner.streams()
    }

    /// The outgoing stream of `streamId`, for a local preview.
    #[wasm_bindgen(js_name = publisherStream)]
    pub fn publisher_stream(
        &self,
        #[wasm_bindgen(js_name = streamId)] stream_id: &str,
    ) -> Option<web_sys::MediaStream> {
        self.inner.publisher_stream(stream_id)
    }

    /// The processed stream of `streamId` played back, for a `<video>`.
    #[wasm_bindgen(js_name = playerStream)]
    pub fn player_stream(
        &self,
        #[wasm_bindgen(js_name = streamId)] stream_id: &str,
    ) -> Option<web_sys::MediaStream> {
        self.inner.player_stream(stream_id)
    }

    /// Subscribes to an event; returns the unsubscribe function.
    #[wasm_bindgen(skip_typescript)]
    pub fn on(&self, event: &str, listener: &js_sys::Function) -> js_sys::Function {
        self.inner.events.on(event, listener)
    }
}
