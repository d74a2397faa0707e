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
    fn default() -> Self {
        // Daydream processes 512×512 by default and drops input above 24 fps.
        Self {
            frame_rate: 24,
            width: 512,
            height: 512,
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
    /// Applies `patch` and checks the result: 1–60 fps, even sides from 64 to 4096 (H.264
    /// and I420 need even sizes).
    pub fn patched(self, patch: FrameSettingsPatch) -> ApiResult<Self> {
        let next = Self {
            frame_rate: patch.frame_rate.unwrap_or(self.frame_rate),
            width: patch.width.unwrap_or(self.width),
            height: patch.height.unwrap_or(self.height),
        };
        let invalid = |message: String| ApiError::Unprocessable {
            code: "invalid_settings",
            message,
        };
        if !(1..=60).contains(&next.frame_rate) {
            return Err(invalid(format!(
                "frame_rate {} is out of range (1 to 60)",
                next.frame_rate
            )));
        }
        for (name, side) in [("width", next.width), ("height", next.height)] {
            if !(64..=4096).contains(&side) || side % 2 != 0 {
                return Err(invalid(format!(
                    "{name} {side} must be an even number from 64 to 4096"
                )));
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
