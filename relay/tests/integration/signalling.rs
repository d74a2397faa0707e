//! Daydream mode against a stand-in of the cloud API: the WHIP/WHEP signalling proxy,
//! playback-URL handling, the key's confinement, and deleting remote streams on shutdown.

use crate::common;

use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use common::{Relay, agent, expect_error, next_of_type};
use rtc_relay::config::{Backend, Secret};
use serde_json::{Value, json};

const KEY: &str = "sk_test_secret_key";
const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n";

#[derive(Clone, Default)]
struct Cloud {
    base: Arc<Mutex<String>>,
    seen: Arc<Mutex<Vec<String>>>,
    whep_posts: Arc<Mutex<u32>>,
}

impl Cloud {
    fn note(&self, what: String) {
        self.seen.lock().unwrap().push(what);
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    fn base(&self) -> String {
        self.base.lock().unwrap().clone()
    }
}

fn auth_of(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .map_or("none".into(), |v| v.to_str().unwrap().to_owned())
}

async fn start_cloud() -> Cloud {
    let cloud = Cloud::default();
    let app = Router::new()
        .route(
            "/v1/streams",
            post(
                |State(c): State<Cloud>, h: HeaderMap, Json(body): Json<Value>| async move {
                    c.note(format!("POST /v1/streams auth={} body={body}", auth_of(&h)));
                    let base = c.base();
                    (
                        StatusCode::CREATED,
                        Json(json!({"id": "str_fake1", "stream_key": "stk_fake1",
                        "whip_url": format!("{base}/redirect/stk_fake1/whip"),
                        "output_playback_id": "pb1", "name": body["name"],
                        "params": body["params"], "pipeline": "streamdiffusion"})),
                    )
                },
            )
            .delete(
                |State(c): State<Cloud>, Query(q): Query<Value>, h: HeaderMap| async move {
                    c.note(format!(
                        "DELETE /v1/streams?id={} auth={}",
                        q["id"].as_str().unwrap_or(""),
                        auth_of(&h)
                    ));
                    Json(json!({"success": true, "data": {}}))
                },
            ),
        )
        .route(
            "/v1/streams/{id}/status",
            get(|State(c): State<Cloud>| async move {
                Json(
                    json!({"success": true, "error": null, "data": {"state": "ONLINE",
                    "gateway_status": {"whep_url": format!("{}/status-whep", c.base())}}}),
                )
            }),
        )
        .route(
            "/redirect/{key}/whip",
            post(|Path(key): Path<String>| async move {
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [("location", format!("/ingest/{key}/whip"))],
                )
            }),
        )
        .route(
            "/ingest/{key}/whip",
            post(
                |State(c): State<Cloud>, h: HeaderMap, body: String| async move {
                    c.note(format!(
                        "POST whip auth={} type={}",
                        auth_of(&h),
                        h["content-type"].to_str().unwrap()
                    ));
                    assert!(body.starts_with("v=0"));
                    (
                        StatusCode::CREATED,
                        [
                            ("location", "whip/session-1".to_owned()),
                            ("content-type", "application/sdp".to_owned()),
                            ("etag", "\"e1\"".to_owned()),
                            (
                                "livepeer-playback-url",
                                format!("{}/play/out/whep", c.base()),
                            ),
                        ],
                        "v=0\r\nanswer\r\n",
                    )
                },
            ),
        )
        .route(
            "/ingest/{key}/whip/session-1",
            delete(|State(c): State<Cloud>| async move {
                c.note("DELETE whip session".into());
                StatusCode::OK
            })
            .patch(|State(c): State<Cloud>, h: HeaderMap| async move {
                c.note(format!(
                    "PATCH whip if-match={}",
                    h.get("if-match").map_or("", |v| v.to_str().unwrap())
                ));
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/play/out/whep",
            post(|State(c): State<Cloud>| async move {
                let n = {
                    let mut posts = c.whep_posts.lock().unwrap();
                    *posts += 1;
                    *posts
                };
                // The gateway's "no output yet", then a media server's "not ready".
                if n == 1 {
                    return (StatusCode::NOT_FOUND, "no output").into_response();
                }
                if n == 2 {
                    return (
                        StatusCode::CONFLICT,
                        [("retry-after", "1")],
                        "no publisher yet",
                    )
                        .into_response();
                }
                c.note("POST whep".into());
                (
                    StatusCode::CREATED,
                    [
                        ("location", "/play/out/whep/s1"),
                        ("content-type", "application/sdp"),
                    ],
                    "v=0\r\nwhep\r\n",
                )
                    .into_response()
            }),
        )
        .route(
            "/play/out/whep/s1",
            delete(|State(c): State<Cloud>| async move {
                c.note("DELETE whep session".into());
                StatusCode::OK
            }),
        )
        .with_state(cloud.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    *cloud.base.lock().unwrap() = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    cloud
}

/// POSTs the test offer to `path`.
async fn offer(relay: &Relay, path: &str) -> reqwest::Response {
    relay
        .post(path)
        .header("content-type", "application/sdp")
        .body(OFFER)
        .send()
        .await
        .unwrap()
}

/// The relative `Location` of a new session: `{kind}/{32 hex digits}`; returns the id.
fn session_location(response: &reqwest::Response, kind: &str) -> String {
    let location = response.headers()["location"].to_str().unwrap();
    let id = location
        .strip_prefix(&format!("{kind}/"))
        .unwrap_or_else(|| panic!("relative {kind} session Location, got {location}"));
    assert_eq!(id.len(), 32, "{location}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{location}");
    id.to_owned()
}

async fn relay_for(cloud: &Cloud) -> Relay {
    let base = cloud.base();
    Relay::start_with(move |c| {
        c.api_key = Some(Secret::new(KEY));
        c.backend = Some(Backend::Daydream);
        c.api_url = Some(format!("{base}/v1/streams"));
    })
    .await
}

#[tokio::test]
async fn whip_and_whep_are_proxied_with_sessions_kept() {
    let cloud = start_cloud().await;
    let relay = relay_for(&cloud).await;
    let (mut holder, _) = agent(&relay, true).await;
    let stream = relay.default_stream().await;
    let id = stream["id"].as_str().unwrap();
    assert_eq!(id, "str_fake1");
    let grant = next_of_type(&mut holder, "publish").await;
    let whip = format!("/v1/streams/{id}/whip");
    // The grant's URL carries the lease; nothing else may publish.
    let leased = grant["whip_url"].as_str().unwrap().to_owned();
    assert!(leased.starts_with(&format!("{whip}?lease=")), "{leased}");
    for stranger in [whip.clone(), format!("{whip}?lease=lse_999")] {
        let refused = offer(&relay, &stranger).await;
        expect_error(refused, 409, "not_lease_holder").await;
    }
    let wrong_type = relay
        .post(&leased)
        .header("content-type", "text/plain")
        .body(OFFER)
        .send()
        .await
        .unwrap();
    expect_error(wrong_type, 415, "unsupported_media_type").await;
    let not_sdp = relay
        .post(&leased)
        .header("content-type", "application/sdp")
        .body("hello")
        .send()
        .await
        .unwrap();
    expect_error(not_sdp, 400, "bad_sdp").await;
    expect_error(
        relay.delete(&format!("{whip}/nope")).send().await.unwrap(),
        404,
        "no_session",
    )
    .await;
    expect_error(
        offer(&relay, "/v1/streams/str_nope/whip").await,
        404,
        "stream_not_found",
    )
    .await;

    let answer = offer(&relay, &leased).await;
    assert_eq!(answer.status(), 201);
    // Relative, so it resolves under any prefix (ComfyUI's /rtc/api/); the upstream URL
    // stays private.
    let whip_session = session_location(&answer, "whip");
    let whip_session = format!("{whip}/{whip_session}");
    assert_eq!(answer.headers()["etag"], "\"e1\"");
    assert_eq!(answer.headers()["content-type"], "application/sdp");
    assert!(answer.headers().get("livepeer-playback-url").is_none());
    assert_eq!(answer.text().await.unwrap(), "v=0\r\nanswer\r\n");
    assert!(
        cloud
            .seen()
            .contains(&"POST whip auth=none type=application/sdp".to_owned()),
        "{:?}",
        cloud.seen()
    );

    // The holder is told to play the output through the proxy.
    let play = next_of_type(&mut holder, "play").await;
    assert_eq!(play["whep_url"], format!("/v1/streams/{id}/whep"));
    assert_eq!(play["format"], "rgba8");
    let one: Value = relay
        .get(&format!("/v1/streams/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The upstream playback URL is used (below) but never shown.
    assert_eq!(one["whep_url"], format!("/v1/streams/{id}/whep"));
    assert!(!one.to_string().contains("/play/out/whep"), "{one}");

    let patch = relay
        .patch(&whip_session)
        .header("content-type", "application/trickle-ice-sdpfrag")
        .header("if-match", "\"e1\"")
        .body("a=x")
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 204);
    assert!(
        cloud
            .seen()
            .contains(&"PATCH whip if-match=\"e1\"".to_owned())
    );

    let whep = format!("/v1/streams/{id}/whep");
    let early = offer(&relay, &whep).await;
    assert_eq!(early.headers()["retry-after"], "1");
    expect_error(early, 409, "output_not_ready").await;
    let busy = offer(&relay, &whep).await;
    assert_eq!(busy.status(), 409);
    assert_eq!(busy.headers()["retry-after"], "1");
    // The media server's own answer is passed through, not rewrapped as a relay error.
    assert_eq!(busy.text().await.unwrap(), "no publisher yet");
    let ok = offer(&relay, &whep).await;
    assert_eq!(ok.status(), 201);
    let first_viewer = format!("{whep}/{}", session_location(&ok, "whep"));
    let second = offer(&relay, &whep).await;
    assert_eq!(second.status(), 201);
    let second_viewer = format!("{whep}/{}", session_location(&second, "whep"));
    assert_ne!(first_viewer, second_viewer, "one session per client");

    // Ending one viewer leaves the other; a second DELETE finds nothing.
    let ended = relay.delete(&first_viewer).send().await.unwrap();
    assert_eq!(ended.status(), 200);
    expect_error(
        relay.delete(&first_viewer).send().await.unwrap(),
        404,
        "no_session",
    )
    .await;
    let still = relay
        .patch(&second_viewer)
        .header("content-type", "application/trickle-ice-sdpfrag")
        .body("a=x")
        .send()
        .await
        .unwrap();
    assert_ne!(still.status(), 404, "the other viewer's session is intact");

    let ended = relay.delete(&whip_session).send().await.unwrap();
    assert_eq!(ended.status(), 200);
    assert!(cloud.seen().contains(&"DELETE whip session".to_owned()));

    relay
        .delete(&format!("/v1/streams/{id}"))
        .send()
        .await
        .unwrap();
    let seen = cloud.seen();
    assert!(seen.contains(&"DELETE whep session".to_owned()), "{seen:?}");
    assert!(
        seen.contains(&format!(
            "DELETE /v1/streams?id=str_fake1 auth=Bearer {KEY}"
        )),
        "{seen:?}"
    );
    assert!(
        seen[0].starts_with(&format!("POST /v1/streams auth=Bearer {KEY}")),
        "{seen:?}"
    );
    relay.stop().await;
}

#[tokio::test]
async fn whep_before_any_playback_url_is_a_conflict() {
    let relay = Relay::start().await;
    let stream = relay.default_stream().await;
    let whep = format!("/v1/streams/{}/whep", stream["id"].as_str().unwrap());
    let r = offer(&relay, &whep).await;
    expect_error(r, 409, "no_playback_url").await;
    relay.stop().await;
}

#[tokio::test]
async fn the_key_never_leaves_the_relay() {
    let cloud = start_cloud().await;
    let relay = relay_for(&cloud).await;
    let creds: Value = relay
        .get("/v1/credentials")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        creds,
        json!({"has_api_key": true, "source": "env", "api_url": cloud.base(),
            "backend": "daydream", "backend_source": "env"})
    );
    let stream = relay.default_stream().await;
    let status = relay
        .get("/status")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let list = relay
        .get("/v1/streams")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for body in [creds.to_string(), stream.to_string(), status, list] {
        assert!(!body.contains(KEY), "{body}");
        // Nor the stream key, which the upstream WHIP URL carries.
        assert!(!body.contains("stk_fake1"), "{body}");
    }
    relay.stop().await;
}

#[tokio::test]
async fn shutdown_deletes_the_remote_streams_it_created() {
    let cloud = start_cloud().await;
    let relay = relay_for(&cloud).await;
    let (mut holder, _) = agent(&relay, true).await;
    relay.default_stream().await;
    next_of_type(&mut holder, "publish").await;
    relay.stop().await;
    assert!(
        cloud
            .seen()
            .iter()
            .any(|s| s.starts_with("DELETE /v1/streams?id=str_fake1")),
        "{:?}",
        cloud.seen()
    );
    // The agent was told and its socket closed.
    let stop = next_of_type(&mut holder, "stop").await;
    assert_eq!(stop["stream_id"], "str_fake1");
}

#[tokio::test]
async fn media_urls_off_the_allowed_hosts_are_never_contacted() {
    let cloud = start_cloud().await;
    // The key may go to `localhost:PORT` (the configured API URL); the create answer points
    // WHIP at `http://127.0.0.1:PORT`, a plain-http loopback host nobody allowed.
    let port = cloud.base().rsplit(':').next().unwrap().to_owned();
    let relay = Relay::start_with(move |c| {
        c.api_key = Some(Secret::new(KEY));
        c.backend = Some(Backend::Daydream);
        c.api_url = Some(format!("http://localhost:{port}/v1/streams"));
    })
    .await;
    let (mut holder, _) = agent(&relay, true).await;
    relay.default_stream().await;
    let grant = next_of_type(&mut holder, "publish").await;
    let refused = relay
        .post(grant["whip_url"].as_str().unwrap())
        .header("content-type", "application/sdp")
        .body(OFFER)
        .send()
        .await
        .unwrap();
    let body = expect_error(refused, 502, "bad_upstream_response").await;
    assert!(
        body["error"]["message"].as_str().unwrap().contains("https"),
        "{body}"
    );
    assert!(
        !cloud.seen().iter().any(|s| s.contains("whip")),
        "{:?}",
        cloud.seen()
    );
    relay.stop().await;
}
