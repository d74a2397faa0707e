//! WHIP/WHEP HTTP semantics over real HTTP on port 0: status codes, headers, CORS and
//! resource lifetimes.

use crate::media_support;

use media_support::{
    Offer, PeerEvent, TestServer, absolute, connect, delete, passthrough, post_offer,
};
use reqwest::StatusCode;
use str0m::media::Direction;

async fn error_code(response: reqwest::Response) -> String {
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error"]["message"].is_string(), "message in {body}");
    body["error"]["code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn whip_answer_has_location_etag_playback_url_and_candidates() {
    let server = TestServer::start().await;
    server.media.open_stream("stk_headers", &passthrough());
    let offer = Offer::new(Direction::SendOnly).await;
    let response = post_offer(&server.whip_url("stk_headers"), &offer.sdp).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/sdp");
    let location = headers["location"].to_str().unwrap();
    let prefix = "/local/live/video-to-video/stk_headers/whip/";
    assert!(location.starts_with(prefix), "{location}");
    assert_eq!(location.len(), prefix.len() + 32, "128-bit session id");
    let etag = headers["etag"].to_str().unwrap();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "strong etag {etag}"
    );
    let host = server.base.trim_start_matches("http://");
    assert_eq!(
        headers["livepeer-playback-url"],
        format!("http://{host}/local/live/video-to-video/stk_headers-out/whep").as_str()
    );
    let answer = response.text().await.unwrap();
    assert!(answer.contains("a=recvonly"), "{answer}");
    assert!(answer.contains("H264"), "{answer}");
    // Every candidate is in the answer (no trickle from the server): loopback at least.
    let port = server.media.candidates()[0].port();
    assert!(
        answer.contains(&format!("127.0.0.1 {port} typ host")),
        "{answer}"
    );
    assert_eq!(
        answer.matches("typ host").count(),
        server.media.candidates().len()
    );
}

#[tokio::test]
async fn session_ids_differ_between_sessions() {
    let server = TestServer::start().await;
    server.media.open_stream("stk_ids", &passthrough());
    let a = connect(&server.whip_url("stk_ids"), Direction::SendOnly).await;
    let b = connect(&server.whip_url("stk_ids"), Direction::SendOnly).await;
    assert_ne!(a.location, b.location);
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let server = TestServer::start().await;
    server.media.open_stream("stk_type", &passthrough());
    let offer = Offer::new(Direction::SendOnly).await;
    let response = reqwest::Client::new()
        .post(server.whip_url("stk_type"))
        .header("content-type", "application/json")
        .body(offer.sdp)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(error_code(response).await, "unsupported_content_type");
}

#[tokio::test]
async fn garbage_sdp_is_400_and_changes_nothing() {
    let server = TestServer::start().await;
    server.media.open_stream("stk_garbage", &passthrough());
    for body in ["", "hello", "v=0\r\nm=video nonsense\r\n"] {
        let response = post_offer(&server.whip_url("stk_garbage"), body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "body {body:?}");
        assert_eq!(error_code(response).await, "bad_sdp");
    }
    let status = server.media.status("stk_garbage").unwrap();
    assert!(!status.publisher_connected);
}

#[tokio::test]
async fn non_h264_ingest_names_the_codec() {
    let server = TestServer::start().await;
    server.media.open_stream("stk_vp8", &passthrough());
    let offer = Offer::new(Direction::SendOnly).await;
    let vp8 = offer.sdp.replace("H264/90000", "VP8/90000");
    let response = post_offer(&server.whip_url("stk_vp8"), &vp8).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "codec_not_supported");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("H.264") && message.contains("VP8"),
        "{message}"
    );
}

#[tokio::test]
async fn oversized_offer_is_413() {
    let server = TestServer::start().await;
    server.media.open_stream("stk_big", &passthrough());
    let huge = format!("v=0\r\n{}", "a=x\r\n".repeat(20_000));
    let response = post_offer(&server.whip_url("stk_big"), &huge).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(response).await, "offer_too_large");
}

#[tokio::test]
async fn unknown_stream_and_unknown_session_are_404() {
    let server = TestServer::start().await;
    let offer = Offer::new(Direction::SendOnly).await;
    let response = post_offer(&server.whip_url("stk_nope"), &offer.sdp).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(response).await, "unknown_stream");
    let viewer = Offer::new(Direction::RecvOnly).await;
    let response = post_offer(&server.whep_url("stk_nope"), &viewer.sdp).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    // A WHEP path without the -out suffix is not a playback endpoint.
    let response = post_offer(
        &format!("{}/local/live/video-to-video/stk_nope/whep", server.base),
        &viewer.sdp,
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    server.media.open_stream("stk_nope", &passthrough());
    let session = format!(
        "{}/0123456789abcdef0123456789abcdef",
        server.whip_url("stk_nope")
    );
    assert_eq!(delete(&session).await, 404);
}

#[tokio::test]
async fn viewer_before_output_gets_404_with_retry_after() {
    let server = TestServer::start().await;
    server.media.open_stream("stk_early", &passthrough());
    let viewer = Offer::new(Direction::RecvOnly).await;
    let response = post_offer(&server.whep_url("stk_early"), &viewer.sdp).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(error_code(response).await, "no_publisher");
    assert_eq!(server.media.status("stk_early").unwrap().viewers, 0);
}

#[tokio::test]
async fn delete_frees_the_session_and_a_second_delete_is_404() {
    let server = TestServer::start().await;
    server.media.open_stream("stk_del", &passthrough());
    let mut publisher = connect(&server.whip_url("stk_del"), Direction::SendOnly).await;
    publisher
        .wait_for("publisher connected", |e| *e == PeerEvent::Connected)
        .await;
    let url = absolute(&server, &publisher.location);
    assert_eq!(delete(&url).await, 200);
    assert!(!server.media.status("stk_del").unwrap().publisher_connected);
    publisher
        .wait_for("session ended", |e| *e == PeerEvent::Ended)
        .await;
    assert_eq!(delete(&url).await, 404);
}

#[tokio::test]
async fn patch_is_refused_with_allow() {
    let server = TestServer::start().await;
    server.media.open_stream("stk_patch", &passthrough());
    let publisher = connect(&server.whip_url("stk_patch"), Direction::SendOnly).await;
    let response = reqwest::Client::new()
        .patch(absolute(&server, &publisher.location))
        .header("content-type", "application/trickle-ice-sdpfrag")
        .body("a=end-of-candidates\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "DELETE, OPTIONS");
    let response = reqwest::get(server.whip_url("stk_patch")).await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST, OPTIONS");
}

#[tokio::test]
async fn options_advertises_sdp_and_cors_only_for_loopback_origins() {
    let server = TestServer::start().await;
    server.media.open_stream("stk_opt", &passthrough());
    let client = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        client
            .request(reqwest::Method::OPTIONS, server.whip_url("stk_opt"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let response = preflight("http://127.0.0.1:8188").await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(response.headers()["accept-post"], "application/sdp");
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://127.0.0.1:8188"
    );
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap();
    assert!(exposed.contains("location") && exposed.contains("livepeer-playback-url"));

    let response = preflight("https://evil.example").await.unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn closed_stream_refuses_new_sessions() {
    let server = TestServer::start().await;
    server.media.open_stream("stk_gone", &passthrough());
    server.media.close_stream("stk_gone");
    let offer = Offer::new(Direction::SendOnly).await;
    let response = post_offer(&server.whip_url("stk_gone"), &offer.sdp).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(server.media.status("stk_gone"), None);
}
