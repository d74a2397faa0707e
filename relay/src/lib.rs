//! `rtc-relay`: the hub between ComfyUI's Python nodes, the browser agent and Daydream.
//!
//! `main.rs` only parses [`config::Config`] and calls [`run`]; everything else lives here so
//! tests can build the same [`app`] in memory or serve it on port 0.

pub mod config;
pub mod health;
pub mod local;
pub mod static_files;
pub mod telemetry;

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;

use crate::config::Config;

/// Shared state handed to every route.
#[derive(Debug)]
pub struct AppState {
    /// The configuration the relay was started with.
    pub config: Config,
}

/// Builds the relay's HTTP application.
pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .merge(health::router())
        .merge(static_files::router(&state))
        .with_state(state)
}

/// Binds the configured address and serves until Ctrl-C or SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    config.check_bind()?;
    let listener = TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    serve(listener, config).await
}

/// Serves on an already bound listener (tests bind port 0).
pub async fn serve(listener: TcpListener, config: Config) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    let backend = config.backend();
    let state = Arc::new(AppState { config });
    // Tests and the supervisor parse `listening on http://ADDR` from this line.
    tracing::info!(backend = backend.as_str(), "listening on http://{addr}");
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!("rtc-relay stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut sig) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            sig.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
