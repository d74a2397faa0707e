//! Client of the Daydream REST API (and of the local backend, which speaks the same API).
//!
//! Calls are retried with capped exponential backoff while a stream warms up (404, 409, 429
//! and 5xx are normal for the first seconds); what is left is turned into a
//! [`DaydreamError`] whose message says what the user can do about it.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::Secret;

/// Why a Daydream call failed, worded for the user.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DaydreamError {
    /// 401: the key is wrong or revoked.
    #[error(
        "Daydream rejected the API key; set a valid key (PUT /v1/credentials or DAYDREAM_API_KEY)"
    )]
    Unauthorized,
    /// 403: the account may not do this.
    #[error("Daydream refused the request ({0}); check the account's access")]
    Forbidden(String),
    /// 400/422: the pipeline params are invalid.
    #[error("invalid pipeline params{}: {message}", field.as_deref().map(|f| format!(" (field {f})")).unwrap_or_default())]
    InvalidParams {
        /// The offending field, when Daydream names it.
        field: Option<String>,
        /// Daydream's explanation.
        message: String,
    },
    /// 404 after the warm-up retries.
    #[error("the stream does not exist on Daydream (it may have been deleted): {0}")]
    NotFound(String),
    /// 409 after the warm-up retries.
    #[error("Daydream reports a conflict: {0}")]
    Conflict(String),
    /// 429 after the retries: rate limit or quota.
    #[error("Daydream is rate limiting this key or its quota is used up: {0}; wait and retry")]
    RateLimited(String),
    /// 5xx after the retries.
    #[error("Daydream is unavailable (HTTP {status}): {message}; try again later")]
    Unavailable {
        /// Upstream status.
        status: u16,
        /// Upstream message.
        message: String,
    },
    /// No answer in time.
    #[error("Daydream did not answer within {0:?}")]
    Timeout(Duration),
    /// Could not connect.
    #[error("cannot reach Daydream at {0}; check the network and the API URL")]
    Network(String),
    /// The answer did not have the documented shape.
    #[error("unexpected answer from Daydream: {0}")]
    BadResponse(String),
}

impl DaydreamError {
    /// Status the relay answers with when this error ends a request.
    pub fn relay_status(&self) -> StatusCode {
        match self {
            Self::InvalidParams { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::Unavailable { .. } | Self::Network(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unauthorized | Self::Forbidden(_) | Self::BadResponse(_) => {
                StatusCode::BAD_GATEWAY
            }
        }
    }

    /// Stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized => "api_key_rejected",
            Self::Forbidden(_) => "upstream_forbidden",
            Self::InvalidParams { .. } => "invalid_params",
            Self::NotFound(_) => "remote_stream_not_found",
            Self::Conflict(_) => "upstream_conflict",
            Self::RateLimited(_) => "quota_exceeded",
            Self::Unavailable { .. } => "daydream_unavailable",
            Self::Timeout(_) => "daydream_timeout",
            Self::Network(_) => "daydream_unreachable",
            Self::BadResponse(_) => "bad_upstream_response",
        }
    }
}

/// Backoff while a call keeps failing with a retryable answer.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in total (1 = no retry).
    pub attempts: u32,
    /// First delay.
    pub base: Duration,
    /// Longest delay (also caps `Retry-After`).
    pub cap: Duration,
}

impl RetryPolicy {
    /// Delay before attempt `n + 1` (n counts from 0), with up to 25 % jitter.
    pub fn delay(&self, n: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.cap);
        }
        let exp = self.base.saturating_mul(1u32 << n.min(16)).min(self.cap);
        let jitter = rand::random_range(0.0..0.25);
        exp.mul_f64(1.0 - jitter)
    }
}

/// A stream as Daydream describes it (`POST`/`GET`/`PATCH /v1/streams`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RemoteStream {
    /// `str_…`.
    pub id: String,
    /// `stk_…`.
    pub stream_key: Option<String>,
    /// WHIP ingest URL.
    pub whip_url: String,
    /// Livepeer Studio playback id of the output.
    pub output_playback_id: Option<String>,
    /// Label.
    pub name: Option<String>,
    /// `streamdiffusion`.
    pub pipeline: Option<String>,
    /// Effective params.
    pub params: Option<Value>,
    /// ISO timestamp.
    pub created_at: Option<String>,
}

/// What `GET /v1/streams/{id}/status` says.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteStatus {
    /// `data.state` (`LOADING`, `ONLINE`, …), upper-cased; `UNKNOWN` when absent.
    pub state: String,
    /// `data.gateway_status.whep_url` (never the WHIP URL).
    pub whep_url: Option<String>,
    /// The whole `data` object.
    pub data: Value,
}

/// A failed call, with the wait Daydream asked for (`Retry-After`).
#[derive(Debug, Clone)]
pub struct Failure {
    /// What went wrong.
    pub error: DaydreamError,
    /// `Retry-After`, when the answer had one.
    pub retry_after: Option<Duration>,
}

/// Which call is being made; decides what is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Create,
    Get,
    Update,
    Delete,
    Status,
    CreateApiKey,
}

impl Call {
    fn retries(self, status: StatusCode, retry_after: bool) -> bool {
        let warmup = matches!(status.as_u16(), 404 | 409);
        let busy = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
        match self {
            // Only answers that say the request was not acted on: after a 500, 502 or 504 the
            // stream may exist, and a second create would bill a second one.
            Self::Create => {
                status == StatusCode::TOO_MANY_REQUESTS
                    || (status == StatusCode::SERVICE_UNAVAILABLE && retry_after)
            }
            // A sign-in token is good for one key; a failure is reported, not repeated.
            Self::CreateApiKey => false,
            Self::Delete => busy || status == StatusCode::CONFLICT,
            Self::Get | Self::Update | Self::Status => busy || warmup,
        }
    }

    /// Whether a request that may have reached the server can be sent again.
    fn idempotent(self) -> bool {
        !matches!(self, Self::Create | Self::CreateApiKey)
    }
}

/// Client of one Daydream-compatible API base.
#[derive(Debug, Clone)]
pub struct DaydreamClient {
    http: reqwest::Client,
    base: url::Url,
    key: Secret,
    timeout: Duration,
    retry: RetryPolicy,
}

impl DaydreamClient {
    /// A client for `base` (e.g. `https://api.daydream.live`; a trailing `/v1/streams` is
    /// accepted and removed, so the README-style URL works for every call).
    ///
    /// `dns`, when given, resolves every host name this client contacts (the API's, and the
    /// media URLs the signalling proxy reaches with [`DaydreamClient::http`]).
    pub fn new(
        base: &str,
        key: Secret,
        timeout: Duration,
        retry: RetryPolicy,
        dns: Option<crate::upstream::PublicDns>,
    ) -> Result<Self, String> {
        let base = normalise_base(base)?;
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("rtc-relay/", env!("CARGO_PKG_VERSION")));
        if let Some(dns) = dns {
            builder = builder.dns_resolver(Arc::new(dns));
        }
        let http = builder.build().map_err(|e| e.to_string())?;
        Ok(Self {
            http,
            base,
            key,
            timeout,
            retry,
        })
    }

    /// The API base the client talks to.
    pub fn base(&self) -> &url::Url {
        &self.base
    }

    /// The shared HTTP client (for the signalling proxy).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    fn url(&self, path: &str) -> url::Url {
        let mut url = self.base.clone();
        let joined = format!("{}{path}", url.path().trim_end_matches('/'));
        url.set_path(&joined);
        url
    }

    /// `POST /v1/streams`.
    pub async fn create_stream(
        &self,
        name: &str,
        pipeline: &str,
        params: &Value,
    ) -> Result<RemoteStream, DaydreamError> {
        let body = serde_json::json!({"name": name, "pipeline": pipeline, "params": params});
        let url = self.url("/v1/streams");
        let value = self
            .call(Call::Create, || self.http.post(url.clone()).json(&body))
            .await?;
        parse_stream(value)
    }

    /// `GET /v1/streams/{id}`.
    pub async fn get_stream(&self, id: &str) -> Result<RemoteStream, DaydreamError> {
        let url = self.url(&format!("/v1/streams/{}", encode(id)));
        let value = self.call(Call::Get, || self.http.get(url.clone())).await?;
        parse_stream(value)
    }

    /// `PATCH /v1/streams/{id}` with `changed` params; `model_id` is always included.
    pub async fn update_stream(
        &self,
        id: &str,
        pipeline: &str,
        model_id: &str,
        changed: &Map<String, Value>,
    ) -> Result<RemoteStream, DaydreamError> {
        let mut params = changed.clone();
        params.insert("model_id".into(), Value::String(model_id.to_owned()));
        let body = serde_json::json!({"pipeline": pipeline, "params": params});
        let url = self.url(&format!("/v1/streams/{}", encode(id)));
        let value = self
            .call(Call::Update, || self.http.patch(url.clone()).json(&body))
            .await?;
        // Some deployments answer 204 to a PATCH; keep what we know then.
        if value.is_null() {
            return Ok(RemoteStream {
                id: id.to_owned(),
                ..Default::default()
            });
        }
        parse_stream(value)
    }

    /// `DELETE /v1/streams?id={id}`; a stream that is already gone counts as deleted.
    pub async fn delete_stream(&self, id: &str) -> Result<(), DaydreamError> {
        let mut url = self.url("/v1/streams");
        url.query_pairs_mut().append_pair("id", id);
        match self
            .call(Call::Delete, || self.http.delete(url.clone()))
            .await
        {
            Ok(_) | Err(DaydreamError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `POST /v1/api-key`: exchanges the sign-in token this client was built with for an API
    /// key named `name`, as Daydream's desktop sign-in does. Tried once.
    pub async fn create_api_key(
        &self,
        name: &str,
        user_type: &str,
    ) -> Result<Secret, DaydreamError> {
        let body = serde_json::json!({"name": name, "user_type": user_type});
        let url = self.url("/v1/api-key");
        let value = self
            .call(Call::CreateApiKey, || {
                self.http
                    .post(url.clone())
                    .header("x-client-source", user_type)
                    .json(&body)
            })
            .await?;
        value
            .get("apiKey")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|key| !key.is_empty() && !key.contains(char::is_whitespace))
            .map(Secret::new)
            .ok_or_else(|| DaydreamError::BadResponse("no apiKey in the answer".into()))
    }

    /// `GET /v1/streams/{id}/status`, tried once (the poller repeats it at its own pace).
    pub async fn stream_status(&self, id: &str) -> Result<RemoteStatus, Failure> {
        let url = self.url(&format!("/v1/streams/{}/status", encode(id)));
        let value = self
            .call_with(Call::Status, 1, || self.http.get(url.clone()))
            .await?;
        Ok(parse_status(&value))
    }

    async fn call(
        &self,
        call: Call,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Value, DaydreamError> {
        self.call_with(call, self.retry.attempts, request)
            .await
            .map_err(|e| e.error)
    }

    async fn call_with(
        &self,
        call: Call,
        attempts: u32,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Value, Failure> {
        let attempts = attempts.max(1);
        let mut attempt = 0;
        loop {
            let sent = request()
                .bearer_auth(self.key.expose())
                .header(reqwest::header::ACCEPT, "application/json")
                .timeout(self.timeout)
                .send()
                .await;
            let last = attempt + 1 >= attempts;
            let (error, retry_after) = match sent {
                Ok(response) => {
                    let status = StatusCode::from_u16(response.status().as_u16())
                        .unwrap_or(StatusCode::BAD_GATEWAY);
                    let retry_after = retry_after(response.headers());
                    let bytes = response.bytes().await.unwrap_or_default();
                    if status.is_success() {
                        return decode_success(&bytes).map_err(|error| Failure {
                            error,
                            retry_after: None,
                        });
                    }
                    let error = error_from(status, &bytes);
                    if last || !call.retries(status, retry_after.is_some()) {
                        return Err(Failure { error, retry_after });
                    }
                    (error, retry_after)
                }
                Err(e) => {
                    let error = transport_error(&e, self.timeout, &self.base);
                    let resend_ok = call.idempotent() || e.is_connect();
                    if last || !resend_ok {
                        return Err(Failure {
                            error,
                            retry_after: None,
                        });
                    }
                    (error, None)
                }
            };
            let delay = self.retry.delay(attempt, retry_after);
            tracing::debug!(?call, attempt, ?delay, error = %crate::telemetry::escaped(&error), "retrying Daydream call");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
}

/// Parses an API base URL (a trailing `/v1/streams` is accepted and removed).
pub fn normalise_base(base: &str) -> Result<url::Url, String> {
    let trimmed = base.trim().trim_end_matches('/');
    let trimmed = trimmed.strip_suffix("/v1/streams").unwrap_or(trimmed);
    let url = url::Url::parse(trimmed).map_err(|e| format!("invalid API URL {base:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("invalid API URL {base:?}: use http(s)://host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the API URL must not carry credentials".into());
    }
    Ok(url)
}

fn encode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn decode_success(bytes: &[u8]) -> Result<Value, DaydreamError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(bytes).map_err(|e| DaydreamError::BadResponse(format!("not JSON: {e}")))
}

fn parse_stream(value: Value) -> Result<RemoteStream, DaydreamError> {
    // The older API wrapped objects in `{success, data}`.
    let value = match value {
        Value::Object(mut map) if map.contains_key("data") && !map.contains_key("id") => {
            map.remove("data").unwrap_or(Value::Null)
        }
        other => other,
    };
    let stream: RemoteStream = serde_json::from_value(value)
        .map_err(|e| DaydreamError::BadResponse(format!("stream object: {e}")))?;
    if stream.id.is_empty() {
        return Err(DaydreamError::BadResponse(
            "stream object without id".into(),
        ));
    }
    Ok(stream)
}

/// Reads `data.state` and `data.gateway_status.whep_url`, tolerating `data: null` and the
/// older shapes that put `state` at the top level.
pub fn parse_status(body: &Value) -> RemoteStatus {
    let data = body
        .get("data")
        .filter(|d| d.is_object())
        .cloned()
        .unwrap_or_else(|| body.clone());
    let state = data
        .get("state")
        .or_else(|| body.get("state"))
        .and_then(Value::as_str)
        .map_or_else(|| "UNKNOWN".to_owned(), str::to_ascii_uppercase);
    let whep_url = data
        .pointer("/gateway_status/whep_url")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .map(str::to_owned);
    RemoteStatus {
        state,
        whep_url,
        data,
    }
}

fn error_from(status: StatusCode, bytes: &[u8]) -> DaydreamError {
    let body: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let message = upstream_message(&body, bytes, status);
    match status.as_u16() {
        401 => DaydreamError::Unauthorized,
        403 => DaydreamError::Forbidden(message),
        400 | 422 => DaydreamError::InvalidParams {
            field: upstream_field(&body),
            message,
        },
        404 => DaydreamError::NotFound(message),
        409 => DaydreamError::Conflict(message),
        429 => DaydreamError::RateLimited(message),
        s => DaydreamError::Unavailable { status: s, message },
    }
}

fn upstream_message(body: &Value, bytes: &[u8], status: StatusCode) -> String {
    let text = match body {
        Value::Object(map) => match map.get("error") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Object(e)) => e
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            Some(other @ Value::Array(_)) => other.to_string(),
            _ => map
                .get("message")
                .or_else(|| map.get("detail"))
                .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_owned))
                .unwrap_or_default(),
        },
        _ => String::from_utf8_lossy(bytes).trim().to_owned(),
    };
    let text = if text.is_empty() {
        status.canonical_reason().unwrap_or("no message").to_owned()
    } else {
        text
    };
    text.chars().take(300).collect()
}

/// The field a validation error names: `details.field`, `details[0].path|loc`.
fn upstream_field(body: &Value) -> Option<String> {
    let details = body.get("details")?;
    let first = details
        .as_array()
        .and_then(|a| a.first())
        .unwrap_or(details);
    let field = first
        .get("field")
        .or_else(|| first.get("path"))
        .or_else(|| first.get("loc"))?;
    match field {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => Some(
            parts
                .iter()
                .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join("."),
        ),
        _ => None,
    }
}

fn transport_error(e: &reqwest::Error, timeout: Duration, base: &url::Url) -> DaydreamError {
    if e.is_timeout() {
        DaydreamError::Timeout(timeout)
    } else {
        DaydreamError::Network(base.origin().ascii_serialization())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_accepts_the_streams_suffix() {
        let url = normalise_base("https://api.daydream.live/v1/streams/").unwrap();
        assert_eq!(url.as_str(), "https://api.daydream.live/");
        assert!(normalise_base("ftp://x").is_err());
        assert!(normalise_base("https://user:pw@x").is_err());
    }

    #[test]
    fn status_tolerates_null_data_and_reads_whep_url() {
        let s = parse_status(&serde_json::json!({"success": true, "data": null}));
        assert_eq!(s.state, "UNKNOWN");
        let s = parse_status(&serde_json::json!({"data": {"state": "online",
            "gateway_status": {"whep_url": "https://x/out/whep"}}}));
        assert_eq!(s.state, "ONLINE");
        assert_eq!(s.whep_url.as_deref(), Some("https://x/out/whep"));
    }

    #[test]
    fn validation_errors_name_the_field() {
        let body = br#"{"success":false,"error":"width must be a multiple of 64","code":"X","status":400,"details":[{"path":["params","width"]}]}"#;
        let e = error_from(StatusCode::BAD_REQUEST, body);
        assert!(e.to_string().contains("params.width"), "{e}");
        assert!(matches!(
            error_from(StatusCode::UNAUTHORIZED, b""),
            DaydreamError::Unauthorized
        ));
        let e = error_from(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>");
        assert!(matches!(e, DaydreamError::Unavailable { status: 502, .. }));
    }

    #[test]
    fn backoff_is_capped_and_honours_retry_after() {
        let p = RetryPolicy {
            attempts: 5,
            base: Duration::from_millis(100),
            cap: Duration::from_millis(800),
        };
        assert!(p.delay(0, None) <= Duration::from_millis(100));
        assert!(p.delay(10, None) <= Duration::from_millis(800));
        assert!(p.delay(10, None) >= Duration::from_millis(600));
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(60))),
            Duration::from_millis(800)
        );
    }
}
