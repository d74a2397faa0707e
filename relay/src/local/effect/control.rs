//! A stream's current effect params, shared by the REST side (writes on create and PATCH)
//! and the stream's codec thread (reads once per frame), with the reload timer.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use rtc_effect::Look;

use super::settings::EffectParams;

/// What the next output frame is.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// `skip_diffusion`: forward the input unchanged.
    Passthrough,
    /// The reloading frame at `width × height`, `progress` from 0 to 1.
    Reloading {
        /// Output width.
        width: usize,
        /// Output height.
        height: usize,
        /// How far the reload is.
        progress: f32,
    },
    /// The effect at `width × height`.
    Effect {
        /// Output width.
        width: usize,
        /// Output height.
        height: usize,
        /// Settings for this frame.
        look: Look,
    },
}

#[derive(Debug)]
struct Current {
    params: EffectParams,
    reload: Option<(Instant, Duration)>,
}

/// The effect params of one stream.
#[derive(Debug)]
pub struct Control {
    current: Mutex<Current>,
    reload_time: Duration,
}

impl Control {
    /// Control for a stream created with `params`; a reload shows its frame for `reload_time`.
    pub fn new(params: &Value, reload_time: Duration) -> Self {
        Self {
            current: Mutex::new(Current {
                params: EffectParams::from_params(params),
                reload: None,
            }),
            reload_time,
        }
    }

    fn current(&self) -> std::sync::MutexGuard<'_, Current> {
        // Every critical section is a plain assignment: a poisoned lock holds valid data.
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies new params at `now`: hot changes take effect on the next frame, others start
    /// a reload (shown when the params ask for the reloading frame).
    pub fn update(&self, params: &Value, now: Instant) {
        let next = EffectParams::from_params(params);
        let mut current = self.current();
        if next.reloads_from(&current.params) && next.show_reloading_frame {
            current.reload = Some((now, self.reload_time));
        }
        current.params = next;
    }

    /// Whether the input goes out unchanged.
    pub fn passthrough(&self) -> bool {
        self.current().params.look.is_none()
    }

    /// What to output for a frame taken at `now`.
    pub fn plan(&self, now: Instant) -> Plan {
        let mut current = self.current();
        let (width, height) = (current.params.width, current.params.height);
        if let Some((started, length)) = current.reload {
            let elapsed = now.saturating_duration_since(started);
            if elapsed < length {
                return Plan::Reloading {
                    width,
                    height,
                    progress: elapsed.as_secs_f32() / length.as_secs_f32(),
                };
            }
            current.reload = None;
        }
        match &current.params.look {
            None => Plan::Passthrough,
            Some(look) => Plan::Effect {
                width,
                height,
                look: look.clone(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const RELOAD: Duration = Duration::from_millis(500);

    fn size(plan: &Plan) -> (usize, usize) {
        match plan {
            Plan::Effect { width, height, .. } | Plan::Reloading { width, height, .. } => {
                (*width, *height)
            }
            Plan::Passthrough => (0, 0),
        }
    }

    #[test]
    fn hot_changes_apply_to_the_next_frame() {
        let now = Instant::now();
        let control = Control::new(&json!({"prompt": "a"}), RELOAD);
        let Plan::Effect { look: before, .. } = control.plan(now) else {
            panic!("effect expected");
        };
        control.update(&json!({"prompt": "b"}), now);
        let Plan::Effect { look: after, .. } = control.plan(now) else {
            panic!("no reload for a prompt change");
        };
        assert_ne!(before.palette, after.palette);
    }

    #[test]
    fn a_size_change_reloads_then_shows_the_new_size() {
        let now = Instant::now();
        let control = Control::new(&json!({"width": 512, "height": 512}), RELOAD);
        control.update(&json!({"width": 640, "height": 384}), now);
        let reloading = control.plan(now + RELOAD / 2);
        assert!(
            matches!(reloading, Plan::Reloading { progress, .. } if (0.4..0.6).contains(&progress))
        );
        assert_eq!(size(&reloading), (640, 384));
        let after = control.plan(now + RELOAD);
        assert!(matches!(after, Plan::Effect { .. }));
        assert_eq!(size(&after), (640, 384));
    }

    #[test]
    fn the_reloading_frame_can_be_turned_off() {
        let now = Instant::now();
        let control = Control::new(&json!({"show_reloading_frame": false}), RELOAD);
        control.update(
            &json!({"show_reloading_frame": false, "model_id": "stabilityai/sd-turbo"}),
            now,
        );
        assert!(matches!(control.plan(now), Plan::Effect { .. }));
    }

    #[test]
    fn skip_diffusion_passes_through() {
        let now = Instant::now();
        let control = Control::new(&json!({"skip_diffusion": true}), RELOAD);
        assert!(control.passthrough());
        assert_eq!(control.plan(now), Plan::Passthrough);
        control.update(&json!({"skip_diffusion": false}), now);
        assert!(!control.passthrough());
    }
}
