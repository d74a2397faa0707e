//! Typed configuration: every setting is a flag and an environment variable.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// Where Daydream calls go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The embedded stand-in under `/local` (no account, no network).
    Local,
    /// The Daydream cloud API.
    Daydream,
}

impl Backend {
    /// Name used in logs and `/healthz`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Daydream => "daydream",
        }
    }
}

/// A secret string (API key, token) whose `Debug` output is redacted so it cannot reach logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// A non-empty environment variable.
    pub fn from_env(name: &str) -> Option<Self> {
        std::env::var(name)
            .ok()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .map(Self)
    }

    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// An address announced as a media candidate: an IP, with the bound port unless one is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnouncedAddr {
    /// The address browsers send to.
    pub ip: IpAddr,
    /// The port browsers send to, when a mapping makes it differ from the bound one.
    pub port: Option<u16>,
}

impl FromStr for AnnouncedAddr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let (ip, port) = match text.parse::<SocketAddr>() {
            Ok(addr) => (addr.ip(), Some(addr.port())),
            Err(_) => (
                text.trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .map_err(|_| format!("{text}: expected an IP address or IP:port"))?,
                None,
            ),
        };
        if ip.is_unspecified() {
            return Err(format!(
                "{text}: the unspecified address cannot be announced; name the address browsers reach"
            ));
        }
        if port == Some(0) {
            return Err(format!("{text}: port 0 cannot be announced"));
        }
        Ok(Self { ip, port })
    }
}

/// Daydream's reloading frame shows for about two seconds after a pipeline reload.
const DEFAULT_RELOAD_TIME: Duration = Duration::from_secs(2);

/// Where the local backend's media socket binds, what it announces, and how its pipeline reloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSettings {
    /// Address the UDP socket binds to.
    pub bind: IpAddr,
    /// UDP port, 0 for any free one.
    pub port: u16,
    /// Candidates announced instead of the bound interfaces (none: the bound interfaces).
    pub announce: Vec<AnnouncedAddr>,
    /// How long a reload of a stream's pipeline shows the reloading frame.
    pub reload_time: Duration,
}

impl MediaSettings {
    /// Media on `bind`, any port, announcing the bound interfaces.
    pub fn on(bind: IpAddr) -> Self {
        Self {
            bind,
            port: 0,
            announce: Vec::new(),
            reload_time: DEFAULT_RELOAD_TIME,
        }
    }
}

/// Command-line and environment configuration of `rtc-relay`.
#[derive(Debug, Clone, Parser)]
#[command(name = "rtc-relay", version, about)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "RTC_RELAY_ADDR", default_value = "127.0.0.1:8895")]
    pub addr: SocketAddr,

    /// Allow listening on a non-loopback address (exposes the relay to the network).
    #[arg(long, env = "RTC_RELAY_ALLOW_REMOTE", default_value_t = false)]
    pub allow_remote: bool,

    /// Shut down when standard input reaches end of file: a supervisor that keeps the pipe's
    /// other end takes the relay down with it however it exits, even killed.
    #[arg(long, env = "RTC_RELAY_EXIT_WITH_PARENT", default_value_t = false)]
    pub exit_with_parent: bool,

    /// Backend: `local` or `daydream`. Defaults to `daydream` when an API key is configured.
    #[arg(long, env = "RTC_BACKEND", value_enum)]
    pub backend: Option<Backend>,

    /// Daydream API key. Read from the environment only, never from argv.
    #[arg(skip = Secret::from_env("DAYDREAM_API_KEY"))]
    pub api_key: Option<Secret>,

    /// Relay token. Read from the environment only (`RTC_RELAY_TOKEN`), never from argv;
    /// generated and stored in `<state_dir>/token` when unset.
    #[arg(skip = Secret::from_env("RTC_RELAY_TOKEN"))]
    pub token: Option<Secret>,

    /// Key the local backend's REST accepts. Never configured in production: the relay
    /// generates one at start and gives it only to its own client; tests set it to call the
    /// stand-in directly.
    #[arg(skip)]
    pub local_key: Option<Secret>,

    /// Fixed DNS answers (`name`, address) for calls on the Daydream backend, filtered like
    /// real ones. Never configured in production; tests use it to make a name resolve to
    /// this machine.
    #[arg(skip)]
    pub dns_overrides: Vec<(String, SocketAddr)>,

    /// Extra host names accepted in the `Host` header (loopback names are always accepted).
    #[arg(
        long = "allowed-host",
        env = "RTC_RELAY_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,

    /// Largest raw frame accepted by `POST /v1/streams/{id}/frames`, in bytes.
    #[arg(long, env = "RTC_RELAY_MAX_FRAME_BYTES", default_value_t = 64 << 20)]
    pub max_frame_bytes: usize,

    /// Address the local backend's media (UDP) socket binds to; default: the address of
    /// `--addr`. `0.0.0.0` lets browsers on other machines reach it while HTTP stays on
    /// loopback; it then announces every interface address unless `--local-media-announce`
    /// says otherwise.
    #[arg(long, env = "RTC_LOCAL_MEDIA_BIND")]
    pub local_media_bind: Option<IpAddr>,

    /// Addresses (`ip` or `ip:port`, comma-separated) the local backend announces as its
    /// media candidates instead of the bound interfaces: the address a browser reaches
    /// through NAT, a container's published port or a port mapping.
    #[arg(
        long = "local-media-announce",
        env = "RTC_LOCAL_MEDIA_ANNOUNCE",
        value_delimiter = ','
    )]
    pub local_media_announce: Vec<AnnouncedAddr>,

    /// Fixed UDP port of the local backend's media socket, so a firewall rule can name it;
    /// 0 picks a free one.
    #[arg(long, env = "RTC_LOCAL_MEDIA_PORT", default_value_t = 0)]
    pub local_media_port: u16,

    /// Faults the local backend injects, e.g. `create:500x2,status:stall3000x1` (tests).
    #[arg(long, env = "RTC_LOCAL_FAULTS")]
    pub local_faults: Option<String>,

    /// How long the local backend shows its reloading frame after a param change that
    /// reloads the pipeline (model, size, ControlNet list, IP-Adapter, processors), in ms.
    #[arg(long, env = "RTC_LOCAL_RELOAD_MS", default_value_t = DEFAULT_RELOAD_TIME.as_millis() as u64)]
    pub local_reload_ms: u64,

    /// Timeout of one request to Daydream, in milliseconds.
    #[arg(long, env = "RTC_UPSTREAM_TIMEOUT_MS", default_value_t = 15_000)]
    pub upstream_timeout_ms: u64,

    /// Attempts per Daydream call while it answers 404/409/429/5xx (warm-up).
    #[arg(long, env = "RTC_UPSTREAM_ATTEMPTS", default_value_t = 8)]
    pub upstream_attempts: u32,

    /// First retry delay in milliseconds; doubles per attempt up to `--retry-cap-ms`.
    #[arg(long, env = "RTC_RETRY_BASE_MS", default_value_t = 250)]
    pub retry_base_ms: u64,

    /// Longest retry delay in milliseconds.
    #[arg(long, env = "RTC_RETRY_CAP_MS", default_value_t = 4_000)]
    pub retry_cap_ms: u64,

    /// How often each stream's remote status is polled, in milliseconds.
    #[arg(long, env = "RTC_STATUS_INTERVAL_MS", default_value_t = 2_000)]
    pub status_interval_ms: u64,

    /// How long shutdown may spend deleting remote streams, in milliseconds.
    #[arg(long, env = "RTC_SHUTDOWN_GRACE_MS", default_value_t = 3_000)]
    pub shutdown_grace_ms: u64,

    /// Daydream API base URL (default `https://api.daydream.live`). When given, it wins over
    /// a URL stored with `PUT /v1/credentials`, and its host may receive the key.
    #[arg(long, env = "DAYDREAM_API_URL")]
    pub api_url: Option<String>,

    /// Hosts (`host` or `host:port`) besides Daydream's that may receive the API key and
    /// serve media, e.g. a staging deployment.
    #[arg(
        long = "allow-api-host",
        env = "DAYDREAM_ALLOW_API_HOST",
        value_delimiter = ','
    )]
    pub allow_api_hosts: Vec<String>,

    /// Daydream's desktop sign-in page; `?port=&state=` is appended. A relay whose API URL is
    /// its own local backend uses the local backend's page instead.
    #[arg(
        long,
        env = "DAYDREAM_SIGN_IN_URL",
        default_value = "https://app.daydream.live/sign-in/local"
    )]
    pub sign_in_url: String,

    /// How long a "Sign in with Daydream" waits for the browser, in milliseconds.
    #[arg(long, env = "RTC_SIGN_IN_TIMEOUT_MS", default_value_t = 300_000)]
    pub sign_in_timeout_ms: u64,

    /// Folder for the token, credentials and runtime config files.
    #[arg(long, env = "RTC_RELAY_STATE_DIR")]
    pub state_dir: Option<PathBuf>,

    /// Folder with the web pages (`www/`) served at `/`; none are served without it.
    #[arg(long, env = "RTC_RELAY_WWW_DIR")]
    pub www_dir: Option<PathBuf>,

    /// Folder with the built wasm package served at `/pkg/` (default: `<www-dir>/pkg`).
    #[arg(long, env = "RTC_RELAY_PKG_DIR")]
    pub pkg_dir: Option<PathBuf>,

    /// Log filter (tracing EnvFilter syntax).
    #[arg(long, env = "RTC_LOG", default_value = "info")]
    pub log: String,
}

impl Config {
    /// The backend in effect at start-up: explicit choice, else `daydream` when a key is set,
    /// else `local`. Keys set later through `PUT /v1/credentials` are handled by
    /// [`crate::credentials`].
    pub fn backend(&self) -> Backend {
        self.backend.unwrap_or(if self.api_key.is_some() {
            Backend::Daydream
        } else {
            Backend::Local
        })
    }

    /// The state folder in effect.
    pub fn state_dir(&self) -> std::path::PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(crate::state_files::default_state_dir)
    }

    /// The local backend's media settings for a relay whose HTTP listener is on `http`:
    /// media follows it unless told otherwise.
    pub fn media(&self, http: IpAddr) -> MediaSettings {
        MediaSettings {
            bind: self.local_media_bind.unwrap_or(http),
            port: self.local_media_port,
            announce: self.local_media_announce.clone(),
            reload_time: Duration::from_millis(self.local_reload_ms),
        }
    }

    /// Refuses a non-loopback bind unless explicitly allowed.
    pub fn check_bind(&self) -> anyhow::Result<()> {
        if !self.addr.ip().is_loopback() && !self.allow_remote {
            anyhow::bail!(
                "refusing to listen on {} (not loopback); pass --allow-remote to expose the relay",
                self.addr
            );
        }
        Ok(())
    }
}

/// Names the one `.env`-style file the relay reads settings from.
pub const ENV_FILE_VARIABLE: &str = "RTC_ENV_FILE";

/// Reads the file named by `RTC_ENV_FILE`, if set; real environment variables win. No other
/// file is read: a `.env` in the working folder or its parents (ComfyUI's, or whatever folder
/// the relay was started from) belongs to someone else and must not choose where the key goes.
/// The pack reads its own `.env` and passes the key in the environment.
pub fn load_dotenv() -> anyhow::Result<()> {
    let Some(path) = std::env::var_os(ENV_FILE_VARIABLE).filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    let path = PathBuf::from(path);
    dotenvy::from_path(&path).map_err(|e| {
        anyhow::anyhow!(
            "cannot read {} (named by {ENV_FILE_VARIABLE}): {e}; fix the file or unset {ENV_FILE_VARIABLE}",
            path.display()
        )
    })
}
