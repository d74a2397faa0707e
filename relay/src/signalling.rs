//! The WHIP/WHEP signalling proxy (`POST/PATCH/DELETE /v1/streams/{id}/whip|whep`).
//!
//! The page never learns the upstream URLs (the WHIP URL lets anyone publish into the
//! stream). The relay forwards the SDP to the stream's WHIP URL, or to its WHEP URL (from
//! `Livepeer-Playback-URL`, else the status), follows 307/308, keeps each session's
//! `Location` for PATCH and DELETE, and passes the upstream answer through: 201, WHEP's 406
//! counter-offer, 409 + `Retry-After`, other 4xx. Only URLs Daydream returned are contacted.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};

use crate::error::{ApiError, ApiResult};
use crate::streams::{StreamEntry, changed};
use crate::{AppState, lock};

/// Largest SDP accepted (real offers are a few KB).
const MAX_SDP_BYTES: usize = 128 * 1024;
/// Timeout of one upstream signalling request.
const SIGNALLING_TIMEOUT: Duration = Duration::from_secs(15);
/// Timeout of the DELETEs sent when a stream stops.
const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(2);
/// Redirects followed per request.
const MAX_REDIRECTS: usize = 5;
const PLAYBACK_HEADER: &str = "livepeer-playback-url";

/// WHIP or WHEP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Ingest.
    Whip,
    /// Egress.
    Whep,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Whip => "whip",
            Self::Whep => "whep",
        }
    }
}

#[derive(Debug, Clone)]
struct Session {
    location: url::Url,
}

/// A stream's upstream sessions.
#[derive(Debug, Default)]
pub struct Sessions {
    whip: Mutex<Option<Session>>,
    whep: Mutex<Option<Session>>,
}

impl Sessions {
    fn slot(&self, kind: Kind) -> &Mutex<Option<Session>> {
        match kind {
            Kind::Whip => &self.whip,
            Kind::Whep => &self.whep,
        }
    }
}

/// Routes of this module.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/streams/{id}/whip", session_routes(Kind::Whip))
        .route("/v1/streams/{id}/whep", session_routes(Kind::Whep))
        .layer(DefaultBodyLimit::max(MAX_SDP_BYTES))
}

/// POST (offer), PATCH (trickle / ICE restart) and DELETE (end) for one kind of session.
fn session_routes(kind: Kind) -> MethodRouter<Arc<AppState>> {
    post(
        move |State(s): State<Arc<AppState>>, Path(id): Path<String>, h: HeaderMap, b: Bytes| async move {
            offer(&s, &id, kind, &h, b).await
        },
    )
    .patch(
        move |State(s): State<Arc<AppState>>, Path(id): Path<String>, h: HeaderMap, b: Bytes| async move {
            patch(&s, &id, kind, &h, b).await
        },
    )
    .delete(
        move |State(s): State<Arc<AppState>>, Path(id): Path<String>| async move {
            end(&s, &id, kind).await
        },
    )
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn target(entry: &StreamEntry, kind: Kind) -> ApiResult<url::Url> {
    let raw = match kind {
        Kind::Whip => entry.remote.whip_url.clone(),
        Kind::Whep => match lock(&entry.info).whep_url.clone() {
            Some(url) => url,
            None => {
                return Err(ApiError::conflict(
                    "no_playback_url",
                    "the stream has no playback URL yet; publish first and retry",
                ));
            }
        },
    };
    url::Url::parse(&raw)
        .map_err(|e| ApiError::Internal(format!("stored {} URL: {e}", kind.as_str())))
}

fn upstream_failure(e: &reqwest::Error) -> ApiError {
    if e.is_timeout() {
        ApiError::Unavailable("the media server did not answer the SDP offer in time".into())
    } else {
        ApiError::Unavailable("cannot reach the media server for signalling".into())
    }
}

/// Sends a request, following 307/308 (method and body kept), up to [`MAX_REDIRECTS`].
async fn send(
    http: &reqwest::Client,
    method: Method,
    mut url: url::Url,
    headers: &[(HeaderName, String)],
    body: &Bytes,
) -> ApiResult<(reqwest::Response, url::Url)> {
    for _ in 0..=MAX_REDIRECTS {
        let mut request = http
            .request(method.clone(), url.clone())
            .timeout(SIGNALLING_TIMEOUT)
            .body(body.clone());
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = request.send().await.map_err(|e| upstream_failure(&e))?;
        let status = response.status().as_u16();
        if status != 307 && status != 308 {
            return Ok((response, url));
        }
        let next = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| url.join(l).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                ApiError::Unavailable(
                    "the media server sent a redirect without a usable Location".into(),
                )
            })?;
        url = next;
    }
    Err(ApiError::Unavailable(
        "the media server redirected too many times".into(),
    ))
}

/// Copies an upstream answer into a response, keeping the headers a WHIP/WHEP client needs.
async fn pass_through(response: reqwest::Response, own_location: Option<&str>) -> Response {
    let status =
        StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let upstream = response.headers().clone();
    let body = response.bytes().await.unwrap_or_default();
    if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
        return ApiError::Unavailable(format!(
            "the media server failed (HTTP {})",
            status.as_u16()
        ))
        .into_response();
    }
    let mut out = (status, body).into_response();
    let headers = out.headers_mut();
    for name in [
        header::CONTENT_TYPE,
        header::ETAG,
        header::RETRY_AFTER,
        HeaderName::from_static("accept-patch"),
    ] {
        if let Some(value) = upstream.get(&name) {
            headers.insert(name, value.clone());
        }
    }
    for link in upstream.get_all(header::LINK) {
        headers.append(header::LINK, link.clone());
    }
    if let Some(location) = own_location.and_then(|l| HeaderValue::from_str(l).ok()) {
        headers.insert(header::LOCATION, location);
    }
    out
}

async fn offer(
    state: &Arc<AppState>,
    id: &str,
    kind: Kind,
    headers: &HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let entry = state.streams.require(id)?;
    if !content_type(headers).starts_with("application/sdp") {
        return Err(ApiError::UnsupportedMediaType(
            "send the SDP offer with Content-Type: application/sdp".into(),
        ));
    }
    if !body.starts_with(b"v=0") {
        return Err(ApiError::bad_request(
            "bad_sdp",
            "the body is not an SDP offer (it must start with v=0)",
        ));
    }
    let url = target(&entry, kind)?;
    // A new offer replaces the previous session (reconnect after an ICE failure).
    let previous = lock(entry.sessions.slot(kind)).take();
    if let Some(old) = previous {
        delete_upstream(&entry, &old.location).await;
    }
    let forwarded = [(header::CONTENT_TYPE, "application/sdp".to_owned())];
    let (response, final_url) =
        send(entry.client.http(), Method::POST, url, &forwarded, &body).await?;
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|l| final_url.join(l).ok());
    if matches!(status, 200 | 201 | 406) {
        let Some(location) = location else {
            return Err(ApiError::Unavailable(
                "the media server answered without a Location".into(),
            ));
        };
        *lock(entry.sessions.slot(kind)) = Some(Session { location });
        if kind == Kind::Whip {
            record_playback_url(state, &entry, response.headers(), &final_url);
        }
    }
    let own = format!("/v1/streams/{}/{}", entry.id, kind.as_str());
    Ok(pass_through(response, Some(&own)).await)
}

/// Stores `Livepeer-Playback-URL` (the low-latency WHEP URL) and tells the publisher.
fn record_playback_url(
    state: &Arc<AppState>,
    entry: &Arc<StreamEntry>,
    headers: &reqwest::header::HeaderMap,
    base: &url::Url,
) {
    let Some(url) = headers
        .get(PLAYBACK_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| base.join(v).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"))
    else {
        return;
    };
    {
        let mut info = lock(&entry.info);
        if info.whep_url.as_deref() == Some(url.as_str()) {
            return;
        }
        // The playback header is the low-latency route; it replaces a URL from `/status`.
        info.whep_url = Some(url.to_string());
    }
    state.agents.playback_known(entry);
    changed(state, entry);
}

async fn patch(
    state: &Arc<AppState>,
    id: &str,
    kind: Kind,
    headers: &HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let entry = state.streams.require(id)?;
    let session = lock(entry.sessions.slot(kind)).clone();
    let Some(session) = session else {
        return Err(no_session(kind));
    };
    let mut forwarded = vec![(header::CONTENT_TYPE, content_type(headers).to_owned())];
    if let Some(tag) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) {
        forwarded.push((header::IF_MATCH, tag.to_owned()));
    }
    let (response, _) = send(
        entry.client.http(),
        Method::PATCH,
        session.location,
        &forwarded,
        &body,
    )
    .await?;
    Ok(pass_through(response, None).await)
}

fn no_session(kind: Kind) -> ApiError {
    ApiError::NotFound {
        code: "no_session",
        message: format!("no {} session is open for this stream", kind.as_str()),
    }
}

async fn end(state: &Arc<AppState>, id: &str, kind: Kind) -> ApiResult<Response> {
    let entry = state.streams.require(id)?;
    let session = lock(entry.sessions.slot(kind)).take();
    let Some(session) = session else {
        return Err(no_session(kind));
    };
    delete_upstream(&entry, &session.location).await;
    Ok(StatusCode::OK.into_response())
}

async fn delete_upstream(entry: &StreamEntry, location: &url::Url) {
    let result = entry
        .client
        .http()
        .delete(location.clone())
        .timeout(TEARDOWN_TIMEOUT)
        .send()
        .await;
    if let Err(e) = result {
        tracing::debug!(stream = %entry.id, error = %e, "session DELETE failed");
    }
}

/// Ends both sessions of a stream that is going away.
pub async fn teardown(entry: &StreamEntry) {
    for kind in [Kind::Whip, Kind::Whep] {
        let session = lock(entry.sessions.slot(kind)).take();
        if let Some(session) = session {
            delete_upstream(entry, &session.location).await;
        }
    }
}
