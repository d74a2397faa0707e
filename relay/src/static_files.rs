//! Serves the web pages (`www/`) at `/` and the wasm package at `/pkg/`.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::services::ServeDir;

use crate::AppState;

/// Longest file name (one path segment) Linux, macOS and Windows file systems allow.
const MAX_NAME_BYTES: usize = 255;
/// Longest path the file system is asked about (Linux's `PATH_MAX` is 4096).
const MAX_PATH_BYTES: usize = 4000;

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
        .layer(axum::middleware::from_fn(refuse_impossible_paths))
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
