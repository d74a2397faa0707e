//! A periodic tick from a dedicated Worker's timer. Chromium throttles page timers in
//! background tabs (the ComfyUI tab usually is one) but not a dedicated worker's, so frame
//! pacing and the stats report keep their rate. Falls back to a page interval where a blob
//! Worker is not allowed (strict CSP).

use gloo_timers::callback::Interval;
use wasm_bindgen::prelude::*;
use web_sys::{Blob, BlobPropertyBag, MessageEvent, Url, Worker};

const WORKER_SOURCE: &str =
    "let t;onmessage=e=>{clearInterval(t);if(e.data>0)t=setInterval(()=>postMessage(0),e.data)}";

enum Timer {
    Worker {
        worker: Worker,
        url: String,
        _on_message: Closure<dyn FnMut(MessageEvent)>,
    },
    /// Kept for its `Drop`, which clears the interval.
    Page(#[allow(dead_code)] Interval),
}

/// Calls a function every `interval_ms` until dropped.
pub(crate) struct Ticker {
    timer: Timer,
}

impl std::fmt::Debug for Ticker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.timer {
            Timer::Worker { .. } => "worker",
            Timer::Page(_) => "page",
        };
        f.debug_struct("Ticker").field("timer", &kind).finish()
    }
}

fn start_worker(
    interval_ms: u32,
    on_message: &Closure<dyn FnMut(MessageEvent)>,
) -> Result<(Worker, String), JsValue> {
    let parts = js_sys::Array::of1(&JsValue::from_str(WORKER_SOURCE));
    let options = BlobPropertyBag::new();
    options.set_type("text/javascript");
    let blob = Blob::new_with_str_sequence_and_options(&parts, &options)?;
    let url = Url::create_object_url_with_blob(&blob)?;
    let worker = match Worker::new(&url) {
        Ok(w) => w,
        Err(e) => {
            let _ = Url::revoke_object_url(&url);
            return Err(e);
        }
    };
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    worker.post_message(&interval_ms.into())?;
    Ok((worker, url))
}

impl Ticker {
    /// Starts ticking.
    pub(crate) fn start(interval_ms: u32, on_tick: impl FnMut() + 'static) -> Self {
        let on_tick = std::rc::Rc::new(std::cell::RefCell::new(on_tick));
        let tick = on_tick.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |_| (tick.borrow_mut())());
        let timer = match start_worker(interval_ms, &on_message) {
            Ok((worker, url)) => Timer::Worker {
                worker,
                url,
                _on_message: on_message,
            },
            Err(_) => Timer::Page(Interval::new(interval_ms, move || (on_tick.borrow_mut())())),
        };
        Self { timer }
    }

    /// Whether the worker timer is in use (the page fallback is throttled in hidden tabs).
    pub(crate) fn uses_worker(&self) -> bool {
        matches!(self.timer, Timer::Worker { .. })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        if let Timer::Worker { worker, url, .. } = &self.timer {
            worker.set_onmessage(None);
            worker.terminate();
            let _ = Url::revoke_object_url(url);
        }
    }
}
