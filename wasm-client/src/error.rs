//! The one error type the package throws: a JavaScript `Error` named `RtcClientError` with a
//! stable `code` (and the HTTP `status` when a server answered).

use wasm_bindgen::{JsCast, JsValue};

/// Machine-readable error codes, the `ErrorCode` union in the TypeScript types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The request never got an HTTP answer (server down, connection refused).
    Network,
    /// 401 or 403.
    Unauthorized,
    /// 404: the stream or session does not exist.
    NotFound,
    /// 409 or 503: the server is not ready (for WHEP: no publisher yet); retry later.
    NotReady,
    /// The server rejected the request (400, 415, 422 and other 4xx).
    Rejected,
    /// 5xx.
    Server,
    /// The answer or offer could not be applied to the peer connection.
    BadSdp,
    /// ICE failed before the first connection: this browser cannot reach the media server's
    /// addresses (e.g. a local backend announced on loopback, a firewall dropping UDP).
    MediaUnreachable,
    /// The browser lacks an API this needs.
    Unsupported,
    /// A frame with bad dimensions, format or length.
    InvalidFrame,
    /// Options that do not parse.
    InvalidOptions,
    /// The relay sent something this agent does not understand.
    Protocol,
    /// The object was stopped.
    Closed,
}

impl ErrorCode {
    /// The string JavaScript sees.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Network => "NETWORK_ERROR",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::NotFound => "NOT_FOUND",
            Self::NotReady => "NOT_READY",
            Self::Rejected => "REJECTED",
            Self::Server => "SERVER_ERROR",
            Self::BadSdp => "BAD_SDP",
            Self::MediaUnreachable => "MEDIA_UNREACHABLE",
            Self::Unsupported => "UNSUPPORTED",
            Self::InvalidFrame => "INVALID_FRAME",
            Self::InvalidOptions => "INVALID_OPTIONS",
            Self::Protocol => "PROTOCOL_ERROR",
            Self::Closed => "CLOSED",
        }
    }

    /// Code for an HTTP error status.
    pub const fn for_status(status: u16) -> Self {
        match status {
            401 | 403 => Self::Unauthorized,
            404 | 410 => Self::NotFound,
            409 | 503 => Self::NotReady,
            500..=599 => Self::Server,
            _ => Self::Rejected,
        }
    }

    /// Whether trying again later can help (used by the reconnect loops).
    pub const fn is_transient(self) -> bool {
        matches!(
            self,
            Self::Network | Self::NotReady | Self::Server | Self::MediaUnreachable
        )
    }
}

/// An error with a code, a message and, for HTTP failures, the status and `Retry-After`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ClientError {
    /// Stable code.
    pub code: ErrorCode,
    /// What went wrong, for people.
    pub message: String,
    /// HTTP status, when a server answered.
    pub status: Option<u16>,
    /// Server-requested delay before retrying, in milliseconds.
    pub retry_after_ms: Option<u32>,
}

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, ClientError>;

impl ClientError {
    /// An error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            status: None,
            retry_after_ms: None,
        }
    }

    /// An HTTP error answer.
    pub fn http(status: u16, what: &str, body: &str, retry_after_ms: Option<u32>) -> Self {
        let detail = body.trim();
        let detail = if detail.is_empty() {
            String::new()
        } else {
            format!(": {}", detail.chars().take(300).collect::<String>())
        };
        Self {
            code: ErrorCode::for_status(status),
            message: format!("{what} failed with HTTP {status}{detail}"),
            status: Some(status),
            retry_after_ms,
        }
    }

    /// `CODE: message`, the form the agent reports to the relay.
    pub fn summary(&self) -> String {
        format!("{}: {}", self.code.as_str(), self.message)
    }

    /// Wraps an exception thrown by a browser API.
    pub fn js(code: ErrorCode, context: &str, err: &JsValue) -> Self {
        Self::new(code, format!("{context}: {}", describe(err)))
    }
}

/// Text of a thrown JavaScript value.
pub fn describe(err: &JsValue) -> String {
    if let Some(e) = err.dyn_ref::<js_sys::Error>() {
        String::from(e.message())
    } else {
        // JSON rather than `{:?}`: JsValue's Debug brings a large helper into the JS glue.
        err.as_string()
            .or_else(|| js_sys::JSON::stringify(err).ok()?.as_string())
            .unwrap_or_else(|| "a value that is not an Error".into())
    }
}

impl From<ClientError> for JsValue {
    fn from(err: ClientError) -> Self {
        let js = js_sys::Error::new(&err.message);
        js.set_name("RtcClientError");
        let obj: &JsValue = js.as_ref();
        crate::js::set(obj, "code", &err.code.as_str().into());
        if let Some(status) = err.status {
            crate::js::set(obj, "status", &status.into());
        }
        js.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_statuses_map_to_codes() {
        assert_eq!(ErrorCode::for_status(401), ErrorCode::Unauthorized);
        assert_eq!(ErrorCode::for_status(409), ErrorCode::NotReady);
        assert_eq!(ErrorCode::for_status(422), ErrorCode::Rejected);
        assert_eq!(ErrorCode::for_status(502), ErrorCode::Server);
        assert!(ErrorCode::NotReady.is_transient());
        assert!(!ErrorCode::Unauthorized.is_transient());
    }

    #[test]
    fn an_unreachable_media_server_is_retried() {
        assert_eq!(ErrorCode::MediaUnreachable.as_str(), "MEDIA_UNREACHABLE");
        assert!(ErrorCode::MediaUnreachable.is_transient());
    }

    #[test]
    fn http_error_keeps_a_short_body() {
        let err = ClientError::http(400, "WHIP offer", &"x".repeat(1000), None);
        assert_eq!(err.code, ErrorCode::Rejected);
        assert!(
            err.message
                .starts_with("WHIP offer failed with HTTP 400: xxx")
        );
        assert!(err.message.len() < 360);
    }
}
