//! Serves the web pages (`www/`) at `/` and the wasm package at `/pkg/`.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use tower_http::services::ServeDir;

use crate::AppState;

/// Where the files come from when no flag says otherwise: the checkout this binary was built
/// from (the pack ships as a clone that builds the relay in place).
fn default_dir(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

/// Routes of this module.
pub fn router(state: &AppState) -> Router<Arc<AppState>> {
    let www = state
        .config
        .www_dir
        .clone()
        .unwrap_or_else(|| default_dir("www"));
    let pkg = state
        .config
        .pkg_dir
        .clone()
        .unwrap_or_else(|| www.join("pkg"));
    Router::new()
        .nest_service("/pkg", ServeDir::new(pkg))
        .fallback_service(ServeDir::new(www))
}
