//! Serves the standalone pages (`www/`) at `/` and the wasm package at `/pkg/`, from the
//! folders the configuration names, and nothing otherwise: no path of the machine the binary
//! was built on is looked at. Inside ComfyUI the pack serves these files itself, at `/rtc/ui/`.

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::services::ServeDir;

use crate::AppState;
use crate::error::ApiError;

/// Longest file name (one path segment) Linux, macOS and Windows file systems allow.
const MAX_NAME_BYTES: usize = 255;
/// Longest path the file system is asked about (Linux's `PATH_MAX` is 4096).
const MAX_PATH_BYTES: usize = 4000;

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
    let router = match &config.www_dir {
        Some(www) => router.fallback_service(ServeDir::new(www)),
        None => router.fallback(not_configured),
    };
    router.layer(axum::middleware::from_fn(refuse_impossible_paths))
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

/// A path no file can have is not found. Asked about it, the file system fails with "name too
/// long", which the file service would answer with a 500.
async fn refuse_impossible_paths(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let too_long = decoded_len(path) > MAX_PATH_BYTES
        || path
            .split('/')
            .any(|segment| decoded_len(segment) > MAX_NAME_BYTES);
    if too_long {
        return crate::error::not_found().await.into_response();
    }
    next.run(request).await
}

/// Length in bytes of `text` once its `%XX` escapes are decoded.
fn decoded_len(text: &str) -> usize {
    let bytes = text.as_bytes();
    let (mut at, mut len) = (0, 0);
    while at < bytes.len() {
        let escape = bytes[at] == b'%'
            && bytes
                .get(at + 1..at + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit));
        at += if escape { 3 } else { 1 };
        len += 1;
    }
    len
}

#[cfg(test)]
mod tests {
    use super::decoded_len;

    #[test]
    fn escapes_count_as_one_byte() {
        assert_eq!(decoded_len("abc"), 3);
        assert_eq!(decoded_len("%78%79z"), 3);
        assert_eq!(decoded_len("%zz%4"), 5);
        assert_eq!(decoded_len(""), 0);
    }
}
