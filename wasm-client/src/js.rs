//! Small helpers for plain JavaScript objects (dictionaries web-sys types too strictly or not
//! at all, such as stats entries and `RTCRtpSendParameters` fields).

use std::future::Future;
use std::pin::Pin;

use wasm_bindgen::{JsCast, JsValue};

/// `obj[key] = value`; setting a property on a plain object cannot fail.
pub(crate) fn set(obj: &JsValue, key: &str, value: &JsValue) {
    let _ = js_sys::Reflect::set(obj, &JsValue::from_str(key), value);
}

/// `obj[key]`, `undefined` when missing.
pub(crate) fn get(obj: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// `obj[key]` as a number.
pub(crate) fn number(obj: &JsValue, key: &str) -> Option<f64> {
    get(obj, key).as_f64()
}

/// `obj[key]` as a string.
pub(crate) fn string(obj: &JsValue, key: &str) -> Option<String> {
    get(obj, key).as_string()
}

/// A new empty object.
pub(crate) fn object() -> JsValue {
    js_sys::Object::new().into()
}

/// Calls `obj[method](...args)`.
pub(crate) fn call(obj: &JsValue, method: &str, args: &[&JsValue]) -> Result<JsValue, JsValue> {
    let f: js_sys::Function = get(obj, method).dyn_into()?;
    let array = js_sys::Array::new();
    for arg in args {
        array.push(arg);
    }
    f.apply(obj, &array)
}

/// Monotonic milliseconds (`performance.now()`), or wall-clock time where it is missing.
pub(crate) fn now_ms() -> f64 {
    let perf = get(&js_sys::global(), "performance");
    number_call(&perf, "now").unwrap_or_else(js_sys::Date::now)
}

fn number_call(obj: &JsValue, method: &str) -> Option<f64> {
    if obj.is_undefined() {
        return None;
    }
    call(obj, method, &[]).ok()?.as_f64()
}

/// Logs a warning to the console.
pub(crate) fn warn(message: &str) {
    web_sys::console::warn_1(&JsValue::from_str(message));
}

/// Runs `future` on the page's task queue. Boxed first, so every caller shares one copy of the
/// executor's generic spawn code instead of one per future type.
pub(crate) fn spawn(future: impl Future<Output = ()> + 'static) {
    let boxed: Pin<Box<dyn Future<Output = ()>>> = Box::pin(future);
    wasm_bindgen_futures::spawn_local(boxed);
}
