//! The relay answers `/healthz` over real HTTP on port 0, without a token.

use crate::common;

use clap::Parser;
use rtc_relay::config::Config;

#[tokio::test]
async fn healthz_reports_version_and_local_backend() {
    let relay = common::Relay::start().await;
    let body: serde_json::Value = reqwest::get(relay.url("/healthz"))
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["ok"], true);
    assert_eq!(body["backend"], "local");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    relay.stop().await;
}

#[test]
fn non_loopback_bind_needs_explicit_flag() {
    let config = Config::parse_from(["rtc-relay", "--addr", "0.0.0.0:8895"]);
    assert!(config.check_bind().is_err());
    let config = Config::parse_from(["rtc-relay", "--addr", "0.0.0.0:8895", "--allow-remote"]);
    assert!(config.check_bind().is_ok());
}
