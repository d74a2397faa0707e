//! Typed configuration: every setting is a flag and an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// Where Daydream calls go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
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

    /// Backend: `local` or `daydream`. Defaults to `daydream` when an API key is configured.
    #[arg(long, env = "RTC_BACKEND", value_enum)]
    pub backend: Option<Backend>,

    /// Daydream API key. Read from the environment only, never from argv.
    #[arg(skip = std::env::var("DAYDREAM_API_KEY").ok().filter(|k| !k.is_empty()))]
    pub api_key: Option<String>,

    /// Daydream API base URL.
    #[arg(
        long,
        env = "DAYDREAM_API_URL",
        default_value = "https://api.daydream.live"
    )]
    pub api_url: String,

    /// Folder for the token, credentials and runtime config files.
    #[arg(long, env = "RTC_RELAY_STATE_DIR")]
    pub state_dir: Option<PathBuf>,

    /// Folder with the web pages (`www/`) served at `/`.
    #[arg(long, env = "RTC_RELAY_WWW_DIR")]
    pub www_dir: Option<PathBuf>,

    /// Folder with the built wasm package served at `/pkg/`.
    #[arg(long, env = "RTC_RELAY_PKG_DIR")]
    pub pkg_dir: Option<PathBuf>,

    /// Log filter (tracing EnvFilter syntax).
    #[arg(long, env = "RTC_LOG", default_value = "info")]
    pub log: String,
}

impl Config {
    /// The backend in effect: explicit choice, else `daydream` when a key is set, else `local`.
    pub fn backend(&self) -> Backend {
        self.backend.unwrap_or(if self.api_key.is_some() {
            Backend::Daydream
        } else {
            Backend::Local
        })
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

/// Reads `.env` from the working directory, if there is one; real environment variables win.
pub fn load_dotenv() {
    let _ = dotenvy::dotenv();
}
