//! The WHIP/WHEP signalling proxy (`POST /v1/streams/{id}/whip|whep`, and
//! `PATCH/DELETE /v1/streams/{id}/whip|whep/{session}`).
//!
//! The page never learns the upstream URLs (the WHIP URL lets anyone publish into the
//! stream). The relay forwards the SDP to the stream's WHIP URL, or to its WHEP URL (from
//! `Livepeer-Playback-URL`, else the status), follows 307/308, and passes the upstream
//! answer through: 201, WHEP's 406 counter-offer, 409 + `Retry-After`, other 4xx (a WHEP 404,
//! the gateway's "no output yet", becomes 409 `output_not_ready` + `Retry-After`). Only URLs
//! Daydream returned are contacted, and for streams on the Daydream backend only those
//! [`crate::upstream::HostPolicy`] allows (https, public addresses), redirects and
//! `Location`s included.
//!
//! Every accepted offer is its own session with its own relative `Location`
//! (`whep/{session}`), so it resolves under whatever prefix the client used (ComfyUI's
//! `/rtc/api/`), and PATCH and DELETE act on that session alone. WHIP offers must present
//! the publish lease the relay granted (`?lease=`); the session bookkeeping and that check
//! belong to [`crate::leases`].

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, patch, post};
use serde::Deserialize;

use crate::agent::lease_input;
use crate::config::Backend;
use crate::daydream::DaydreamError;
use crate::error::{ApiError, ApiResult};
use crate::leases::{Input, Kind, MAX_VIEWERS, Refusal, Session};
use crate::registry::{StreamEntry, changed};
use crate::{AppState, lock};

/// Largest SDP accepted (real offers are a few KB).
const MAX_SDP_BYTES: usize = 128 * 1024;
/// Timeout of one upstream signalling request.
const SIGNALLING_TIMEOUT: Duration = Duration::from_secs(15);
/// Timeout of the DELETEs sent when a session or a stream ends.
const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(2);
/// Redirects followed per request.
const MAX_REDIRECTS: usize = 5;
/// What a viewer over the gateway's limit is told to wait, as Daydream's own clients do.
const VIEWER_LIMIT_RETRY_SECS: u32 = 2;
/// `Retry-After` for a player that asked before the stream had output.
const OUTPUT_RETRY_SECS: u32 = 1;
const PLAYBACK_HEADER: &str = "livepeer-playback-url";

/// Routes of this module.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/streams/{id}/whip", offer_route(Kind::Whip))
        .route("/v1/streams/{id}/whep", offer_route(Kind::Whep))
        .route("/v1/streams/{id}/whip/{session}", session_route(Kind::Whip))
        .route("/v1/streams/{id}/whep/{session}", session_route(Kind::Whep))
        .layer(DefaultBodyLimit::max(MAX_SDP_BYTES))
}

#[derive(Debug, Deserialize)]
struct OfferQuery {
    #[serde(default)]
    lease: Option<String>,
}

fn offer_route(kind: Kind) -> MethodRouter<Arc<AppState>> {
    post(
        move |State(s): State<Arc<AppState>>,
              Path(id): Path<String>,
              Query(q): Query<OfferQuery>,
              h: HeaderMap,
              b: Bytes| async move { offer(&s, &id, kind, q.lease.as_deref(), &h, b).await },
    )
}

/// PATCH (trickle / ICE restart) and DELETE (end) of one session.
fn session_route(kind: Kind) -> MethodRouter<Arc<AppState>> {
    patch(
        move |State(s): State<Arc<AppState>>,
              Path((id, session)): Path<(String, String)>,
              h: HeaderMap,
              b: Bytes| async move { patch_session(&s, &id, kind, &session, &h, b).await },
    )
    .delete(
        move |State(s): State<Arc<AppState>>,
              Path((id, session)): Path<(String, String)>| async move {
            end(&s, &id, kind, &session).await
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

/// Refuses a URL the stream's backend may not make the relay contact (SSRF): the local
/// backend's URLs are the relay's own; Daydream's must pass the host policy.
fn check_url(state: &AppState, entry: &StreamEntry, url: &url::Url) -> ApiResult<()> {
    if entry.backend == Backend::Local {
        return Ok(());
    }
    state
        .credentials
        .hosts()
        .check_upstream(url)
        .map_err(|reason| {
            tracing::warn!(stream = %entry.id, reason = %crate::telemetry::escaped(&reason), "refused a media URL from upstream");
            DaydreamError::BadResponse(format!("refused a media URL: {reason}")).into()
        })
}

fn upstream_failure(e: &reqwest::Error) -> ApiError {
    if e.is_timeout() {
        ApiError::Unavailable("the media server did not answer the SDP offer in time".into())
    } else {
        ApiError::Unavailable("cannot reach the media server for signalling".into())
    }
}

/// Sends a request, following 307/308 (method and body kept), up to [`MAX_REDIRECTS`];
/// every URL, the first and each redirect's, passes [`check_url`].
async fn send(
    state: &AppState,
    entry: &StreamEntry,
    method: Method,
    mut url: url::Url,
    headers: &[(HeaderName, String)],
    body: &Bytes,
) -> ApiResult<(reqwest::Response, url::Url)> {
    let http = entry.client.http();
    for _ in 0..=MAX_REDIRECTS {
        check_url(state, entry, &url)?;
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
    // The WHIP/WHEP client reads the upstream answer as the media server wrote it.
    let mut out = (status, body).into_response();
    out.extensions_mut().insert(crate::error::Verbatim);
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
    lease: Option<&str>,
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
    if kind == Kind::Whip {
        let verdict = lock(&state.leases).authorize_whip(id, lease);
        match verdict {
            Ok(()) => {}
            Err(Refusal::NoStream) => return Err(ApiError::unknown_stream(id)),
            Err(Refusal::NotLeaseHolder) => {
                return Err(ApiError::conflict(
                    "not_lease_holder",
                    "only the agent holding this stream's publish lease may publish it; \
                     another tab or agent publishes it now",
                ));
            }
        }
    }
    let url = target(&entry, kind)?;
    let forwarded = [(header::CONTENT_TYPE, "application/sdp".to_owned())];
    let (response, final_url) = send(state, &entry, Method::POST, url, &forwarded, &body).await?;
    let status = response.status().as_u16();
    if kind == Kind::Whep && status == 404 {
        // Daydream's gateway answers 404 until the pipeline has output. The stream exists
        // (it is registered here), so for a player this means "not yet", which WHEP clients
        // retry when told so.
        let mut response = ApiError::conflict(
            "output_not_ready",
            "the stream has no output yet; retry after Retry-After seconds",
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(OUTPUT_RETRY_SECS));
        return Ok(response);
    }
    if kind == Kind::Whep && status == 429 {
        return Err(ApiError::TooManyRequests {
            code: "viewer_limit",
            message: format!(
                "this stream already has {MAX_VIEWERS} viewers, the media server's limit; \
                 close a preview or player and retry"
            ),
            retry_after_secs: VIEWER_LIMIT_RETRY_SECS,
        });
    }
    let location = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|l| final_url.join(l).ok());
    let mut own = None;
    if matches!(status, 200 | 201 | 406) {
        let Some(location) = location else {
            return Err(ApiError::Unavailable(
                "the media server answered without a Location".into(),
            ));
        };
        check_url(state, &entry, &location)?;
        let session = session_id();
        own = Some(format!("{}/{session}", kind.as_str()));
        if kind == Kind::Whip {
            record_playback_url(state, &entry, response.headers(), &final_url);
        }
        let deletes = lease_input(
            state,
            Input::SessionOpened {
                stream: entry.id.clone(),
                kind,
                session: Session {
                    id: session,
                    upstream: location.to_string(),
                },
            },
        );
        delete_upstream_all(&entry, deletes).await;
    }
    Ok(pass_through(response, own.as_deref()).await)
}

/// 128 random bits: session ids are not secrets (the relay token guards them) but must never
/// collide or be reused.
fn session_id() -> String {
    format!("{:032x}", rand::random::<u128>())
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
        .filter(|u| check_url(state, entry, u).is_ok())
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
    lease_input(
        state,
        Input::PlaybackKnown {
            stream: entry.id.clone(),
        },
    );
    changed(state, entry);
}

async fn patch_session(
    state: &Arc<AppState>,
    id: &str,
    kind: Kind,
    session: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let entry = state.streams.require(id)?;
    let upstream = lock(&state.leases)
        .session(id, kind, session)
        .map(|s| s.upstream.clone());
    let Some(upstream) = upstream else {
        return Err(no_session(kind));
    };
    let upstream = url::Url::parse(&upstream)
        .map_err(|e| ApiError::Internal(format!("stored session URL: {e}")))?;
    let mut forwarded = vec![(header::CONTENT_TYPE, content_type(headers).to_owned())];
    if let Some(tag) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) {
        forwarded.push((header::IF_MATCH, tag.to_owned()));
    }
    let (response, _) = send(state, &entry, Method::PATCH, upstream, &forwarded, &body).await?;
    Ok(pass_through(response, None).await)
}

fn no_session(kind: Kind) -> ApiError {
    ApiError::NotFound {
        code: "no_session",
        message: format!(
            "no such {} session on this stream; it ended or was replaced",
            kind.as_str()
        ),
    }
}

async fn end(state: &Arc<AppState>, id: &str, kind: Kind, session: &str) -> ApiResult<Response> {
    let entry = state.streams.require(id)?;
    let deletes = lease_input(
        state,
        Input::SessionClosed {
            stream: id.to_owned(),
            kind,
            session: session.to_owned(),
        },
    );
    if deletes.is_empty() {
        return Err(no_session(kind));
    }
    delete_upstream_all(&entry, deletes).await;
    Ok(StatusCode::OK.into_response())
}

async fn delete_upstream_all(entry: &StreamEntry, upstreams: Vec<String>) {
    for upstream in upstreams {
        let result = entry
            .client
            .http()
            .delete(&upstream)
            .timeout(TEARDOWN_TIMEOUT)
            .send()
            .await;
        if let Err(e) = result {
            // The URL carries the stream key: it stays out of the log.
            tracing::debug!(stream = %entry.id, error = %crate::telemetry::escaped(&e.without_url()), "session DELETE failed");
        }
    }
}

/// Ends every session of a stream that is going away.
pub async fn teardown(state: &AppState, entry: &StreamEntry) {
    let deletes = lease_input(
        state,
        Input::StreamRemoved {
            stream: entry.id.clone(),
        },
    );
    delete_upstream_all(entry, deletes).await;
}
