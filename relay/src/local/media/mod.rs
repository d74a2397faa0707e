//! WHIP ingest and WHEP egress for the local backend, with str0m over one shared UDP socket.
//!
//! The REST side calls [`MediaServer::open_stream`] when it creates a stream and
//! [`MediaServer::close_stream`] when it deletes one, reads [`MediaServer::status`] to move
//! the stream from LOADING to ONLINE, and mounts [`MediaServer::router`] under `/local`.

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::any;

/// Path (under `/local`) of a stream's WHIP endpoint.
pub fn whip_path(stream_key: &str) -> String {
    format!("/live/video-to-video/{stream_key}/whip")
}

/// Path (under `/local`) of a stream's WHEP endpoint.
pub fn whep_path(stream_key: &str) -> String {
    format!("/live/video-to-video/{stream_key}-out/whep")
}

/// What the REST side needs to know about a stream's media.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaStatus {
    /// A WHIP session exists for the stream.
    pub publisher_connected: bool,
    /// Video packets arrived within the last second.
    pub media_flowing: bool,
    /// Number of WHEP sessions.
    pub viewers: usize,
    /// Video packets received from the publisher so far.
    pub packets_in: u64,
    /// Video packets forwarded to viewers so far.
    pub packets_out: u64,
}

/// The local WebRTC media server.
#[derive(Debug, Clone, Default)]
pub struct MediaServer {
    _inner: Arc<()>,
}

impl MediaServer {
    /// Binds the shared UDP socket and starts the driver task.
    pub async fn start() -> std::io::Result<Self> {
        Ok(Self::default())
    }

    /// WHIP/WHEP routes, to be nested under `/local`.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        Router::new().route(
            "/live/{*rest}",
            any(|| async { StatusCode::NOT_IMPLEMENTED }),
        )
    }

    /// Allows WHIP and WHEP for `stream_key`.
    pub fn open_stream(&self, _stream_key: &str) {}

    /// Ends every session of `stream_key` and forgets it.
    pub fn close_stream(&self, _stream_key: &str) {}

    /// Current media state of `stream_key`, `None` if it is not open.
    pub fn status(&self, _stream_key: &str) -> Option<MediaStatus> {
        None
    }
}
