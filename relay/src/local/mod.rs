//! The embedded Daydream stand-in: REST under `/local/v1`, WHIP/WHEP media under
//! `/local/live`. Runs by default so the product works with no account and no network.

pub mod faults;
pub mod media;
pub mod params;
pub mod rest;

use std::sync::Arc;

use axum::Router;

use crate::AppState;

/// Everything under `/local`: the REST API, the fault admin route and the media routes.
pub fn router(state: &Arc<AppState>) -> Router<Arc<AppState>> {
    rest::router(state).merge(state.media.router())
}
