//! "Sign in with Daydream" against the local backend's sign-in page and `POST /v1/api-key`:
//! success, a wrong state, a timeout, a failed exchange, the pasted answer of a browser on
//! another machine, and the key never leaving the relay.

use std::time::Duration;

use crate::common;

use common::{Relay, expect_error};
use serde_json::{Value, json};

/// A relay whose Daydream API URL is its own local backend, so the sign-in uses the local page.
async fn relay_on_local_api(configure: impl FnOnce(&mut rtc_relay::config::Config)) -> Relay {
    let relay = Relay::start_with(configure).await;
    let local = relay.url("/local");
    let r = relay
        .put("/v1/credentials")
        .json(&json!({"api_url": local}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    relay
}

async fn start_sign_in(relay: &Relay) -> Value {
    let r = relay
        .post("/v1/credentials/sign-in")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let view: Value = r.json().await.unwrap();
    assert_eq!(view["status"], "waiting", "{view}");
    view
}

/// Opens the sign-in page like the browser (no relay token) and returns where its button goes.
async fn follow_page(relay: &Relay, view: &Value) -> url::Url {
    let page = view["sign_in_url"].as_str().unwrap();
    let r = relay.http.get(page).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let href = html
        .split("href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a link to the callback");
    url::Url::parse(&href.replace("&amp;", "&")).unwrap()
}

fn query(url: &url::Url, name: &str) -> String {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn with_state(callback: &url::Url, state: &str) -> url::Url {
    let token = query(callback, "token");
    let mut url = callback.clone();
    url.query_pairs_mut()
        .clear()
        .append_pair("token", &token)
        .append_pair("state", state);
    url
}

async fn wait_port_closed(port: u16) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "callback port {port} still open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn credentials(relay: &Relay) -> Value {
    relay.get_json("/v1/credentials").await
}

fn stored_key(relay: &Relay) -> Option<String> {
    let path = relay.state_dir.path().join("credentials.json");
    let stored: Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    stored["api_key"].as_str().map(str::to_owned)
}

#[tokio::test]
async fn sign_in_stores_the_key_and_sends_the_browser_to_the_success_page() {
    let relay = relay_on_local_api(|_| {}).await;
    let view = start_sign_in(&relay).await;
    let page = url::Url::parse(view["sign_in_url"].as_str().unwrap()).unwrap();
    assert_eq!(page.path(), "/local/sign-in/local");
    let state = query(&page, "state");
    assert!(state.len() >= 32, "state {state:?}");
    assert!(state.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(view["timeout_ms"], 300_000);
    // Each sign-in gets its own state.
    let again = start_sign_in(&relay).await;
    let page = url::Url::parse(again["sign_in_url"].as_str().unwrap()).unwrap();
    assert_ne!(query(&page, "state"), state);
    let port: u16 = query(&page, "port").parse().unwrap();

    let callback = follow_page(&relay, &again).await;
    assert_eq!(callback.host_str(), Some("localhost"));
    assert_eq!(callback.port(), Some(port));
    assert_eq!(callback.path(), "/callback");
    assert_eq!(query(&callback, "token").split('.').count(), 3);
    let r = relay.http.get(callback.as_str()).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        relay.url("/local/sign-in/local/success").as_str()
    );
    let redirect_body = r.text().await.unwrap();

    let key = stored_key(&relay).expect("the key is stored");
    assert!(key.starts_with("sk_local_"), "{key}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let path = relay.state_dir.path().join("credentials.json");
        assert_eq!(
            std::fs::metadata(path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let creds = credentials(&relay).await;
    assert_eq!(creds["has_api_key"], true);
    assert_eq!(creds["source"], "file");
    assert_eq!(creds["backend"], "daydream");
    let done = relay.get_json("/v1/credentials/sign-in").await;
    assert_eq!(done["status"], "signed_in", "{done}");
    assert!(done.get("sign_in_url").is_none());

    // The exchange sent Daydream's body, and the key is in no answer the relay gave.
    let exchange = relay
        .journal()
        .await
        .into_iter()
        .find(|e| e["route"] == "api_key")
        .expect("the exchange reached the local backend");
    assert_eq!(exchange["body"]["user_type"], "comfyui");
    assert!(exchange["body"]["name"].as_str().is_some());
    for answer in [
        view.to_string(),
        again.to_string(),
        redirect_body,
        creds.to_string(),
        done.to_string(),
    ] {
        assert!(!answer.contains(&key), "the key leaked in {answer}");
    }

    // The callback listener is gone once the sign-in is over.
    wait_port_closed(port).await;
}

#[tokio::test]
async fn a_wrong_state_is_refused_and_stores_nothing() {
    let relay = relay_on_local_api(|_| {}).await;
    let view = start_sign_in(&relay).await;
    let callback = follow_page(&relay, &view).await;

    let forged = with_state(&callback, "forged-state-0123456789abcdef0123456789");
    let r = relay.http.get(forged.as_str()).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = r.text().await.unwrap();
    assert!(page.contains("does not match"), "{page}");
    let missing = with_state(&callback, "");
    let r = relay.http.get(missing.as_str()).send().await.unwrap();
    assert_eq!(r.status(), 400);

    let pasted = relay
        .post("/v1/credentials/sign-in/callback")
        .json(&json!({"token": query(&callback, "token"), "state": "nope"}))
        .send()
        .await
        .unwrap();
    expect_error(pasted, 400, "sign_in_state_mismatch").await;
    assert_eq!(credentials(&relay).await["has_api_key"], false);
    assert!(stored_key(&relay).is_none());
    assert!(
        !relay
            .journal()
            .await
            .iter()
            .any(|e| e["route"] == "api_key"),
        "a wrong state never reaches Daydream"
    );

    // The sign-in still waits, and the right answer completes it.
    assert_eq!(
        relay.get_json("/v1/credentials/sign-in").await["status"],
        "waiting"
    );
    let r = relay.http.get(callback.as_str()).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(credentials(&relay).await["has_api_key"], true);
}

#[tokio::test]
async fn a_sign_in_times_out_with_a_clear_status() {
    let relay = relay_on_local_api(|c| c.sign_in_timeout_ms = 300).await;
    let view = start_sign_in(&relay).await;
    assert_eq!(view["timeout_ms"], 300);
    let callback = follow_page(&relay, &view).await;
    let started = tokio::time::Instant::now();
    let ended = relay
        .get_json("/v1/credentials/sign-in?wait_ms=10000")
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "long poll ended"
    );
    assert_eq!(ended["status"], "failed", "{ended}");
    assert_eq!(
        ended["message"],
        "no sign-in arrived within 300ms; start it again"
    );
    // The late answer finds nothing to complete.
    wait_port_closed(callback.port().unwrap()).await;
    let pasted = relay
        .post("/v1/credentials/sign-in/callback")
        .json(&json!({"token": query(&callback, "token"), "state": query(&callback, "state")}))
        .send()
        .await
        .unwrap();
    expect_error(pasted, 409, "no_sign_in").await;
    assert_eq!(credentials(&relay).await["has_api_key"], false);
}

#[tokio::test]
async fn a_failed_exchange_says_why_and_stores_nothing() {
    let relay = relay_on_local_api(|_| {}).await;
    relay
        .set_faults(json!([{"route": "api_key", "status": 503}]))
        .await;
    let view = start_sign_in(&relay).await;
    let callback = follow_page(&relay, &view).await;
    let r = relay.http.get(callback.as_str()).send().await.unwrap();
    assert_eq!(r.status(), 502);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("Daydream did not create an API key"),
        "{page}"
    );
    let failed = relay.get_json("/v1/credentials/sign-in").await;
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["message"].as_str().unwrap().contains("HTTP 503"),
        "{failed}"
    );
    assert_eq!(credentials(&relay).await["has_api_key"], false);

    // A token Daydream does not know (here: forged) is refused with its own message.
    let view = start_sign_in(&relay).await;
    let callback = follow_page(&relay, &view).await;
    let pasted = relay
        .post("/v1/credentials/sign-in/callback")
        .json(&json!({"token": "eyJ.forged.token", "state": query(&callback, "state")}))
        .send()
        .await
        .unwrap();
    let body = expect_error(pasted, 502, "sign_in_exchange_failed").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("did not accept the sign-in"),
        "{body}"
    );
    assert_eq!(credentials(&relay).await["has_api_key"], false);
}

#[tokio::test]
async fn a_browser_on_another_machine_finishes_by_pasting_the_address() {
    let relay = relay_on_local_api(|_| {}).await;
    let view = start_sign_in(&relay).await;
    let callback = follow_page(&relay, &view).await;
    let r = relay
        .post("/v1/credentials/sign-in/callback")
        .json(&json!({"token": query(&callback, "token"), "state": query(&callback, "state")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "signed_in");
    let key = stored_key(&relay).unwrap();
    assert!(!body.to_string().contains(&key));
    assert_eq!(credentials(&relay).await["has_api_key"], true);
    // The state was good for one answer.
    let again = relay
        .post("/v1/credentials/sign-in/callback")
        .json(&json!({"token": query(&callback, "token"), "state": query(&callback, "state")}))
        .send()
        .await
        .unwrap();
    expect_error(again, 409, "no_sign_in").await;
}

#[tokio::test]
async fn cancel_ends_the_sign_in_and_the_routes_need_the_token() {
    let relay = relay_on_local_api(|_| {}).await;
    let view = start_sign_in(&relay).await;
    let callback = follow_page(&relay, &view).await;
    let cancelled: Value = relay
        .delete("/v1/credentials/sign-in")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled["status"], "failed");
    assert_eq!(cancelled["message"], "sign-in cancelled");
    let pasted = relay
        .post("/v1/credentials/sign-in/callback")
        .json(&json!({"token": query(&callback, "token"), "state": query(&callback, "state")}))
        .send()
        .await
        .unwrap();
    expect_error(pasted, 409, "no_sign_in").await;

    for (method, path) in [
        (reqwest::Method::POST, "/v1/credentials/sign-in"),
        (reqwest::Method::GET, "/v1/credentials/sign-in"),
        (reqwest::Method::DELETE, "/v1/credentials/sign-in"),
        (reqwest::Method::POST, "/v1/credentials/sign-in/callback"),
    ] {
        let r = relay
            .http
            .request(method, relay.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
}

#[tokio::test]
async fn the_cloud_api_url_signs_in_on_daydreams_page() {
    let relay = Relay::start().await;
    let view = start_sign_in(&relay).await;
    let page = url::Url::parse(view["sign_in_url"].as_str().unwrap()).unwrap();
    assert_eq!(
        page.as_str().split('?').next(),
        Some("https://app.daydream.live/sign-in/local")
    );
    let port: u16 = query(&page, "port").parse().unwrap();
    assert_ne!(port, relay.addr.port());
    // The callback listener is loopback only and names no foreign host.
    let foreign = relay
        .http
        .get(format!("http://127.0.0.1:{port}/callback?token=t&state=s"))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    relay
        .delete("/v1/credentials/sign-in")
        .send()
        .await
        .unwrap();
    wait_port_closed(port).await;
}

#[tokio::test]
async fn the_local_api_key_route_checks_the_token_it_issued() {
    let relay = Relay::start().await;
    let body = json!({"name": "x", "user_type": "comfyui"});
    let anonymous = relay
        .http
        .post(relay.url("/local/v1/api-key"))
        .bearer_auth("any-non-empty-key")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let envelope: Value = anonymous.json().await.unwrap();
    assert_eq!(envelope["code"], "AUTH/UNAUTHORIZED");

    let bad_page = relay
        .http
        .get(relay.url("/local/sign-in/local?port=0&state=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_page.status(), 400);
    // Markup in the state comes back escaped.
    let page = relay
        .http
        .get(relay.url("/local/sign-in/local?port=9&state=%3Cscript%3E"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("<script>"));
}
