//! WHIP (RFC 9725) and WHEP (draft-ietf-wish-whep-04) resources over axum.

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{OriginalUri, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, post};

use super::MediaServer;
use super::error::MediaError;
use super::signaling::{Role, check_content_type, check_offer, origin_allowed, playback_url};

/// Largest accepted offer; real offers are a few kilobytes.
pub const MAX_OFFER_BYTES: usize = 64 * 1024;

const ENDPOINT_ALLOW: &str = "POST, OPTIONS";
const SESSION_ALLOW: &str = "DELETE, OPTIONS";
const PLAYBACK_URL_HEADER: &str = "livepeer-playback-url";

/// The WHIP/WHEP routes, relative to where the router is nested.
pub(super) fn router<S: Clone + Send + Sync + 'static>(server: MediaServer) -> Router<S> {
    Router::new()
        .route(
            "/live/video-to-video/{segment}/whip",
            endpoint(Role::Publisher),
        )
        .route(
            "/live/video-to-video/{segment}/whep",
            endpoint(Role::Viewer),
        )
        .route(
            "/live/video-to-video/{segment}/whip/{session}",
            session(Role::Publisher),
        )
        .route(
            "/live/video-to-video/{segment}/whep/{session}",
            session(Role::Viewer),
        )
        .layer(middleware::from_fn(cors))
        .with_state(server)
}

fn endpoint(role: Role) -> MethodRouter<MediaServer> {
    post(
        move |State(server): State<MediaServer>,
              Path(segment): Path<String>,
              OriginalUri(uri): OriginalUri,
              headers: HeaderMap,
              body: Body| async move {
            let key = stream_key(&segment, role)?;
            let offer = read_offer(&server, key, &headers, body, role).await?;
            // A new peer generates its DTLS certificate: off the async workers.
            let created = {
                let (server, key) = (server.clone(), key.to_owned());
                tokio::task::spawn_blocking(move || server.accept_offer(&key, offer, role))
                    .await
                    .map_err(|_| MediaError::Unavailable)??
            };
            let location = format!("{}/{}", uri.path().trim_end_matches('/'), created.session);
            let mut response = (StatusCode::CREATED, created.answer).into_response();
            let out = response.headers_mut();
            out.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/sdp"),
            );
            insert(out, header::LOCATION.as_str(), &location);
            insert(out, header::ETAG.as_str(), &created.etag);
            if role == Role::Publisher {
                let host = headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or("127.0.0.1");
                insert(out, PLAYBACK_URL_HEADER, &playback_url(host, key));
            }
            Ok::<_, MediaError>(response)
        },
    )
    .options(|| async { preflight(ENDPOINT_ALLOW) })
    .fallback(|| async {
        MediaError::MethodNotAllowed {
            allow: ENDPOINT_ALLOW,
        }
    })
}

fn session(role: Role) -> MethodRouter<MediaServer> {
    any(|| async {
        // Trickle ICE and ICE restart are not offered: our answer already carries every
        // candidate, and clients treat 405 as "no trickle".
        MediaError::MethodNotAllowed {
            allow: SESSION_ALLOW,
        }
    })
    .delete(
        move |State(server): State<MediaServer>,
              Path((segment, session)): Path<(String, String)>| async move {
            let key = stream_key(&segment, role)?;
            server.end_session(key, &session, role)?;
            Ok::<_, MediaError>(StatusCode::OK)
        },
    )
    .options(|| async { preflight(SESSION_ALLOW) })
}

/// The stream key inside a path segment: WHEP endpoints carry a `-out` suffix.
fn stream_key(segment: &str, role: Role) -> Result<&str, MediaError> {
    match role {
        Role::Publisher => Ok(segment),
        Role::Viewer => segment
            .strip_suffix("-out")
            .ok_or(MediaError::UnknownStream),
    }
}

async fn read_offer(
    server: &MediaServer,
    key: &str,
    headers: &HeaderMap,
    body: Body,
    role: Role,
) -> Result<str0m::change::SdpOffer, MediaError> {
    if server.status(key).is_none() {
        return Err(MediaError::UnknownStream);
    }
    check_content_type(headers)?;
    let bytes = to_bytes(body, MAX_OFFER_BYTES)
        .await
        .map_err(|_| MediaError::TooLarge {
            limit: MAX_OFFER_BYTES,
        })?;
    check_offer(&bytes, role)
}

fn preflight(allow: &'static str) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert(header::ALLOW, HeaderValue::from_static(allow));
    if allow == ENDPOINT_ALLOW {
        headers.insert("accept-post", HeaderValue::from_static("application/sdp"));
    }
    response
}

fn insert(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// CORS for loopback and same-origin pages only; other origins get no CORS headers, so
/// browsers refuse to hand them our responses.
async fn cors(request: Request, next: Next) -> Response {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(str::to_owned);
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("origin"));
    let Some(origin) = origin.filter(|o| origin_allowed(o, host.as_deref())) else {
        return response;
    };
    insert(
        headers,
        header::ACCESS_CONTROL_ALLOW_ORIGIN.as_str(),
        &origin,
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, DELETE, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type, authorization, if-match"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("location, etag, livepeer-playback-url, link"),
    );
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(600));
    response
}
