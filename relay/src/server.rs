//! The HTTP/1.1 server loop. Unlike `axum::serve`, every connection has deadlines, and
//! shutdown waits for open connections only until a deadline, so no client can hold the
//! relay up:
//!
//! - a request head must arrive within [`HEADER_READ_TIMEOUT`]; hyper starts that clock
//!   whenever it waits for a head, so it also closes idle keep-alive connections;
//! - bodies are read within the request timeout (see `app`);
//! - on shutdown, idle connections close at once and busy ones get until the deadline.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::Instant;

/// How long a client may take to send a request head, or stay idle between requests.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (out of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves `app` until `stop` completes with a deadline, then lets open connections finish
/// until that deadline and drops what is left.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    stop: impl Future<Output = Instant>,
) -> std::io::Result<()> {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    // `draining` tells connections to finish; every connection holds a `closed` receiver,
    // so `closed_tx.closed()` resolves once the last one has ended.
    let (draining_tx, draining) = watch::channel(());
    let (closed_tx, closed) = watch::channel(());
    tokio::pin!(stop);
    let deadline = loop {
        tokio::select! {
            deadline = &mut stop => break deadline,
            accepted = listener.accept() => {
                let io = match accepted {
                    Ok((io, _peer)) => io,
                    Err(e) => {
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                };
                let connection = http
                    .serve_connection(TokioIo::new(io), TowerToHyperService::new(app.clone()))
                    .with_upgrades();
                let mut draining = draining.clone();
                let closed = closed.clone();
                tokio::spawn(async move {
                    tokio::pin!(connection);
                    let result = tokio::select! {
                        result = connection.as_mut() => result,
                        _ = draining.changed() => {
                            connection.as_mut().graceful_shutdown();
                            connection.await
                        }
                    };
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    drop(closed);
                });
            }
        }
    };
    drop(listener);
    draining_tx.send_replace(());
    drop(closed);
    if tokio::time::timeout_at(deadline, closed_tx.closed())
        .await
        .is_err()
    {
        tracing::warn!("closing connections still open at the shutdown deadline");
    }
    Ok(())
}
