//! Decoded frames from a `<video>`, for browsers without `MediaStreamTrackProcessor` (Firefox,
//! Safari): the track plays in a hidden element and every frame it presents
//! (`requestVideoFrameCallback`) becomes a `VideoFrame` of the element.
//!
//! Presentation follows the page's rendering, so a hidden tab gets few or no frames; the
//! processor has no such limit, which is why it stays the first choice.

use std::cell::RefCell;

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{HtmlVideoElement, MediaStream, MediaStreamTrack, VideoFrame, VideoFrameInit};

use crate::error::{ClientError, ErrorCode, Result};
use crate::js;

/// Keeps the element rendered (browsers skip presenting frames of `display: none` videos)
/// while nobody sees or clicks it.
const HIDDEN_STYLE: &str = "position:fixed;width:1px;height:1px;opacity:0;pointer-events:none";

/// A hidden `<video>` playing one track.
#[derive(Debug)]
pub(crate) struct VideoTap {
    video: HtmlVideoElement,
    /// Resolves the pending frame wait, so `close` ends a reader whose video will present
    /// nothing more.
    wake: RefCell<Option<js_sys::Function>>,
}

impl VideoTap {
    /// Starts playing `track` in a new element attached to the page.
    pub(crate) fn new(track: &MediaStreamTrack) -> Result<Self> {
        let unsupported = |what: &str| {
            ClientError::new(
                ErrorCode::Unsupported,
                format!("frames cannot be read back: no MediaStreamTrackProcessor and {what}"),
            )
        };
        let document = web_sys::window()
            .and_then(|w| w.document())
            .ok_or_else(|| unsupported("no document"))?;
        let video: HtmlVideoElement = document
            .create_element("video")
            .map_err(|e| ClientError::js(ErrorCode::Unsupported, "<video>", &e))?
            .unchecked_into();
        if !js::get(&video, "requestVideoFrameCallback").is_function() {
            return Err(unsupported("no requestVideoFrameCallback"));
        }
        let tracks = js_sys::Array::of1(track);
        let stream = MediaStream::new_with_tracks(&tracks)
            .map_err(|e| ClientError::js(ErrorCode::Unsupported, "MediaStream", &e))?;
        video.set_muted(true);
        video.set_autoplay(true);
        // Safari plays inline only with this set, and a fullscreen takeover would be absurd.
        js::set(&video, "playsInline", &true.into());
        let _ = video.set_attribute("style", HIDDEN_STYLE);
        let _ = video.set_attribute("aria-hidden", "true");
        video.set_src_object(Some(&stream));
        let body = document
            .body()
            .ok_or_else(|| unsupported("no document body"))?;
        body.append_child(&video)
            .map_err(|e| ClientError::js(ErrorCode::Unsupported, "<video>", &e))?;
        let _ = video.play();
        Ok(Self {
            video,
            wake: RefCell::new(None),
        })
    }

    /// The next frame the element presents, or `None` once closed.
    pub(crate) async fn next(&self) -> Option<Result<VideoFrame>> {
        if !self.video.is_connected() {
            return None;
        }
        let mut resolve = None;
        let presented = js_sys::Promise::new(&mut |res, _| resolve = Some(res));
        let resolve = resolve?;
        // The callback's first argument is the presentation time; `close` resolves with
        // `undefined` instead.
        if let Err(e) = js::call(&self.video, "requestVideoFrameCallback", &[&resolve]) {
            return Some(Err(ClientError::js(
                ErrorCode::Unsupported,
                "requestVideoFrameCallback",
                &e,
            )));
        }
        *self.wake.borrow_mut() = Some(resolve);
        let now_ms = JsFuture::from(presented).await.ok()?.as_f64()?;
        let init = VideoFrameInit::new();
        init.set_timestamp_f64((now_ms * 1000.0).round());
        Some(
            VideoFrame::new_with_html_video_element_and_video_frame_init(&self.video, &init)
                .map_err(|e| ClientError::js(ErrorCode::InvalidFrame, "VideoFrame(video)", &e)),
        )
    }

    /// Stops playback and removes the element; a pending `next` returns `None`.
    pub(crate) fn close(&self) {
        self.video.set_src_object(None);
        self.video.remove();
        if let Some(wake) = self.wake.borrow_mut().take() {
            let _ = wake.call1(&JsValue::NULL, &JsValue::UNDEFINED);
        }
    }
}
