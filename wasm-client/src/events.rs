//! Typed events for JavaScript listeners. Listeners live in a JS `Map` of `Set`s, so the
//! unsubscribe function `on()` returns is `Set.prototype.delete` bound to the listener: no
//! Rust closure has to outlive the call.

use js_sys::{Function, Map, Set};
use wasm_bindgen::{JsCast, JsValue};

/// Event name → listeners.
#[derive(Debug)]
pub(crate) struct Emitter {
    listeners: Map,
}

impl Default for Emitter {
    fn default() -> Self {
        Self {
            listeners: Map::new(),
        }
    }
}

impl Emitter {
    /// Adds `listener` for `event`; returns a function that removes it.
    pub(crate) fn on(&self, event: &str, listener: &Function) -> Function {
        let key = JsValue::from_str(event);
        let set: Set = match self.listeners.get(&key).dyn_into() {
            Ok(set) => set,
            Err(_) => {
                let set = Set::new(&JsValue::UNDEFINED);
                self.listeners.set(&key, &set);
                set
            }
        };
        set.add(listener);
        let delete: Function = crate::js::get(&set, "delete").unchecked_into();
        delete.bind1(&set, listener).unchecked_into()
    }

    /// Calls every listener of `event` with `payload`; a throwing listener is logged and
    /// does not stop the others.
    pub(crate) fn emit(&self, event: &str, payload: &JsValue) {
        let Ok(set) = self
            .listeners
            .get(&JsValue::from_str(event))
            .dyn_into::<Set>()
        else {
            return;
        };
        // Copy first: a listener may unsubscribe while we iterate.
        let listeners = js_sys::Array::from(&set);
        for listener in listeners.iter() {
            let listener: Function = listener.unchecked_into();
            if let Err(err) = listener.call1(&JsValue::NULL, payload) {
                web_sys::console::error_2(&JsValue::from_str("rtc-client: listener threw"), &err);
            }
        }
    }

    /// Whether anyone listens to `event`.
    pub(crate) fn has(&self, event: &str) -> bool {
        self.listeners
            .get(&JsValue::from_str(event))
            .dyn_into::<Set>()
            .is_ok_and(|s| s.size() > 0)
    }
}
