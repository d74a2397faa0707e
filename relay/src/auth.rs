//! Who may talk to the relay: a bearer token (or the `rtc_token` cookie for pages and
//! sockets), a `Host` header naming this machine (against DNS rebinding), an `Origin` (when
//! a browser sends one) equal to the relay's own scheme, host and port (against pages on
//! other local ports riding the cookie), and, on state-changing requests, a content type no
//! page can send cross-origin without a CORS preflight (which the relay never grants).
//! docs/ARCHITECTURE.md ("Threat model") explains who can reach what.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::config::Secret;
use crate::error::ApiError;

/// Name of the cookie that carries the token for pages and WebSockets.
pub const COOKIE_NAME: &str = "rtc_token";

/// The relay token and the host names the relay answers to.
#[derive(Debug)]
pub struct Guard {
    token: Secret,
    allowed_hosts: Vec<String>,
    port: u16,
}

impl Guard {
    /// `allowed_hosts` are extra names besides loopback and the bound address.
    pub fn new(token: Secret, bound: std::net::SocketAddr, extra_hosts: &[String]) -> Self {
        let mut allowed_hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"]
            .iter()
            .map(|h| (*h).to_owned())
            .collect();
        allowed_hosts.push(bound.ip().to_string());
        allowed_hosts.extend(extra_hosts.iter().map(|h| h.to_ascii_lowercase()));
        Self {
            token,
            allowed_hosts,
            port: bound.port(),
        }
    }

    /// The token, for the start-up message.
    pub fn token(&self) -> &Secret {
        &self.token
    }

    /// Whether `candidate` equals the token.
    pub fn token_matches(&self, candidate: &str) -> bool {
        secrets_match(self.token.expose(), candidate)
    }

    /// Whether a `Host` (or `Origin` authority) names this relay.
    pub fn host_allowed(&self, authority: &str) -> bool {
        let host = host_name(authority);
        self.allowed_hosts.contains(&host)
    }

    /// Whether a browser's `Origin` is the relay's own: `http`, a host it answers to and the
    /// port it listens on (a page on another port of the same host is another origin).
    pub fn origin_allowed(&self, origin: &str) -> bool {
        url::Url::parse(origin).is_ok_and(|url| {
            url.scheme() == "http"
                && url.host_str().is_some_and(|h| self.host_allowed(h))
                && url.port_or_known_default() == Some(self.port)
        })
    }
}

/// Body types a state-changing request may carry. Each one makes a cross-origin `fetch`
/// send a CORS preflight first, so a page elsewhere cannot forge the request; `text/plain`,
/// forms and a missing type need no preflight and are refused.
const STATE_CHANGE_TYPES: [&str; 4] = [
    "application/json",
    "application/sdp",
    "application/trickle-ice-sdpfrag",
    "application/octet-stream",
];

fn content_type_allowed(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| {
            STATE_CHANGE_TYPES
                .iter()
                .any(|t| essence.trim().eq_ignore_ascii_case(t))
        })
}

/// Whether `candidate` equals `expected`, in time independent of where they differ.
pub(crate) fn secrets_match(expected: &str, candidate: &str) -> bool {
    let expected = expected.as_bytes();
    let candidate = candidate.as_bytes();
    let mut diff = expected.len() ^ candidate.len();
    for (i, byte) in expected.iter().enumerate() {
        diff |= usize::from(byte ^ candidate.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

/// The host part of `host[:port]` / `[v6]:port`, lower-cased, brackets removed.
fn host_name(authority: &str) -> String {
    let authority = authority.trim().to_ascii_lowercase();
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default().to_owned();
    }
    authority
        .rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map_or(authority.clone(), |(host, _)| host.to_owned())
}

/// Paths that need no token: liveness, the local backend's WHIP/WHEP resources (unguessable
/// stream keys), its REST, which checks the key only the relay's own client holds, and its
/// sign-in page (a stand-in of Daydream's public page; what it issues only opens the local
/// backend).
fn is_public(path: &str) -> bool {
    path == "/healthz"
        || path.starts_with("/local/live/")
        || path.starts_with("/local/v1/")
        || path.starts_with("/local/sign-in/")
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(name, value)| (name == COOKIE_NAME).then_some(value))
}

fn query_token(query: Option<&str>) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
}

/// Middleware applied to every route.
pub async fn guard(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let guard = &state.guard;
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    if !host.is_some_and(|h| guard.host_allowed(h)) {
        return ApiError::Forbidden(
            "the Host header does not name this relay; add the name with --allowed-host".into(),
        )
        .into_response();
    }
    let path = request.uri().path();
    if is_public(path) {
        return next.run(request).await;
    }
    // Browsers send `Origin` on every WebSocket and state-changing request; whichever
    // credential comes with it, only the relay's own pages may use the API from a browser
    // (the pack's proxy drops the header, ComfyUI checks it on its side).
    let foreign = request
        .headers()
        .get(header::ORIGIN)
        .is_some_and(|o| !o.to_str().is_ok_and(|o| guard.origin_allowed(o)));
    if foreign {
        return ApiError::Forbidden("cross-origin request refused".into()).into_response();
    }
    if request.method() == Method::GET
        && let Some(token) = query_token(request.uri().query())
    {
        return exchange_token(guard, &token, path, request.uri().query());
    }
    let bearer_ok = bearer(request.headers()).is_some_and(|t| guard.token_matches(t));
    if !bearer_ok && !cookie(request.headers()).is_some_and(|t| guard.token_matches(t)) {
        return ApiError::Unauthorized.into_response();
    }
    if matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH
    ) && !content_type_allowed(request.headers())
    {
        return ApiError::UnsupportedMediaType(
            "state-changing requests need a Content-Type of application/json (or the \
             route's media type: application/sdp, application/octet-stream)"
                .into(),
        )
        .into_response();
    }
    next.run(request).await
}

/// `GET /any/page?token=T`: sets the HttpOnly cookie and redirects to the same path without
/// the token, so it does not stay in the address bar or the history. The page's other query
/// parameters (`agent.html?link=raw`, say) stay.
fn exchange_token(guard: &Guard, token: &str, path: &str, query: Option<&str>) -> Response {
    if !guard.token_matches(token) {
        return ApiError::Unauthorized.into_response();
    }
    let cookie = format!("{COOKIE_NAME}={token}; HttpOnly; SameSite=Strict; Path=/");
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        headers.insert(header::SET_COOKIE, value);
    }
    let path = if path.starts_with('/') { path } else { "/" };
    let rest: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .filter(|(k, _)| k != "token"),
        )
        .finish();
    let location = if rest.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{rest}")
    };
    if let Ok(value) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Loads the token: `RTC_RELAY_TOKEN`, else `<state_dir>/token`, else a new random one
/// written there with mode 0600.
pub fn load_or_create_token(
    configured: Option<&Secret>,
    state_dir: &std::path::Path,
) -> std::io::Result<Secret> {
    if let Some(token) = configured {
        return Ok(token.clone());
    }
    let path = state_dir.join("token");
    match std::fs::read_to_string(&path) {
        Ok(existing) if !existing.trim().is_empty() => return Ok(Secret::new(existing.trim())),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(crate::state_files::path_error(&path, &e)),
    }
    let token = random_token();
    crate::state_files::write_private(&path, token.as_bytes())?;
    Ok(Secret::new(token))
}

/// 64 hex characters from 32 bytes of the thread's CSPRNG (seeded by the OS).
pub(crate) fn random_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Guard {
        Guard::new(
            Secret::new("s3cret"),
            "127.0.0.1:8895".parse().unwrap(),
            &["gpu-box".into()],
        )
    }

    #[test]
    fn token_comparison_is_exact() {
        let g = guard();
        assert!(g.token_matches("s3cret"));
        assert!(!g.token_matches("s3cre"));
        assert!(!g.token_matches("s3crets"));
        assert!(!g.token_matches(""));
    }

    #[test]
    fn hosts_are_checked_without_port() {
        let g = guard();
        assert!(g.host_allowed("127.0.0.1:8895"));
        assert!(g.host_allowed("LOCALHOST"));
        assert!(g.host_allowed("[::1]:80"));
        assert!(g.host_allowed("gpu-box:8188"));
        assert!(!g.host_allowed("evil.example:8895"));
        assert!(!g.host_allowed("127.0.0.1.evil.example"));
    }

    #[test]
    fn origins_are_checked_with_scheme_and_port() {
        let g = guard();
        assert!(g.origin_allowed("http://127.0.0.1:8895"));
        assert!(g.origin_allowed("http://localhost:8895"));
        assert!(g.origin_allowed("http://[::1]:8895"));
        assert!(g.origin_allowed("http://gpu-box:8895"));
        assert!(
            !g.origin_allowed("http://127.0.0.1:3000"),
            "another local port"
        );
        assert!(!g.origin_allowed("http://localhost"), "port 80");
        assert!(
            !g.origin_allowed("https://127.0.0.1:8895"),
            "another scheme"
        );
        assert!(!g.origin_allowed("http://evil.example:8895"));
        assert!(!g.origin_allowed("null"));
    }

    #[test]
    fn only_preflighted_body_types_change_state() {
        let typed = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
            content_type_allowed(&headers)
        };
        assert!(typed("application/json"));
        assert!(typed("Application/JSON; charset=utf-8"));
        assert!(typed("application/sdp"));
        assert!(!typed("text/plain"));
        assert!(!typed("application/x-www-form-urlencoded"));
        assert!(!typed("multipart/form-data; boundary=x"));
        assert!(!content_type_allowed(&HeaderMap::new()));
    }

    #[test]
    fn generated_token_is_stored_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create_token(None, dir.path()).unwrap();
        assert_eq!(first.expose().len(), 64);
        let second = load_or_create_token(None, dir.path()).unwrap();
        assert_eq!(first, second);
        let explicit = Secret::new("from-env");
        assert_eq!(
            load_or_create_token(Some(&explicit), dir.path()).unwrap(),
            explicit
        );
    }
}
