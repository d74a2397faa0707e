//! The relay API's error type: every failure becomes `{"error": {"code", "message"}}` with a
//! precise status, including rejections of malformed or oversized JSON bodies.

use axum::body::Body as HttpBody;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::daydream::DaydreamError;

/// Errors of the relay's HTTP layer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed (bad header, bad query, wrong frame size...).
    #[error("{message}")]
    BadRequest {
        /// Stable machine code.
        code: &'static str,
        /// What to fix.
        message: String,
    },
    /// No or wrong relay token.
    #[error("missing or wrong relay token: send `Authorization: Bearer <token>`")]
    Unauthorized,
    /// Refused for a reason other than the token (foreign Host or Origin).
    #[error("{0}")]
    Forbidden(String),
    /// The named resource does not exist.
    #[error("{message}")]
    NotFound {
        /// Stable machine code.
        code: &'static str,
        /// What was not found.
        message: String,
    },
    /// The request conflicts with the current state (no publisher, no current stream...).
    #[error("{message}")]
    Conflict {
        /// Stable machine code.
        code: &'static str,
        /// What to do about it.
        message: String,
    },
    /// The body is larger than the route accepts.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The request line or headers are larger than the relay accepts.
    #[error("{message}")]
    HeadTooLarge {
        /// 414 for the URI, 431 for the headers.
        status: StatusCode,
        /// Which limit.
        message: String,
    },
    /// A limit is reached; retry after `retry_after_secs`.
    #[error("{message}")]
    TooManyRequests {
        /// Stable machine code.
        code: &'static str,
        /// Which limit and what to do.
        message: String,
        /// Sent as `Retry-After`.
        retry_after_secs: u32,
    },
    /// The body has the wrong content type.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The body parsed but its values are invalid.
    #[error("{message}")]
    Unprocessable {
        /// Stable machine code.
        code: &'static str,
        /// Which field and why.
        message: String,
    },
    /// A service the relay called on the user's behalf failed in a way the user can act on.
    #[error("{message}")]
    BadGateway {
        /// Stable machine code.
        code: &'static str,
        /// What failed and what to do.
        message: String,
    },
    /// Daydream (or the local backend) failed.
    #[error(transparent)]
    Upstream(#[from] DaydreamError),
    /// The relay is shutting down or a dependency is not ready.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an IO failure on the relay's side; details go to the log only.
    #[error("internal error")]
    Internal(String),
}

/// Result alias of the HTTP layer.
pub type ApiResult<T> = Result<T, ApiError>;

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    code: &'a str,
    message: String,
}

impl ApiError {
    /// A 400 with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// A 404 for an unknown stream id.
    pub fn unknown_stream(id: &str) -> Self {
        Self::NotFound {
            code: "stream_not_found",
            message: format!("no stream with id {id:?}; list them with GET /v1/streams"),
        }
    }

    /// A 409 with `code`.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }

    /// HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::HeadTooLarge { status, .. } => *status,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadGateway { .. } => StatusCode::BAD_GATEWAY,
            Self::Upstream(e) => e.relay_status(),
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable machine code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::NotFound { code, .. }
            | Self::Conflict { code, .. }
            | Self::Unprocessable { code, .. }
            | Self::TooManyRequests { code, .. }
            | Self::BadGateway { code, .. } => code,
            Self::Unauthorized => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::HeadTooLarge { status, .. } if *status == StatusCode::URI_TOO_LONG => {
                "uri_too_long"
            }
            Self::HeadTooLarge { .. } => "headers_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Upstream(e) => e.code(),
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(detail) = &self {
            tracing::error!(%detail, "request failed");
        }
        let status = self.status();
        let retry_after = match &self {
            Self::TooManyRequests {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        let body = Body {
            error: Detail {
                code: self.code(),
                message: self.to_string(),
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(secs) = retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => {
                Self::PayloadTooLarge("request body is too large for this route".into())
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UnsupportedMediaType(
                "send the body as JSON with `Content-Type: application/json`".into(),
            ),
            StatusCode::UNPROCESSABLE_ENTITY => Self::Unprocessable {
                code: "invalid_body",
                message: rejection.body_text(),
            },
            _ => Self::bad_request("malformed_json", rejection.body_text()),
        }
    }
}

/// `axum::Json` whose rejections use the relay's error shape.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Fallback for unknown routes, so they also answer in the JSON error shape.
pub async fn not_found() -> ApiError {
    ApiError::NotFound {
        code: "route_not_found",
        message: "no such route; see docs/ARCHITECTURE.md for the relay API".into(),
    }
}

/// Marks a response whose error body is deliberately not the relay's own (an upstream WHIP or
/// WHEP answer passed through), so [`json_errors`] leaves it alone.
#[derive(Debug, Clone, Copy)]
pub struct Verbatim;

/// Longest body of a framework error that is kept as the message.
const MAX_MESSAGE_BYTES: usize = 1024;

/// Middleware: errors that come from the framework rather than a handler (unknown method,
/// extractor rejections such as a body over a route's limit or a path that is not UTF-8,
/// request timeouts, a missing page) get the documented `{"error": {"code", "message"}}`
/// body too, keeping their status and headers such as `Allow`.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error())
        || is_json
        || response.extensions().get::<Verbatim>().is_some()
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_MESSAGE_BYTES)
        .await
        .ok()
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .filter(|t| !t.is_empty());
    let (code, fallback) = framework_error(status);
    let body = Body {
        error: Detail {
            code,
            message: text.unwrap_or_else(|| fallback.to_owned()),
        },
    };
    let json = serde_json::to_vec(&body).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, HttpBody::from(json))
}

/// Code and default message of an error the framework produced with this status.
fn framework_error(status: StatusCode) -> (&'static str, &'static str) {
    match status {
        StatusCode::NOT_FOUND => ("route_not_found", "no such route or file"),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this route does not take this method; `Allow` lists the ones it takes",
        ),
        StatusCode::REQUEST_TIMEOUT => (
            "request_timeout",
            "the request took longer than the relay allows",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "payload_too_large",
            "request body is too large for this route",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "the body has the wrong content type for this route",
        ),
        StatusCode::UNPROCESSABLE_ENTITY => ("invalid_body", "the body has invalid values"),
        s if s.is_server_error() => ("internal", "internal error"),
        _ => ("bad_request", "the request is malformed"),
    }
}
