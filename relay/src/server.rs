//! The HTTP/1.1 server loop. Unlike `axum::serve`, every connection has deadlines, and
//! shutdown waits for open connections only until a deadline, so no client can hold the
//! relay up:
//!
//! - a request head must arrive within [`HEADER_READ_TIMEOUT`]; hyper starts that clock
//!   whenever it waits for a head, so it also closes idle keep-alive connections;
//! - bodies are read within the request timeout (see `app`);
//! - on shutdown, idle connections close at once and busy ones get until the deadline.
//!
//! Request heads are checked by [`check_head`] against limits below hyper's own, so an
//! oversized URI or header block, or a path that is not UTF-8, is answered in the API's JSON
//! error shape. Only heads beyond hyper's ceilings (a 64 KiB URI, a 400 KiB header block,
//! [`HYPER_MAX_HEADERS`] headers) get hyper's bare status line before the connection closes.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::error::ApiError;

/// How long a client may take to send a request head, or stay idle between requests.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (out of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// Longest request target (path and query) accepted.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Most header fields accepted.
pub const MAX_HEADERS: usize = 100;
/// Largest header block (names and values) accepted.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// hyper's own header count limit, above [`MAX_HEADERS`] so that [`check_head`] answers.
const HYPER_MAX_HEADERS: usize = 2 * MAX_HEADERS;

/// Serves `app` until `stop` completes with a deadline, then lets open connections finish
/// until that deadline and drops what is left.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    stop: impl Future<Output = Instant>,
) -> std::io::Result<()> {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_headers(HYPER_MAX_HEADERS);
    let app = app.layer(axum::middleware::from_fn(check_head));
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

/// Middleware: refuses request heads over the relay's limits, and paths whose percent-escapes
/// do not decode to UTF-8, before any route sees them.
pub async fn check_head(request: Request, next: Next) -> Response {
    match head_problem(&request) {
        Some(error) => error.into_response(),
        None => next.run(request).await,
    }
}

fn head_problem(request: &Request) -> Option<ApiError> {
    let target = request
        .uri()
        .path_and_query()
        .map_or(0, |pq| pq.as_str().len());
    if target > MAX_URI_BYTES {
        return Some(ApiError::HeadTooLarge {
            status: StatusCode::URI_TOO_LONG,
            message: format!("the request URI is {target} bytes, more than {MAX_URI_BYTES}"),
        });
    }
    let headers = request.headers();
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return Some(ApiError::HeadTooLarge {
            status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            message: format!(
                "{} header fields of {bytes} bytes; at most {MAX_HEADERS} fields of \
                 {MAX_HEADER_BYTES} bytes are accepted",
                headers.len()
            ),
        });
    }
    if std::str::from_utf8(&percent_decode(request.uri().path())).is_err() {
        return Some(ApiError::bad_request(
            "bad_path",
            "the path's percent-escapes do not decode to UTF-8",
        ));
    }
    None
}

/// `%XX` escapes decoded to bytes; anything else is kept as it is.
fn percent_decode(path: &str) -> Vec<u8> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn percent_escapes_decode_to_bytes() {
        assert_eq!(percent_decode("/a%20b"), b"/a b");
        assert_eq!(percent_decode("/%ff%FE"), [b'/', 0xff, 0xfe]);
        assert_eq!(percent_decode("/%zz%4"), b"/%zz%4");
        assert_eq!(percent_decode("/%"), b"/%");
    }
}
