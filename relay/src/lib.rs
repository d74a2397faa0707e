//! `rtc-relay`: the hub between ComfyUI's Python nodes, the browser agent and Daydream.
//!
//! `main.rs` only parses [`config::Config`] and calls [`run`]; everything else lives here so
//! tests can build the same [`app`] in memory or serve it on port 0.

pub mod agent;
pub mod auth;
pub mod catalog;
pub mod config;
pub mod credentials;
pub mod daydream;
pub mod error;
pub mod events;
pub mod health;
pub mod html;
pub mod hub;
pub mod leases;
pub mod legacy;
pub mod link;
pub mod local;
pub mod media_advice;
pub mod pixels;
pub mod registry;
pub mod remote_ledger;
pub mod runtime_config;
pub mod server;
pub mod signalling;
pub mod signin;
pub mod state_files;
pub mod static_files;
pub mod streams;
pub mod telemetry;
pub mod upstream;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::routing::any;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;

use crate::config::{Backend, Config};

/// Largest JSON body accepted by ordinary routes.
const MAX_JSON_BYTES: usize = 1 << 20;
/// Deadline of ordinary requests (long polls stay below it).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Least time open connections get to finish their answers once shutdown is done, even when
/// deleting the streams used up the grace period.
const MIN_DRAIN: Duration = Duration::from_millis(250);

/// Shared state handed to every route.
#[derive(Debug)]
pub struct AppState {
    /// The configuration the relay was started with.
    pub config: Config,
    /// The address the relay listens on.
    pub addr: SocketAddr,
    /// Token, Host and Origin checks.
    pub guard: auth::Guard,
    /// The local backend's media server.
    pub media: local::media::MediaServer,
    /// The local backend's REST state.
    pub local: local::rest::LocalBackend,
    /// API key and URL, and the client built from them.
    pub credentials: credentials::Credentials,
    /// "Sign in with Daydream".
    pub sign_in: signin::SignIn,
    /// Frame settings for new streams.
    pub runtime: runtime_config::RuntimeConfig,
    /// The streams.
    pub streams: registry::Registry,
    /// Who publishes which stream, and the WHIP/WHEP sessions; a leaf lock (nothing else is
    /// locked while it is held, except what `agent::lease_input` touches).
    pub leases: std::sync::Mutex<leases::Leases>,
    /// Connected browser agents.
    pub agents: agent::Connections,
    /// The SSE bus.
    pub events: events::Events,
    /// The stream the legacy `/start` made.
    pub legacy: legacy::Started,
    /// Remote streams not yet deleted, persisted for clean-up after a crash.
    pub ledger: remote_ledger::Ledger,
    /// Set first thing on shutdown: no stream is created from then on.
    stopping: AtomicBool,
    /// Stream creates in flight; shutdown waits for them before deleting.
    creates: watch::Sender<usize>,
    /// Turns `true` once the streams are deleted at shutdown; sockets, event streams and long
    /// polls end then.
    pub shutdown: watch::Sender<bool>,
}

/// A stream create in flight, counted until dropped.
#[derive(Debug)]
pub struct CreateInFlight(Arc<AppState>);

impl Drop for CreateInFlight {
    fn drop(&mut self) {
        self.0.creates.send_modify(|n| *n -= 1);
    }
}

impl AppState {
    /// Builds the state for a relay bound to `addr`.
    pub async fn new(config: Config, addr: SocketAddr) -> anyhow::Result<Arc<Self>> {
        let state_dir = config.state_dir();
        let token = auth::load_or_create_token(config.token.as_ref(), &state_dir)
            .with_context(|| format!("cannot store the token in {}", state_dir.display()))?;
        let faults = match &config.local_faults {
            Some(spec) => local::faults::Faults::parse(spec).map_err(anyhow::Error::msg)?,
            None => Vec::new(),
        };
        // Media follows the HTTP bind (loopback) unless configured to reach further.
        let media_settings = config.media(addr.ip());
        let media = local::media::MediaServer::start(&media_settings)
            .await
            .with_context(|| {
                format!(
                    "cannot start the local media server on UDP {}:{} (RTC_LOCAL_MEDIA_BIND, RTC_LOCAL_MEDIA_PORT)",
                    media_settings.bind, media_settings.port
                )
            })?;
        let local_base = format!("http://{addr}/local");
        let local_key = config
            .local_key
            .clone()
            .unwrap_or_else(|| config::Secret::new(auth::random_token()));
        let credentials =
            credentials::Credentials::load(&config, local_base.clone(), local_key.clone())?;
        Ok(Arc::new(Self {
            guard: auth::Guard::new(token, addr, &config.allowed_hosts),
            local: local::rest::LocalBackend::new(media.clone(), local_base, local_key, faults),
            media,
            credentials,
            sign_in: signin::SignIn::new(Duration::from_millis(config.sign_in_timeout_ms)),
            runtime: runtime_config::RuntimeConfig::load(&state_dir),
            streams: registry::Registry::default(),
            leases: std::sync::Mutex::default(),
            agents: agent::Connections::default(),
            events: events::Events::default(),
            legacy: legacy::Started::default(),
            ledger: remote_ledger::Ledger::load(&state_dir),
            stopping: AtomicBool::new(false),
            creates: watch::Sender::new(0),
            shutdown: watch::Sender::new(false),
            config,
            addr,
        }))
    }

    /// The agent holding `stream`'s publish lease.
    pub fn holder(&self, stream: &str) -> Option<String> {
        lock(&self.leases).holder(stream).map(str::to_owned)
    }

    /// Whether shutdown has started.
    pub fn is_shutting_down(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Counts a stream create, unless shutdown has started. Counted before the check, so
    /// shutdown either refuses a create or waits for it.
    pub fn begin_create(self: &Arc<Self>) -> Option<CreateInFlight> {
        self.creates.send_modify(|n| *n += 1);
        let create = CreateInFlight(self.clone());
        (!self.is_shutting_down()).then_some(create)
    }

    /// Refuses new streams, lets creates in flight finish (each deletes its stream if it
    /// lands now), deletes every stream, then ends agent sockets, event streams and long
    /// polls; all within the configured grace period. Returns the deadline open connections
    /// have for finishing.
    pub async fn shutdown(self: &Arc<Self>) -> Instant {
        self.stopping.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_millis(self.config.shutdown_grace_ms);
        tracing::info!("shutting down: deleting streams");
        let deleted = tokio::time::timeout_at(deadline, async {
            let first = self.streams.list();
            let mut deletes: Vec<_> = first.iter().map(|e| self.spawn_delete(e)).collect();
            // A create that passed its check just before the flag was set may still register.
            let mut creates = self.creates.subscribe();
            let _ = creates.wait_for(|n| *n == 0).await;
            deletes.extend(
                self.streams
                    .list()
                    .iter()
                    .filter(|e| !first.iter().any(|f| f.id == e.id))
                    .map(|e| self.spawn_delete(e)),
            );
            for delete in deletes {
                let _ = delete.await;
            }
        })
        .await;
        if deleted.is_err() {
            tracing::warn!("some remote streams were not deleted before the deadline");
        }
        self.shutdown.send_replace(true);
        deadline.max(Instant::now() + MIN_DRAIN)
    }

    fn spawn_delete(self: &Arc<Self>, entry: &Arc<registry::StreamEntry>) -> JoinHandle<()> {
        let (state, entry) = (self.clone(), entry.clone());
        tokio::spawn(async move {
            streams::delete(&state, &entry).await;
        })
    }
}

/// Builds the relay's HTTP application.
pub fn app(state: Arc<AppState>) -> Router {
    let bounded = Router::new()
        .merge(catalog::router())
        .merge(runtime_config::router())
        .merge(credentials::router())
        .merge(signin::router())
        .merge(streams::router())
        .merge(signalling::router())
        .merge(legacy::router())
        .nest("/local", local::router(&state))
        .route("/v1/{*rest}", any(error::not_found))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ));
    // Sockets and event streams live as long as the client wants, until shutdown; none of
    // them reads a request body, so every body is read within the request timeout.
    let long_lived = Router::new().merge(agent::router()).merge(events::router());
    Router::new()
        .merge(health::router())
        .merge(bounded)
        .merge(long_lived)
        .merge(static_files::router(&state))
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard,
        ))
        .layer(axum::middleware::from_fn(error::json_errors))
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
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

/// Serves on an already bound listener until Ctrl-C or SIGTERM.
pub async fn serve(listener: TcpListener, config: Config) -> anyhow::Result<()> {
    let exit_with_parent = config.exit_with_parent;
    serve_until(listener, config, shutdown_signal(exit_with_parent)).await
}

/// Serves on an already bound listener (tests bind port 0) until `stop` completes, then
/// shuts down gracefully.
pub async fn serve_until(
    listener: TcpListener,
    config: Config,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    let token_from_env = config.token.is_some();
    let state = AppState::new(config, addr).await?;
    let ticker = tokio::spawn(events::stats_ticker(state.clone()));
    let demand = tokio::spawn(agent::watch_output_demand(state.clone()));
    // Tests and the supervisor parse `listening on http://ADDR` from this line.
    tracing::info!(
        backend = state.credentials.backend().as_str(),
        "listening on http://{addr}"
    );
    if !token_from_env {
        tracing::info!(
            "open http://{addr}/?token={} once in a browser to use the pages",
            state.guard.token().expose()
        );
    }
    if let Ok((Backend::Daydream, client)) = state.credentials.client() {
        tokio::spawn({
            let state = state.clone();
            async move { state.ledger.clean_up(client).await }
        });
    }
    let on_stop = state.clone();
    server::serve(listener, app(state), async move {
        stop.await;
        on_stop.shutdown().await
    })
    .await?;
    ticker.abort();
    demand.abort();
    tracing::info!("rtc-relay stopped");
    Ok(())
}

/// Resolves when standard input is closed (or fails): the parent holding it has gone.
async fn parent_gone() {
    let (closed, on_closed) = tokio::sync::oneshot::channel::<()>();
    // A plain thread, not tokio's stdin: a blocking read in tokio's pool would hold up the
    // runtime's shutdown after a SIGTERM until the parent closed the pipe.
    let watcher = std::thread::Builder::new()
        .name("parent-watch".into())
        .spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut buffer = [0_u8; 256];
            while matches!(std::io::Read::read(&mut stdin, &mut buffer), Ok(n) if n > 0) {}
            let _ = closed.send(());
        });
    if let Err(e) = watcher {
        tracing::warn!(error = %e, "cannot watch standard input; the relay outlives its parent");
        std::future::pending::<()>().await;
    }
    let _ = on_closed.await;
    tracing::info!("standard input closed: the parent process has exited");
}

async fn shutdown_signal(exit_with_parent: bool) {
    let parent = async {
        if exit_with_parent {
            parent_gone().await;
        } else {
            std::future::pending::<()>().await;
        }
    };
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
        () = parent => {},
    }
}

/// Locks a mutex, ignoring poisoning (no lock is held across a panic-prone section).
/// Runs blocking work (file writes with fsync, PNG decoding, pixel conversion) on tokio's
/// blocking pool, so it never holds up an async worker that is serving sockets and pings.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> error::ApiResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| error::ApiError::Internal(format!("blocking task failed: {e}")))
}

pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Microseconds since the Unix epoch.
pub(crate) fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// The current time in RFC 3339.
pub(crate) fn rfc3339_now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
