//! Token, cookie, Host and Origin checks over real HTTP.

use crate::common;

use common::{Relay, TOKEN, expect_error};

#[tokio::test]
async fn every_route_but_healthz_and_media_needs_the_token() {
    let relay = Relay::start().await;
    for path in [
        "/v1/streams",
        "/v1/config",
        "/v1/credentials",
        "/v1/events",
        "/v1/agent",
        "/status",
        "/config",
        "/whep/status",
        "/local/_faults",
        "/",
        "/pkg/rtc_client.js",
    ] {
        let r = relay.http.get(relay.url(path)).send().await.unwrap();
        expect_error(r, 401, "unauthorized").await;
        let r = relay
            .http
            .get(relay.url(path))
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap();
        expect_error(r, 401, "unauthorized").await;
    }
    let r = relay.http.post(relay.url("/start")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");

    assert_eq!(
        relay
            .http
            .get(relay.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Media resources are protected by their unguessable keys, not the token.
    let media = relay
        .http
        .post(relay.url("/local/live/video-to-video/stk_x/whip"))
        .send()
        .await
        .unwrap();
    assert_ne!(media.status(), 401);
    // The local REST checks a Daydream-style key of its own.
    let rest = relay
        .http
        .get(relay.url("/local/v1/streams"))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 401);
    let body: serde_json::Value = rest.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert_eq!(body["status"], 401);
    relay.stop().await;
}

#[tokio::test]
async fn foreign_host_is_refused_even_with_the_token() {
    let relay = Relay::start().await;
    for host in ["evil.example", "evil.example:8895", "127.0.0.1.nip.io"] {
        let r = relay
            .get("/v1/streams")
            .header("host", host)
            .send()
            .await
            .unwrap();
        expect_error(r, 403, "forbidden").await;
    }
    let r = relay
        .http
        .get(relay.url("/healthz"))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        403,
        "DNS rebinding is refused on public routes too"
    );
    let r = relay
        .get("/v1/streams")
        .header("host", format!("localhost:{}", relay.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    relay.stop().await;
}

#[tokio::test]
async fn extra_allowed_hosts_are_accepted() {
    let relay = Relay::start_with(|c| c.allowed_hosts = vec!["gpu-box".into()]).await;
    let r = relay
        .get("/v1/streams")
        .header("host", "gpu-box:8895")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    relay.stop().await;
}

#[tokio::test]
async fn token_query_is_exchanged_for_an_httponly_cookie() {
    let relay = Relay::start().await;
    let r = relay
        .http
        .get(relay.url("/?token=wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let r = relay
        .http
        .get(relay.url(&format!("/studio.html?token={TOKEN}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "/studio.html",
        "the token leaves the address bar"
    );
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    let kept = relay
        .http
        .get(relay.url(&format!("/agent.html?link=raw&token={TOKEN}&camera=1")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        kept.headers()["location"],
        "/agent.html?link=raw&camera=1",
        "the page's own parameters stay"
    );
    assert!(
        cookie.starts_with(&format!("rtc_token={TOKEN}")),
        "{cookie}"
    );
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );

    let with_cookie = relay
        .http
        .get(relay.url("/v1/streams"))
        .header("cookie", format!("other=1; rtc_token={TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(with_cookie.status(), 200);

    // Another local page (same site, other port) cannot ride the cookie.
    let cross = relay
        .http
        .get(relay.url("/v1/streams"))
        .header("cookie", format!("rtc_token={TOKEN}"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    expect_error(cross, 403, "forbidden").await;
    let same = relay
        .http
        .get(relay.url("/v1/streams"))
        .header("cookie", format!("rtc_token={TOKEN}"))
        .header("origin", format!("http://127.0.0.1:{}", relay.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), 200);
    relay.stop().await;
}

#[tokio::test]
async fn no_wildcard_cors() {
    let relay = Relay::start().await;
    let r = relay
        .get("/v1/streams")
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let preflight = relay
        .http
        .request(reqwest::Method::OPTIONS, relay.url("/v1/streams"))
        .header("origin", "http://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    relay.stop().await;
}

#[tokio::test]
async fn generated_token_is_written_0600() {
    let relay = Relay::start_with(|c| c.token = None).await;
    let path = relay.state_dir.path().join("token");
    let token = std::fs::read_to_string(&path).unwrap();
    assert_eq!(token.trim().len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let r = relay
        .http
        .get(relay.url("/v1/streams"))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    relay.stop().await;
}
