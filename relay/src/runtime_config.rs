//! `GET/PUT /v1/config`: the frame settings new streams start with (frame rate and size),
//! persisted in `<state_dir>/runtime_config.json`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiJson, ApiResult};
use crate::{AppState, lock};

/// Frame rate and size of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameSettings {
    /// Frames per second sent to the publisher.
    pub frame_rate: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl Default for FrameSettings {
    /// The catalog's defaults (Daydream processes 512×512 and drops input above 24 fps).
    fn default() -> Self {
        let default = |name: &str| {
            crate::catalog::get().frame[name]
                .default
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or_default()
        };
        Self {
            frame_rate: default("frame_rate"),
            width: default("width"),
            height: default("height"),
        }
    }
}

/// A partial update of [`FrameSettings`].
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrameSettingsPatch {
    /// New frame rate.
    pub frame_rate: Option<u32>,
    /// New width.
    pub width: Option<u32>,
    /// New height.
    pub height: Option<u32>,
}

impl FrameSettings {
    /// Applies `patch` and checks the result against the catalog's frame limits (even sizes:
    /// H.264 and I420 need them).
    pub fn patched(self, patch: FrameSettingsPatch) -> ApiResult<Self> {
        let next = Self {
            frame_rate: patch.frame_rate.unwrap_or(self.frame_rate),
            width: patch.width.unwrap_or(self.width),
            height: patch.height.unwrap_or(self.height),
        };
        let limits = &crate::catalog::get().frame;
        for (name, value) in [
            ("frame_rate", next.frame_rate),
            ("width", next.width),
            ("height", next.height),
        ] {
            let spec = &limits[name];
            let (min, max) = (spec.min.unwrap_or(1.0), spec.max.unwrap_or(f64::MAX));
            let step = spec.step.unwrap_or(1.0);
            let n = f64::from(value);
            if !(min..=max).contains(&n) || n % step != 0.0 {
                let multiple = if step > 1.0 {
                    format!(" a multiple of {step}")
                } else {
                    String::new()
                };
                return Err(ApiError::Unprocessable {
                    code: "invalid_settings",
                    message: format!("{name} {value} must be{multiple} from {min} to {max}"),
                });
            }
        }
        Ok(next)
    }
}

/// The persisted defaults.
#[derive(Debug)]
pub struct RuntimeConfig {
    path: PathBuf,
    current: Mutex<FrameSettings>,
}

impl RuntimeConfig {
    /// Loads `<state_dir>/runtime_config.json`, falling back to the defaults when it is
    /// missing or invalid (with a warning).
    pub fn load(state_dir: &std::path::Path) -> Self {
        let path = state_dir.join("runtime_config.json");
        let current = match crate::state_files::read_json::<FrameSettings>(&path) {
            Ok(Some(saved)) => FrameSettings::default()
                .patched(FrameSettingsPatch {
                    frame_rate: Some(saved.frame_rate),
                    width: Some(saved.width),
                    height: Some(saved.height),
                })
                .unwrap_or_default(),
            Ok(None) => FrameSettings::default(),
            Err(e) => {
                tracing::warn!(error = %e, "ignoring unreadable runtime config");
                FrameSettings::default()
            }
        };
        Self {
            path,
            current: Mutex::new(current),
        }
    }

    /// Current defaults.
    pub fn get(&self) -> FrameSettings {
        *lock(&self.current)
    }

    /// Applies and persists `patch`.
    pub fn update(&self, patch: FrameSettingsPatch) -> ApiResult<FrameSettings> {
        let mut current = lock(&self.current);
        let next = current.patched(patch)?;
        crate::state_files::write_json(&self.path, &next)
            .map_err(|e| ApiError::Internal(format!("saving runtime config: {e}")))?;
        *current = next;
        Ok(next)
    }
}

/// Routes of this module.
pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/v1/config", get(get_config).put(put_config))
}

async fn get_config(State(state): State<Arc<AppState>>) -> Json<FrameSettings> {
    Json(state.runtime.get())
}

async fn put_config(
    State(state): State<Arc<AppState>>,
    ApiJson(patch): ApiJson<FrameSettingsPatch>,
) -> ApiResult<Json<FrameSettings>> {
    let settings = crate::blocking(move || state.runtime.update(patch)).await??;
    Ok(Json(settings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_validated_and_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let config = RuntimeConfig::load(dir.path());
        assert_eq!(config.get(), FrameSettings::default());
        let bad = FrameSettingsPatch {
            width: Some(513),
            ..Default::default()
        };
        assert!(config.update(bad).is_err());
        let zero = FrameSettingsPatch {
            frame_rate: Some(0),
            ..Default::default()
        };
        assert!(config.update(zero).is_err());
        let good = FrameSettingsPatch {
            frame_rate: Some(30),
            width: Some(1280),
            height: Some(720),
        };
        config.update(good).unwrap();
        let reloaded = RuntimeConfig::load(dir.path());
        assert_eq!(
            reloaded.get(),
            FrameSettings {
                frame_rate: 30,
                width: 1280,
                height: 720
            }
        );
    }
}
