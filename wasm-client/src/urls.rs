//! Where the agent finds the relay: URL resolution against the API base. Pure, tested natively.

/// `url` resolved against the API base: paths starting with `/` are relay routes and stay
/// under the base (so `/v1/...` works behind ComfyUI's `/rtc/api/` proxy); anything else is
/// resolved like a link.
pub fn resolve_url(base: &str, url: &str) -> String {
    if let Some(path) = url.strip_prefix('/').filter(|p| !p.starts_with('/')) {
        format!("{}/{path}", base.trim_end_matches('/'))
    } else if url
        .split_once(':')
        .is_some_and(|(_, rest)| rest.starts_with("//"))
    {
        url.to_owned()
    } else {
        format!("{}/{url}", base.trim_end_matches('/'))
    }
}

/// `http(s)://` → `ws(s)://`.
pub fn websocket_url(http_url: &str) -> String {
    if let Some(rest) = http_url.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = http_url.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        http_url.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_paths_stay_under_the_base() {
        assert_eq!(
            resolve_url("http://h:1/rtc/api/", "/v1/streams/s/whip"),
            "http://h:1/rtc/api/v1/streams/s/whip"
        );
        assert_eq!(
            resolve_url("http://h:1/", "/v1/agent"),
            "http://h:1/v1/agent"
        );
        assert_eq!(
            resolve_url("http://h:1/", "v1/agent"),
            "http://h:1/v1/agent"
        );
        assert_eq!(
            resolve_url("http://h:1/", "https://x/whip"),
            "https://x/whip"
        );
        assert_eq!(websocket_url("https://h/v1/agent"), "wss://h/v1/agent");
        assert_eq!(websocket_url("http://h/v1/agent"), "ws://h/v1/agent");
    }
}
