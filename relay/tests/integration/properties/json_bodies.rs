//! JSON request bodies: stream create and update over HTTP, and the local backend's params
//! validation behind them.

use proptest::collection::vec;
use proptest::prelude::*;
use rtc_relay::local::params;
use serde_json::{Value, json};

use super::{check, json_object_with, json_value, runtime};
use crate::common::Relay;

const MODELS: [&str; 4] = [
    "stabilityai/sd-turbo",
    "stabilityai/sdxl-turbo",
    "Lykon/dreamshaper-8",
    "prompthero/openjourney-v4",
];

const PARAM_KEYS: &[&str] = &[
    "model_id",
    "prompt",
    "negative_prompt",
    "guidance_scale",
    "delta",
    "num_inference_steps",
    "t_index_list",
    "width",
    "height",
    "seed",
    "controlnets",
    "ip_adapter",
    "lora_dict",
    "acceleration",
    "cached_attention",
    "use_safety_checker",
];

fn number() -> BoxedStrategy<Value> {
    prop_oneof![
        (-5i64..2_000).prop_map(|n| json!(n)),
        (-2.0f64..60.0).prop_map(|n| json!(n)),
        any::<i64>().prop_map(|n| json!(n)),
    ]
    .boxed()
}

/// Params objects near what the catalog accepts, with wrong types and ranges mixed in.
fn params_like() -> impl Strategy<Value = Value> {
    json_object_with(PARAM_KEYS, |key| match key {
        "model_id" => proptest::sample::select(MODELS.to_vec())
            .prop_map(|m| json!(m))
            .boxed(),
        "prompt" | "negative_prompt" => prop_oneof![
            ".{0,30}".prop_map(|p| json!(p)),
            vec((".{0,10}", 0.0f64..2.0), 0..3).prop_map(|w| json!(w)),
        ]
        .boxed(),
        "t_index_list" => vec(-2i64..60, 0..6).prop_map(|l| json!(l)).boxed(),
        "seed" => prop_oneof![
            number(),
            vec((any::<i64>(), 0.0f64..2.0), 0..3).prop_map(|w| json!(w)),
        ]
        .boxed(),
        "controlnets" => vec(
            json_object_with(
                &["model_id", "conditioning_scale", "preprocessor", "enabled"],
                |_| prop_oneof![number(), ".{0,20}".prop_map(|s| json!(s))].boxed(),
            ),
            0..3,
        )
        .prop_map(Value::Array)
        .boxed(),
        "use_safety_checker" => any::<bool>().prop_map(|b| json!(b)).boxed(),
        _ => number(),
    })
}

#[test]
fn params_validation_names_the_field_or_accepts() {
    let any_params = prop_oneof![3 => params_like(), 1 => json_value()];
    check(3_000, any_params, |value| {
        if let Err(e) = params::validate(&value) {
            prop_assert!(e.field.starts_with("params"), "{e}");
            prop_assert!(!e.message.is_empty(), "{e}");
        }
        Ok(())
    });
}

/// A create or update body: right keys with right or wrong values, or anything at all.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let pipeline_config = json_object_with(&["pipeline", "params"], |key| match key {
        "pipeline" => Just(json!("streamdiffusion")).boxed(),
        _ => params_like().boxed(),
    })
    .boxed();
    let shaped = json_object_with(
        &[
            "name",
            "pipeline_config",
            "params",
            "frame_rate",
            "width",
            "height",
        ],
        move |key| match key {
            "name" => ".{0,30}".prop_map(|n| json!(n)).boxed(),
            "pipeline_config" => pipeline_config.clone().boxed(),
            "params" => params_like().boxed(),
            _ => prop_oneof![(0u32..2_000).prop_map(|n| json!(n)), number()].boxed(),
        },
    );
    prop_oneof![
        6 => shaped.prop_map(|v| v.to_string().into_bytes()),
        1 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => vec(any::<u8>(), 0..64),
    ]
}

/// The relay's documented 4xx answers to a bad body carry `{"error": {"code", "message"}}`.
fn documented_refusal(status: u16, text: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        matches!(status, 400 | 413 | 415 | 422),
        "HTTP {status}: {text}"
    );
    let body: Value = serde_json::from_str(text)
        .map_err(|e| TestCaseError::fail(format!("HTTP {status}, not JSON ({e}): {text}")))?;
    prop_assert!(
        body["error"]["code"]
            .as_str()
            .is_some_and(|c| !c.is_empty()),
        "{body}"
    );
    prop_assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    Ok(())
}

#[test]
fn stream_create_and_update_accept_or_refuse_any_body() {
    let rt = runtime();
    let (relay, id) = rt.block_on(async {
        let relay = Relay::start().await;
        let stream = relay.default_stream().await;
        (relay, stream["id"].as_str().unwrap().to_owned())
    });
    let content_type = prop_oneof![9 => Just("application/json"), 1 => Just("text/plain")];
    check(
        300,
        (body(), body(), content_type),
        |(create, update, content_type)| {
            rt.block_on(async {
                let response = relay
                    .post("/v1/streams")
                    .header("content-type", content_type)
                    .body(create)
                    .send()
                    .await
                    .expect("the relay answers");
                let status = response.status().as_u16();
                let text = response.text().await.unwrap();
                if status == 201 {
                    let created: Value = serde_json::from_str(&text).unwrap();
                    let path = format!("/v1/streams/{}", created["id"].as_str().unwrap());
                    let deleted = relay.delete(&path).send().await.unwrap();
                    prop_assert_eq!(deleted.status().as_u16(), 200);
                } else {
                    documented_refusal(status, &text)?;
                }
                let response = relay
                    .patch(&format!("/v1/streams/{id}"))
                    .header("content-type", content_type)
                    .body(update)
                    .send()
                    .await
                    .expect("the relay answers");
                let status = response.status().as_u16();
                let text = response.text().await.unwrap();
                if status != 200 {
                    documented_refusal(status, &text)?;
                }
                Ok(())
            })
        },
    );
    rt.block_on(relay.stop());
}
