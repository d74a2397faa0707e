//! Errors of the WHIP/WHEP endpoints, rendered as `{"error": {"code", "message"}}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Seconds a WHEP player should wait before retrying when nothing is published yet.
pub(super) const RETRY_AFTER_SECS: u32 = 1;

/// Seconds a viewer over the limit should wait (Daydream's own clients wait 2 s).
pub(super) const VIEWER_RETRY_AFTER_SECS: u32 = 2;

/// Everything a WHIP or WHEP request can fail with.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MediaError {
    #[error("Content-Type must be application/sdp")]
    UnsupportedContentType,
    #[error("the body is not a valid SDP offer: {0}")]
    BadSdp(String),
    #[error("the offer has no video m-line; send one video track")]
    NoVideo,
    #[error("H.264 is required; the offer's video codecs are: {offered}")]
    CodecNotSupported { offered: String },
    #[error("the offer's video direction is {found}; WHIP needs sendonly or sendrecv")]
    BadDirection { found: String },
    #[error("no such stream; create it first and use the stream key it returns")]
    UnknownStream,
    #[error("no such session; it was deleted or has ended")]
    UnknownSession,
    /// Like Daydream's gateway, a WHEP offer before the stream has output is not found.
    #[error(
        "this stream has no output yet (nothing is published); retry after Retry-After seconds"
    )]
    NoPublisher,
    #[error("this stream already has {limit} viewers; close one and retry")]
    TooManyViewers { limit: usize },
    #[error("method not allowed here; allowed: {allow}")]
    MethodNotAllowed { allow: &'static str },
    #[error("the offer is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the media server is not running")]
    Unavailable,
}

impl MediaError {
    /// Stable snake_case code for the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnsupportedContentType => "unsupported_content_type",
            Self::BadSdp(_) => "bad_sdp",
            Self::NoVideo => "no_video",
            Self::CodecNotSupported { .. } => "codec_not_supported",
            Self::BadDirection { .. } => "bad_direction",
            Self::UnknownStream => "unknown_stream",
            Self::UnknownSession => "unknown_session",
            Self::NoPublisher => "no_publisher",
            Self::TooManyViewers { .. } => "viewer_limit",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::TooLarge { .. } => "offer_too_large",
            Self::Unavailable => "media_unavailable",
        }
    }

    /// HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::UnsupportedContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::BadSdp(_) => StatusCode::BAD_REQUEST,
            Self::NoVideo | Self::CodecNotSupported { .. } | Self::BadDirection { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::UnknownStream | Self::UnknownSession | Self::NoPublisher => StatusCode::NOT_FOUND,
            Self::TooManyViewers { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for MediaError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": { "code": self.code(), "message": self.to_string() }
        });
        let mut response = (self.status(), Json(body)).into_response();
        let headers = response.headers_mut();
        match self {
            Self::NoPublisher => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
            }
            Self::TooManyViewers { .. } => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(VIEWER_RETRY_AFTER_SECS),
                );
            }
            Self::MethodNotAllowed { allow } => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            _ => {}
        }
        response
    }
}
