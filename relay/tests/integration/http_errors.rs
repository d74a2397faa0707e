//! Every error answer is in the documented JSON shape, including those the HTTP framework
//! produces before a route runs.

use crate::common::{self, Relay, expect_error};

#[tokio::test]
async fn framework_errors_use_the_json_shape() {
    let relay = Relay::start().await;

    let wrong_method = relay.delete("/v1/catalog").send().await.unwrap();
    assert!(wrong_method.headers().contains_key("allow"));
    expect_error(wrong_method, 405, "method_not_allowed").await;

    let long_uri = format!("/v1/streams/{}", "a".repeat(20_000));
    expect_error(
        relay.get(&long_uri).send().await.unwrap(),
        414,
        "uri_too_long",
    )
    .await;

    let big_header = relay
        .get("/v1/streams")
        .header("x-padding", "p".repeat(70_000))
        .send()
        .await
        .unwrap();
    expect_error(big_header, 431, "headers_too_large").await;
    let mut many = relay.get("/v1/streams");
    for i in 0..150 {
        many = many.header(format!("x-h{i}"), "v");
    }
    expect_error(many.send().await.unwrap(), 431, "headers_too_large").await;

    let not_utf8 = relay.get("/v1/streams/%FF%FE").send().await.unwrap();
    expect_error(not_utf8, 400, "bad_path").await;

    for missing in ["/v1/nope", "/no-such-page.html", "/deeper/no/such/file"] {
        let response = relay.get(missing).send().await.unwrap();
        expect_error(response, 404, "route_not_found").await;
    }
    relay.stop().await;
}

#[tokio::test]
async fn byte_routes_answer_413_in_the_json_shape() {
    let relay = Relay::start().await;
    let stream = relay.default_stream().await;
    let id = stream["id"].as_str().unwrap();

    let mut sdp = b"v=0\r\n".to_vec();
    sdp.resize(200 * 1024, b'a');
    for kind in ["whip", "whep"] {
        let response = relay
            .post(&format!("/v1/streams/{id}/{kind}"))
            .header("content-type", "application/sdp")
            .body(sdp.clone())
            .send()
            .await
            .unwrap();
        expect_error(response, 413, "payload_too_large").await;
    }

    let (_ws, _) = common::agent(&relay, true).await;
    for path in [format!("/v1/streams/{id}/frames"), "/frames".to_owned()] {
        let response = relay
            .post_pixels(&path, 8192, 8192, Some("rgba8"), vec![0u8; 16])
            .await;
        expect_error(response, 413, "payload_too_large").await;
    }
    relay.stop().await;
}
