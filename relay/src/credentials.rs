//! The Daydream API key and URL and the backend choice: from the environment, or set at
//! runtime with `PUT /v1/credentials` into `<state_dir>/credentials.json` (mode 0600). `GET`
//! tells whether a key is set and where it came from, never the key.
//!
//! The backend is, in order: `RTC_BACKEND` when the relay was started with it (then it cannot
//! be switched at runtime), the choice stored with `PUT {"backend": …}`, else it follows the
//! key (Daydream with one, the local backend without). Streams keep the client they were
//! created with, so neither a new key nor a new backend disturbs running streams.
//!
//! The key is bound to its URL: the environment wins over the file for both
//! (`DAYDREAM_API_KEY`, `DAYDREAM_API_URL`), a stored URL is used only with a stored key, and
//! `PUT` refuses a new URL unless the same request gives the key for it. The key is sent only
//! to the hosts [`HostPolicy`] allows.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::config::{Backend, Config, Secret};
use crate::daydream::{DaydreamClient, RetryPolicy, normalise_base};
use crate::error::{ApiError, ApiJson, ApiResult};
use crate::upstream::{DAYDREAM_API_HOSTS, HostPolicy, PublicDns};

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

/// Why the backend in use is the one it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendSource {
    /// `RTC_BACKEND` at start; runtime switches are refused.
    Env,
    /// Chosen with `PUT /v1/credentials` (`backend`).
    Setting,
    /// Follows the key: Daydream with one, local without.
    Key,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StoredCredentials {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    api_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    api_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    backend: Option<Backend>,
}

#[derive(Debug)]
struct Current {
    key: Option<Secret>,
    source: KeySource,
    api_url: String,
    chosen_backend: Option<Backend>,
}

impl Current {
    fn backend(&self, fixed: Option<Backend>) -> (Backend, BackendSource) {
        match (fixed, self.chosen_backend) {
            (Some(backend), _) => (backend, BackendSource::Env),
            (None, Some(backend)) => (backend, BackendSource::Setting),
            (None, None) if self.key.is_some() => (Backend::Daydream, BackendSource::Key),
            (None, None) => (Backend::Local, BackendSource::Key),
        }
    }
}

/// Credentials and the client built from them.
#[derive(Debug)]
pub struct Credentials {
    path: PathBuf,
    fixed_backend: Option<Backend>,
    local_base: String,
    local_key: Secret,
    key_from_env: bool,
    url_from_env: bool,
    hosts: HostPolicy,
    dns_overrides: Vec<(String, std::net::SocketAddr)>,
    /// The one HTTP client (and connection pool) of every client of the local backend.
    local_http: reqwest::Client,
    /// The one HTTP client (and connection pool) of every client of another API base.
    remote_http: reqwest::Client,
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
    /// Backend new streams use; streams already running keep the one they started on.
    pub backend: &'static str,
    /// Why that backend: `env` (fixed by `RTC_BACKEND`), `setting` or `key`.
    pub backend_source: BackendSource,
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
    /// Backend for streams created from now on; `null` makes it follow the key again.
    #[serde(default, deserialize_with = "present")]
    pub backend: Option<Option<Backend>>,
}

/// Distinguishes `"field": null` (reset) from a missing field (keep).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

impl Credentials {
    /// Loads `<state_dir>/credentials.json`; the environment wins over the file.
    /// `local_key` is the one key the local backend accepts.
    pub fn load(config: &Config, local_base: String, local_key: Secret) -> anyhow::Result<Self> {
        let path = config.state_dir().join("credentials.json");
        let stored: StoredCredentials = crate::state_files::read_json(&path)?.unwrap_or_default();
        let (key, source) = match (&config.api_key, stored.api_key) {
            (Some(env), _) => (Some(env.clone()), KeySource::Env),
            (None, Some(file)) if !file.is_empty() => (Some(Secret::new(file)), KeySource::File),
            _ => (None, KeySource::None),
        };
        // A URL given at start (and its host) is the operator's choice; otherwise only
        // Daydream's hosts and those in DAYDREAM_ALLOW_API_HOST may receive the key.
        let configured_url = config.api_url.as_deref().map(normalise_base).transpose();
        let configured_url =
            configured_url.map_err(|e| anyhow::anyhow!("DAYDREAM_API_URL: {e}"))?;
        let hosts = HostPolicy::new(
            config
                .allow_api_hosts
                .iter()
                .cloned()
                .chain(configured_url.iter().filter_map(authority)),
        );
        let hosts = match url::Url::parse(&local_base)
            .ok()
            .as_ref()
            .and_then(authority)
        {
            Some(own) => hosts.with_own(own),
            None => hosts,
        };
        let stored_url = stored
            .api_url
            .filter(|_| source == KeySource::File)
            .and_then(|url| match checked_url(&hosts, &url) {
                Ok(url) => Some(url),
                Err(e) => {
                    tracing::warn!(error = %crate::telemetry::escaped(&e), "ignoring the stored API URL");
                    None
                }
            });
        let api_url = match (&configured_url, stored_url) {
            (Some(url), _) => trimmed(url),
            (None, Some(url)) => url,
            (None, None) => format!("https://{}", DAYDREAM_API_HOSTS[0]),
        };
        // A stored Daydream choice whose key has gone (environment changed) follows the key.
        let chosen_backend = stored
            .backend
            .filter(|b| *b == Backend::Local || key.is_some());
        // Every stream's client, its status polls and its signalling share these, so open
        // connections are reused across streams rather than kept per stream.
        let timeout = Duration::from_millis(config.upstream_timeout_ms);
        let local_http = DaydreamClient::http_client(timeout, None).map_err(anyhow::Error::msg)?;
        let remote_http = DaydreamClient::http_client(
            timeout,
            Some(PublicDns::new(hosts.clone(), config.dns_overrides.clone())),
        )
        .map_err(anyhow::Error::msg)?;
        Ok(Self {
            path,
            fixed_backend: config.backend,
            local_base,
            local_key,
            key_from_env: config.api_key.is_some(),
            url_from_env: configured_url.is_some(),
            hosts,
            dns_overrides: config.dns_overrides.clone(),
            local_http,
            remote_http,
            timeout,
            retry: RetryPolicy {
                attempts: config.upstream_attempts,
                base: Duration::from_millis(config.retry_base_ms),
                cap: Duration::from_millis(config.retry_cap_ms),
            },
            current: RwLock::new(Current {
                key,
                source,
                api_url,
                chosen_backend,
            }),
        })
    }

    /// The hosts that may receive the key and serve media.
    pub fn hosts(&self) -> &HostPolicy {
        &self.hosts
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Current> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The resolver of a client of `base`: none for the local backend (its URLs are the
    /// relay's own), else one that refuses non-public answers.
    pub fn dns_for(&self, base: &str) -> Option<PublicDns> {
        (base != self.local_base)
            .then(|| PublicDns::new(self.hosts.clone(), self.dns_overrides.clone()))
    }

    /// The base URL of this relay's local backend.
    pub fn local_base(&self) -> &str {
        &self.local_base
    }

    /// The Daydream API URL in effect.
    pub fn api_url(&self) -> String {
        self.read().api_url.clone()
    }

    /// Timeout and retries of calls to Daydream.
    pub fn call_settings(&self) -> (Duration, RetryPolicy) {
        (self.timeout, self.retry)
    }

    /// Backend new streams use.
    pub fn backend(&self) -> Backend {
        self.read().backend(self.fixed_backend).0
    }

    /// The backend for a new stream and a client of it.
    pub fn client(&self) -> ApiResult<(Backend, Arc<DaydreamClient>)> {
        let current = self.read();
        let backend = current.backend(self.fixed_backend).0;
        let (base, key) = match backend {
            Backend::Local => (self.local_base.as_str(), self.local_key.clone()),
            Backend::Daydream => {
                let key = current.key.clone().ok_or_else(|| {
                    ApiError::conflict(
                        "no_api_key",
                        "no Daydream API key is set; PUT /v1/credentials or set DAYDREAM_API_KEY",
                    )
                })?;
                // The stand-in takes only its own key; the user's key never goes there.
                let key = if current.api_url == self.local_base {
                    self.local_key.clone()
                } else {
                    key
                };
                (current.api_url.as_str(), key)
            }
        };
        let http = if base == self.local_base {
            self.local_http.clone()
        } else {
            self.remote_http.clone()
        };
        DaydreamClient::with_http(base, key, self.timeout, self.retry, http)
            .map(|client| (backend, Arc::new(client)))
            .map_err(|e| ApiError::Unprocessable {
                code: "invalid_api_url",
                message: e,
            })
    }

    /// What `GET /v1/credentials` shows.
    pub fn view(&self) -> CredentialsView {
        let current = self.read();
        let (backend, backend_source) = current.backend(self.fixed_backend);
        CredentialsView {
            has_api_key: current.key.is_some(),
            source: current.source,
            api_url: current.api_url.clone(),
            backend: backend.as_str(),
            backend_source,
        }
    }

    /// Checks a backend choice against `RTC_BACKEND` and the key it would run with.
    fn check_backend_choice(
        &self,
        choice: Option<Backend>,
        key_after: Option<&Secret>,
    ) -> ApiResult<()> {
        if let (Some(fixed), Some(wanted)) = (self.fixed_backend, choice)
            && fixed != wanted
        {
            return Err(ApiError::conflict(
                "backend_fixed",
                format!(
                    "the relay was started with RTC_BACKEND={}; restart it without RTC_BACKEND \
                     to choose the backend here",
                    fixed.as_str()
                ),
            ));
        }
        if choice == Some(Backend::Daydream) && key_after.is_none() {
            return Err(ApiError::conflict(
                "no_api_key",
                "the Daydream backend needs an API key; save a key first (or set \
                 DAYDREAM_API_KEY), or keep the local backend",
            ));
        }
        Ok(())
    }

    /// Applies and persists an update.
    pub fn update(&self, update: CredentialsUpdate) -> ApiResult<CredentialsView> {
        let api_url = update
            .api_url
            .map(|url| {
                if url.trim().trim_end_matches('/') == self.local_base {
                    return Ok(self.local_base.clone());
                }
                checked_url(&self.hosts, &url).map_err(|message| ApiError::Unprocessable {
                    code: "invalid_api_url",
                    message,
                })
            })
            .transpose()?;
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
        if key.is_some() && self.key_from_env {
            return Err(ApiError::conflict(
                "api_key_from_env",
                "DAYDREAM_API_KEY is set, and the environment wins; unset it and restart the \
                 relay to store a key here",
            ));
        }
        {
            let mut current = self
                .current
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let api_url = api_url.filter(|url| *url != current.api_url);
            if api_url.is_some() && self.url_from_env {
                return Err(ApiError::conflict(
                    "api_url_from_env",
                    "DAYDREAM_API_URL is set, and the environment wins; unset it and restart \
                     the relay to store a URL here",
                ));
            }
            // The key is bound to its URL: a new URL must come with the key meant for it,
            // else the stored (or environment) key would be sent to the new host.
            if api_url.is_some() && !matches!(key, Some(Some(_))) && current.key.is_some() {
                return Err(ApiError::conflict(
                    "api_key_required",
                    "changing the API URL needs the API key for it in the same request \
                     ({\"api_url\": …, \"api_key\": …})",
                ));
            }
            let key_after = match &key {
                Some(new) => new.as_ref(),
                None => current.key.as_ref(),
            };
            let chosen_after = match update.backend {
                Some(choice) => {
                    self.check_backend_choice(choice, key_after)?;
                    choice
                }
                // Removing the key while Daydream is chosen: Daydream cannot run without
                // one, so the choice goes back to following the key (the local backend).
                None if key_after.is_none() => {
                    current.chosen_backend.filter(|b| *b == Backend::Local)
                }
                None => current.chosen_backend,
            };
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
            stored.backend = chosen_after;
            current.chosen_backend = chosen_after;
            crate::state_files::write_json(&self.path, &stored)
                .map_err(|e| ApiError::Internal(format!("saving credentials: {e}")))?;
        }
        Ok(self.view())
    }
}

/// `host[:port]` of a URL, as an allowed-host entry.
fn authority(url: &url::Url) -> Option<String> {
    let host = url.host_str()?;
    Some(
        url.port()
            .map_or_else(|| host.to_owned(), |p| format!("{host}:{p}")),
    )
}

fn trimmed(url: &url::Url) -> String {
    url.as_str().trim_end_matches('/').to_owned()
}

/// Parses an API URL and checks that the key may go there.
fn checked_url(hosts: &HostPolicy, raw: &str) -> Result<String, String> {
    let url = normalise_base(raw)?;
    hosts.check_api_url(&url)?;
    Ok(trimmed(&url))
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
    let before = state.credentials.backend();
    let writer = state.clone();
    let view = crate::blocking(move || writer.credentials.update(update)).await??;
    tracing::info!(
        backend = view.backend,
        has_api_key = view.has_api_key,
        "credentials updated"
    );
    if view.backend != before.as_str() {
        let keeping = state
            .streams
            .list()
            .iter()
            .filter(|s| s.backend.as_str() != view.backend)
            .count();
        state.events.log(
            "info",
            format!(
                "backend for new streams: {}; {keeping} running stream(s) keep the backend they \
                 started on",
                view.backend
            ),
        );
    }
    Ok(Json(view))
}
