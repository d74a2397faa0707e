//! The local media server alone, for browser and interop tests: serves `/local/live/...`
//! on 127.0.0.1 (port from `--port`, default 0) plus a few control routes, and prints
//! `listening on http://ADDR` once ready. Media UDP stays on loopback unless `--media-any`
//! is given (the interop tests reach it from another network namespace).
//!
//! Control routes (test use only): `PUT /streams/{key}` opens a stream (an optional JSON
//! body holds its params), `GET` returns its media status as JSON, `DELETE` closes it. `GET /` is a blank page to run scripts in.

use std::io::Write;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use axum::routing::{get, put};
use rtc_relay::local::media::{MediaServer, MediaSettings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let port: u16 = std::env::args()
        .skip_while(|a| a != "--port")
        .nth(1)
        .map(|p| p.parse())
        .transpose()?
        .unwrap_or(0);
    let media_bind = if std::env::args().any(|a| a == "--media-any") {
        std::net::Ipv4Addr::UNSPECIFIED
    } else {
        std::net::Ipv4Addr::LOCALHOST
    };
    let media = MediaServer::start(&MediaSettings::on(media_bind.into())).await?;
    let app = Router::new()
        .route(
            "/",
            get(|| async { Html("<!doctype html><title>media test</title>") }),
        )
        .route(
            "/streams/{key}",
            put(open_stream).get(stream_status).delete(close_stream),
        )
        .with_state(media.clone())
        .nest("/local", media.router());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on http://{addr}")?;
    stdout.flush()?;
    axum::serve(listener, app).await?;
    Ok(())
}

/// Opens a stream; the body, if any, holds its params (`{"skip_diffusion": true}` forwards
/// the input unchanged; no body applies the default effect).
async fn open_stream(
    State(media): State<MediaServer>,
    Path(key): Path<String>,
    body: axum::body::Bytes,
) -> StatusCode {
    let params = if body.is_empty() {
        serde_json::json!({})
    } else {
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(params) if params.is_object() => params,
            _ => return StatusCode::BAD_REQUEST,
        }
    };
    media.open_stream(&key, &params);
    StatusCode::NO_CONTENT
}

async fn close_stream(State(media): State<MediaServer>, Path(key): Path<String>) -> StatusCode {
    media.close_stream(&key);
    StatusCode::NO_CONTENT
}

async fn stream_status(
    State(media): State<MediaServer>,
    Path(key): Path<String>,
) -> impl IntoResponse {
    let Some(status) = media.status(&key) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    axum::Json(serde_json::json!({
        "publisher_connected": status.publisher_connected,
        "media_flowing": status.media_flowing,
        "viewers": status.viewers,
        "packets_in": status.packets_in,
        "packets_out": status.packets_out,
    }))
    .into_response()
}
