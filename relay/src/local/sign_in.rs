//! The local backend's stand-in for Daydream's desktop sign-in, so the relay's sign-in runs end
//! to end with no network: `GET /sign-in/local?port=&state=` is a page whose button sends the
//! browser to `http://localhost:<port>/callback` with a JWT-shaped token and the state, and
//! `POST /v1/api-key` turns a token it issued (once) into an API key, like Daydream's.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Value, json};

use super::faults::FaultRoute;
use super::rest::{EnvelopeError, LocalResult, enter, nanoid, parse_body};
use crate::{AppState, html, lock};

/// Tokens kept for redemption; older ones are forgotten (a real token expires too).
const MAX_ISSUED: usize = 32;
/// Longest `state` the page accepts (Daydream's clients send 32 characters, the relay 64).
const MAX_STATE_LEN: usize = 256;

/// Sign-in tokens issued and not yet redeemed.
#[derive(Debug, Default)]
pub struct Issued {
    tokens: Mutex<VecDeque<String>>,
}

impl Issued {
    fn issue(&self) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let claims = json!({"sub": "local-user", "iat": crate::now_us() / 1_000_000});
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let token = format!("{header}.{payload}.{}", crate::auth::random_token());
        let mut tokens = lock(&self.tokens);
        if tokens.len() == MAX_ISSUED {
            tokens.pop_front();
        }
        tokens.push_back(token.clone());
        token
    }

    /// Whether `token` was issued and not redeemed yet; it cannot be redeemed again.
    fn redeem(&self, token: &str) -> bool {
        let mut tokens = lock(&self.tokens);
        let found = tokens
            .iter()
            .position(|t| crate::auth::secrets_match(t, token));
        found.and_then(|i| tokens.remove(i)).is_some()
    }
}

/// Routes of the stand-in sign-in, to be nested under `/local`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/sign-in/local", get(sign_in_page))
        .route("/sign-in/local/success", get(success_page))
        .route("/v1/api-key", post(create_api_key))
}

#[derive(Debug, Deserialize)]
struct SignInQuery {
    port: Option<String>,
    state: Option<String>,
}

async fn sign_in_page(
    State(app): State<Arc<AppState>>,
    Query(query): Query<SignInQuery>,
) -> Response {
    let port = query
        .port
        .as_deref()
        .and_then(|p| p.parse::<u16>().ok())
        .filter(|p| *p != 0);
    let state = query
        .state
        .filter(|s| !s.is_empty() && s.len() <= MAX_STATE_LEN);
    let (Some(port), Some(state)) = (port, state) else {
        return html::page(
            StatusCode::BAD_REQUEST,
            "Cannot sign in",
            "<p>This page needs <code>port</code> (1–65535) and <code>state</code> \
             (1–256 characters) in its address.</p>",
        );
    };
    let token = app.local.sign_ins.issue();
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", &token)
        .append_pair("state", &state)
        .finish();
    let callback = format!("http://localhost:{port}/callback?{query}");
    html::page(
        StatusCode::OK,
        "Sign in to Daydream (local)",
        &format!(
            "<p>The local backend stands in for Daydream: signing in here gives a key that \
             only the local backend accepts.</p>\
             <p><a class=\"button\" data-action=\"sign-in\" href=\"{}\">Sign in</a></p>",
            html::escape(&callback)
        ),
    )
}

async fn success_page() -> Response {
    html::page(
        StatusCode::OK,
        "Signed in",
        "<p>You are signed in. You can close this tab and go back to RTC Node.</p>",
    )
}

/// `POST /v1/api-key` with `Authorization: Bearer <issued token>` and `{name, user_type}`.
async fn create_api_key(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> LocalResult<Json<Value>> {
    let backend = &app.local;
    let body = parse_body(&headers, &bytes)?;
    enter(&backend.faults, FaultRoute::ApiKey, None, Some(&body)).await?;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    if !token.is_some_and(|t| backend.sign_ins.redeem(t)) {
        return Err(EnvelopeError::new(
            StatusCode::UNAUTHORIZED,
            "AUTH/UNAUTHORIZED",
            "Invalid or expired sign-in token",
        ));
    }
    for field in ["name", "user_type"] {
        let given = body.get(field).and_then(Value::as_str).map(str::trim);
        if given.is_none_or(str::is_empty) {
            return Err(EnvelopeError::new(
                StatusCode::BAD_REQUEST,
                "REQUEST/INVALID_BODY",
                format!("{field} is required"),
            ));
        }
    }
    Ok(Json(
        json!({"apiKey": format!("sk_local_{}{}", nanoid(), nanoid())}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_look_like_jwts_and_redeem_once() {
        let issued = Issued::default();
        let token = issued.issue();
        assert_eq!(token.split('.').count(), 3);
        assert!(!issued.redeem("eyJ.forged.token"));
        assert!(issued.redeem(&token));
        assert!(!issued.redeem(&token));
    }
}
