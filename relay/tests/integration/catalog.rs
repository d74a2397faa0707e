//! The catalog over real HTTP: the route that serves it, the local backend validating with its
//! rules, the frame limits, and the relay deciding which changes a running stream takes live.

use crate::common;

use common::{Relay, expect_error};
use serde_json::{Value, json};

#[tokio::test]
async fn the_relay_serves_the_packs_catalog_file() {
    let relay = Relay::start().await;
    let response = relay.get("/v1/catalog").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "pages parse it as JSON"
    );
    let served = response.text().await.unwrap();
    let file = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../comfy_extension/catalog.json"
    ))
    .unwrap();
    assert_eq!(served, file);
    let catalog: Value = serde_json::from_str(&served).unwrap();
    assert_eq!(catalog["models"]["Lykon/dreamshaper-8"]["family"], "sd15");
}

#[tokio::test]
async fn an_update_reports_what_the_running_pipeline_takes_live_and_what_reloads_it() {
    let relay = Relay::start().await;
    let stream = relay.default_stream().await;
    let path = format!("/v1/streams/{}", stream["id"].as_str().unwrap());
    let patch = |params: Value| {
        let request = relay.patch(&path).json(&json!({ "params": params }));
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            let body: Value = response.json().await.unwrap();
            body["update"].clone()
        }
    };
    let depth = |scale: f64| {
        json!([{"model_id": "xinsir/controlnet-depth-sdxl-1.0", "conditioning_scale": scale,
            "preprocessor": "depth_tensorrt"}])
    };

    assert_eq!(
        patch(json!({"prompt": "b", "seed": 7, "controlnets": depth(0.5)})).await,
        json!({"live": ["prompt", "seed"], "reload": ["controlnets"]}),
        "adding a ControlNet reloads"
    );
    assert_eq!(
        patch(json!({"controlnets": depth(0.8), "guidance_scale": 1.5})).await,
        json!({"live": ["controlnets", "guidance_scale"], "reload": []}),
        "a new conditioning scale is live"
    );
    assert_eq!(
        patch(json!({"width": 768, "model_id": "Lykon/dreamshaper-8", "controlnets": []})).await,
        json!({"live": [], "reload": ["controlnets", "model_id", "width"]})
    );
    assert_eq!(
        patch(json!({"prompt": "b"})).await,
        json!({"live": [], "reload": []}),
        "nothing changed"
    );
    let params = relay.get_json(&path).await["pipeline_config"]["params"].clone();
    assert_eq!(params["model_id"], "Lykon/dreamshaper-8");
    assert_eq!(params["width"], 768);
}

#[tokio::test]
async fn the_local_backend_applies_the_runner_rules_with_the_allowed_values_named() {
    let relay = Relay::start().await;
    let create = |params: Value| {
        relay
            .post("/v1/streams")
            .json(&json!({"pipeline_config": {"pipeline": "streamdiffusion", "params": params}}))
            .send()
    };
    let cases = [
        (
            json!({"model_id": "stabilityai/sd-turbo", "width": 720}),
            "params.width: must be a multiple of 64 between 384 and 1024",
        ),
        (
            json!({"model_id": "stabilityai/sd-turbo", "num_inference_steps": 150}),
            "params.num_inference_steps: must be an integer from 1 to 100",
        ),
        (
            json!({"model_id": "stabilityai/sd-turbo", "ip_adapter": {"enabled": true}}),
            "IP-Adapter is not available for stabilityai/sd-turbo",
        ),
        (
            json!({"model_id": "stabilityai/sd-turbo", "unknown_knob": 1}),
            "params.unknown_knob: unknown field",
        ),
    ];
    for (params, message) in cases {
        let body = expect_error(create(params.clone()).await.unwrap(), 422, "invalid_params").await;
        let text = body["error"]["message"].as_str().unwrap();
        assert!(text.contains(message), "{params}: {text}");
    }
    let sd15 = json!({"model_id": "prompthero/openjourney-v4", "width": 704, "height": 384,
        "t_index_list": [2, 2, 30, 50], "seed": [[1, 0.5], [2, 0.5]],
        "controlnets": [{"model_id": "daydreamlive/TemporalNet2-stable-diffusion-v1-5",
            "conditioning_scale": 0.3, "preprocessor": "temporal_net_tensorrt"}],
        "ip_adapter": {"enabled": true, "type": "regular", "weight_type": "composition"}});
    assert_eq!(create(sd15).await.unwrap().status(), 201);
}

#[tokio::test]
async fn frame_settings_follow_the_catalogs_frame_limits() {
    let relay = Relay::start().await;
    let put = |values: Value| relay.put("/v1/config").json(&values).send();
    let body = expect_error(
        put(json!({"frame_rate": 61})).await.unwrap(),
        422,
        "invalid_settings",
    )
    .await;
    assert_eq!(
        body["error"]["message"],
        "frame_rate 61 must be from 1 to 60"
    );
    let body = expect_error(
        put(json!({"width": 513})).await.unwrap(),
        422,
        "invalid_settings",
    )
    .await;
    assert_eq!(
        body["error"]["message"],
        "width 513 must be a multiple of 2 from 64 to 4096"
    );
    let saved: Value = put(json!({"frame_rate": 60, "width": 1280}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        saved,
        json!({"frame_rate": 60, "width": 1280, "height": 512})
    );
}
