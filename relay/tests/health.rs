//! The relay answers `/healthz` over real HTTP on port 0.

use clap::Parser;
use rtc_relay::config::Config;

#[tokio::test]
async fn healthz_reports_version_and_local_backend() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = Config::parse_from(["rtc-relay"]);
    config.api_key = None;
    config.backend = None;
    tokio::spawn(rtc_relay::serve(listener, config));

    let body: serde_json::Value = reqwest::get(format!("http://{addr}/healthz"))
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
}

#[test]
fn non_loopback_bind_needs_explicit_flag() {
    let config = Config::parse_from(["rtc-relay", "--addr", "0.0.0.0:8895"]);
    assert!(config.check_bind().is_err());
    let config = Config::parse_from(["rtc-relay", "--addr", "0.0.0.0:8895", "--allow-remote"]);
    assert!(config.check_bind().is_ok());
}
