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

#[tokio::test]
async fn without_a_pages_folder_the_relay_names_the_setting_instead_of_serving_files() {
    let relay = common::Relay::start().await;
    for path in ["/", "/index.html", "/js/comfy.mjs"] {
        let body = common::expect_error(
            relay.get(path).send().await.unwrap(),
            404,
            "pages_not_configured",
        )
        .await;
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("RTC_RELAY_WWW_DIR"), "{message}");
        assert!(message.contains("--www-dir"), "{message}");
    }
    relay.stop().await;
}

#[tokio::test]
async fn the_pages_folder_and_the_wasm_package_come_from_the_settings() {
    let www = tempfile::tempdir().unwrap();
    std::fs::write(
        www.path().join("index.html"),
        "<!doctype html><title>studio</title>",
    )
    .unwrap();
    let pkg = tempfile::tempdir().unwrap();
    std::fs::write(pkg.path().join("rtc_client.js"), "export default 1;").unwrap();
    let (www_dir, pkg_dir) = (www.path().to_path_buf(), pkg.path().to_path_buf());
    let relay = common::Relay::start_with(move |config| {
        config.www_dir = Some(www_dir);
        config.pkg_dir = Some(pkg_dir);
    })
    .await;
    let page = relay.get("/").send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("studio"));
    let glue = relay.get("/pkg/rtc_client.js").send().await.unwrap();
    assert_eq!(glue.status(), 200);
    assert_eq!(glue.text().await.unwrap(), "export default 1;");
    assert_eq!(
        relay.get("/missing.html").send().await.unwrap().status(),
        404
    );
    relay.stop().await;
}
