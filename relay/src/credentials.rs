//! The Daydream API key and URL: from the environment, or set at runtime with
//! `PUT /v1/credentials` into `<state_dir>/credentials.json` (mode 0600). `GET` tells whether
//! a key is set and where it came from, never the key.
//!
//! The backend follows the key unless `RTC_BACKEND` fixes it: with a key, Daydream; without,
//! the local backend. Streams keep the client they were created with, so switching the key
//! does not disturb running streams.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::config::{Backend, Config, Secret};
use crate::daydream::{DaydreamClient, RetryPolicy, validate_api_url};
use crate::error::{ApiError, ApiJson, ApiResult};

/// Key every local-backend call carries (the stand-in accepts any non-empty key).
const LOCAL_KEY: &str = "local";

/// Where the key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeySource {
    /// `DAYDREAM_API_KEY`.
    Env,
    /// The credentials file (`PUT /v1/credentials`).
    File,
    /// No key.
    None,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StoredCredentials {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    api_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    api_url: Option<String>,
}

#[derive(Debug)]
struct Current {
    key: Option<Secret>,
    source: KeySource,
    api_url: String,
}

/// Credentials and the client built from them.
#[derive(Debug)]
pub struct Credentials {
    path: PathBuf,
    fixed_backend: Option<Backend>,
    local_base: String,
    timeout: Duration,
    retry: RetryPolicy,
    current: RwLock<Current>,
}

/// Body of `GET/PUT /v1/credentials`.
#[derive(Debug, Serialize)]
pub struct CredentialsView {
    /// Whether a key is configured.
    pub has_api_key: bool,
    /// Where it came from.
    pub source: KeySource,
    /// The Daydream API URL.
    pub api_url: String,
    /// Backend new streams use.
    pub backend: &'static str,
}

/// Body of `PUT /v1/credentials`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsUpdate {
    /// New key; `null` or `""` removes the stored one.
    #[serde(default, deserialize_with = "present")]
    pub api_key: Option<Option<String>>,
    /// New API URL.
    #[serde(default)]
    pub api_url: Option<String>,
}

/// Distinguishes `"api_key": null` (remove) from a missing field (keep).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

impl Credentials {
    /// Loads `<state_dir>/credentials.json`; the environment wins over the file.
    pub fn load(config: &Config, local_base: String) -> anyhow::Result<Self> {
        let path = config.state_dir().join("credentials.json");
        let stored: StoredCredentials = crate::state_files::read_json(&path)?.unwrap_or_default();
        let (key, source) = match (&config.api_key, stored.api_key) {
            (Some(env), _) => (Some(env.clone()), KeySource::Env),
            (None, Some(file)) if !file.is_empty() => (Some(Secret::new(file)), KeySource::File),
            _ => (None, KeySource::None),
        };
        let api_url = stored.api_url.unwrap_or_else(|| config.api_url.clone());
        Ok(Self {
            path,
            fixed_backend: config.backend,
            local_base,
            timeout: Duration::from_millis(config.upstream_timeout_ms),
            retry: RetryPolicy {
                attempts: config.upstream_attempts,
                base: Duration::from_millis(config.retry_base_ms),
                cap: Duration::from_millis(config.retry_cap_ms),
            },
            current: RwLock::new(Current {
                key,
                source,
                api_url,
            }),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Current> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Backend new streams use.
    pub fn backend(&self) -> Backend {
        self.fixed_backend.unwrap_or(if self.read().key.is_some() {
            Backend::Daydream
        } else {
            Backend::Local
        })
    }

    /// A client for new streams.
    pub fn client(&self) -> ApiResult<Arc<DaydreamClient>> {
        let current = self.read();
        let (base, key) = match self.backend() {
            Backend::Local => (self.local_base.as_str(), Secret::new(LOCAL_KEY)),
            Backend::Daydream => {
                let key = current.key.clone().ok_or_else(|| {
                    ApiError::conflict(
                        "no_api_key",
                        "no Daydream API key is set; PUT /v1/credentials or set DAYDREAM_API_KEY",
                    )
                })?;
                (current.api_url.as_str(), key)
            }
        };
        DaydreamClient::new(base, key, self.timeout, self.retry)
            .map(Arc::new)
            .map_err(|e| ApiError::Unprocessable {
                code: "invalid_api_url",
                message: e,
            })
    }

    /// What `GET /v1/credentials` shows.
    pub fn view(&self) -> CredentialsView {
        let current = self.read();
        CredentialsView {
            has_api_key: current.key.is_some(),
            source: current.source,
            api_url: current.api_url.clone(),
            backend: self.backend().as_str(),
        }
    }

    /// Applies and persists an update.
    pub fn update(&self, update: CredentialsUpdate) -> ApiResult<CredentialsView> {
        let api_url = match update.api_url {
            Some(url) => Some(
                validate_api_url(&url)
                    .map_err(|message| ApiError::Unprocessable {
                        code: "invalid_api_url",
                        message,
                    })?
                    .as_str()
                    .trim_end_matches('/')
                    .to_owned(),
            ),
            None => None,
        };
        let key = match update.api_key {
            Some(Some(k)) if k.trim().contains(char::is_whitespace) => {
                return Err(ApiError::Unprocessable {
                    code: "invalid_api_key",
                    message: "the API key must not contain spaces or line breaks".into(),
                });
            }
            Some(Some(k)) if !k.trim().is_empty() => Some(Some(Secret::new(k.trim()))),
            Some(_) => Some(None),
            None => None,
        };
        {
            let mut current = self
                .current
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut stored: StoredCredentials = crate::state_files::read_json(&self.path)
                .ok()
                .flatten()
                .unwrap_or_default();
            if let Some(key) = key {
                stored.api_key = key.as_ref().map(|k| k.expose().to_owned());
                current.source = if key.is_some() {
                    KeySource::File
                } else {
                    KeySource::None
                };
                current.key = key;
            }
            if let Some(url) = api_url {
                stored.api_url = Some(url.clone());
                current.api_url = url;
            }
            crate::state_files::write_json(&self.path, &stored)
                .map_err(|e| ApiError::Internal(format!("saving credentials: {e}")))?;
        }
        Ok(self.view())
    }
}

/// Routes of this module.
pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/v1/credentials", get(get_credentials).put(put_credentials))
}

async fn get_credentials(State(state): State<Arc<AppState>>) -> Json<CredentialsView> {
    Json(state.credentials.view())
}

async fn put_credentials(
    State(state): State<Arc<AppState>>,
    ApiJson(update): ApiJson<CredentialsUpdate>,
) -> ApiResult<Json<CredentialsView>> {
    let view = state.credentials.update(update)?;
    tracing::info!(
        backend = view.backend,
        has_api_key = view.has_api_key,
        "credentials updated"
    );
    Ok(Json(view))
}
