//! `GET /healthz`: liveness, version and backend; the only route that needs no token.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::AppState;

/// Body of `GET /healthz`.
#[derive(Debug, Serialize)]
pub struct Health {
    /// Always `true` when the relay answers.
    pub ok: bool,
    /// Crate version.
    pub version: &'static str,
    /// `local` or `daydream`.
    pub backend: &'static str,
    /// UDP addresses the local backend's media server announces to browsers (loopback
    /// only, unless configured to reach further).
    pub media: Vec<String>,
}

/// Routes of this module.
pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/healthz", get(healthz))
}

async fn healthz(State(state): State<Arc<AppState>>) -> Json<Health> {
    Json(Health {
        ok: true,
        version: env!("CARGO_PKG_VERSION"),
        backend: state.credentials.backend().as_str(),
        media: state
            .media
            .candidates()
            .iter()
            .map(ToString::to_string)
            .collect(),
    })
}
