//! Serves the standalone pages (`www/`) at `/` and the wasm package at `/pkg/`, from the
//! folders the configuration names, and nothing otherwise: no path of the machine the binary
//! was built on is looked at. Inside ComfyUI the pack serves these files itself, at `/rtc/ui/`.

use std::sync::Arc;

use axum::Router;
use tower_http::services::ServeDir;

use crate::AppState;
use crate::error::ApiError;

/// Routes of this module.
pub fn router(state: &AppState) -> Router<Arc<AppState>> {
    let config = &state.config;
    let pkg = config
        .pkg_dir
        .clone()
        .or_else(|| config.www_dir.as_ref().map(|www| www.join("pkg")));
    let router = match pkg {
        Some(pkg) => Router::new().nest_service("/pkg", ServeDir::new(pkg)),
        None => Router::new(),
    };
    match &config.www_dir {
        Some(www) => router.fallback_service(ServeDir::new(www)),
        None => router.fallback(not_configured),
    }
}

/// What a request for a page gets from a relay started without a pages folder.
async fn not_configured() -> ApiError {
    ApiError::NotFound {
        code: "pages_not_configured",
        message: "this relay serves no pages: start it with --www-dir <folder> or \
                  RTC_RELAY_WWW_DIR=<folder> (the repository's www/; the wasm package is \
                  then looked for in <folder>/pkg unless --pkg-dir or RTC_RELAY_PKG_DIR says \
                  otherwise). Inside ComfyUI the pack serves the pages at /rtc/ui/."
            .into(),
    }
}
