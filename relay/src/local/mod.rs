//! The embedded Daydream stand-in: REST under `/local/v1`, WHIP/WHEP media under
//! `/local/live`, the desktop sign-in page under `/local/sign-in`. Runs by default so the product works with no account and no network.

pub mod effect;
pub mod faults;
pub mod media;
pub mod params;
pub mod rest;
pub mod sign_in;

use std::sync::Arc;

use axum::Router;

use crate::AppState;

/// Everything under `/local`: the REST API, the fault admin route, the sign-in page and the
/// media routes.
pub fn router(state: &Arc<AppState>) -> Router<Arc<AppState>> {
    rest::router(state)
        .merge(sign_in::router())
        .merge(state.media.router())
}
