//! StreamDiffusion params validation, as the inference runner does it (unknown fields
//! rejected, ranges, cross-field rules); see `daydream-api.md` §2.

use serde_json::{Map, Value};

/// A validation failure naming the offending field (`params.width`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ParamsError {
    /// Dotted path of the field.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

type Check = Result<(), ParamsError>;

fn fail(field: impl Into<String>, message: impl Into<String>) -> ParamsError {
    ParamsError {
        field: field.into(),
        message: message.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Sd21,
    Sdxl,
    Sd15,
}

const MODELS: [(&str, Family); 4] = [
    ("stabilityai/sd-turbo", Family::Sd21),
    ("stabilityai/sdxl-turbo", Family::Sdxl),
    ("Lykon/dreamshaper-8", Family::Sd15),
    ("prompthero/openjourney-v4", Family::Sd15),
];

fn controlnets_of(family: Family) -> &'static [&'static str] {
    match family {
        Family::Sd21 => &[
            "thibaud/controlnet-sd21-openpose-diffusers",
            "thibaud/controlnet-sd21-hed-diffusers",
            "thibaud/controlnet-sd21-canny-diffusers",
            "thibaud/controlnet-sd21-depth-diffusers",
            "thibaud/controlnet-sd21-color-diffusers",
            "daydreamlive/TemporalNet2-stable-diffusion-2-1",
        ],
        Family::Sdxl => &[
            "xinsir/controlnet-depth-sdxl-1.0",
            "xinsir/controlnet-canny-sdxl-1.0",
            "xinsir/controlnet-tile-sdxl-1.0",
            "daydreamlive/TemporalNet2-stable-diffusion-xl-base-1.0",
        ],
        Family::Sd15 => &[
            "lllyasviel/control_v11f1p_sd15_depth",
            "lllyasviel/control_v11f1e_sd15_tile",
            "lllyasviel/control_v11p_sd15_canny",
            "daydreamlive/TemporalNet2-stable-diffusion-v1-5",
        ],
    }
}

const PROCESSORS: [&str; 19] = [
    "blur",
    "canny",
    "depth",
    "depth_tensorrt",
    "external",
    "feedback",
    "hed",
    "lineart",
    "mediapipe_pose",
    "mediapipe_segmentation",
    "openpose",
    "passthrough",
    "pose_tensorrt",
    "realesrgan_trt",
    "sharpen",
    "soft_edge",
    "standard_lineart",
    "temporal_net_tensorrt",
    "upscale",
];

const WEIGHT_TYPES: [&str; 15] = [
    "linear",
    "ease in",
    "ease out",
    "ease in-out",
    "reverse in-out",
    "weak input",
    "weak output",
    "weak middle",
    "strong middle",
    "style transfer",
    "composition",
    "strong style transfer",
    "style and composition",
    "style transfer precise",
    "composition precise",
];

const TOP_LEVEL: [&str; 33] = [
    "model_id",
    "prompt",
    "prompt_interpolation_method",
    "normalize_prompt_weights",
    "negative_prompt",
    "guidance_scale",
    "delta",
    "num_inference_steps",
    "t_index_list",
    "width",
    "height",
    "lora_dict",
    "use_lcm_lora",
    "lcm_lora_id",
    "acceleration",
    "use_safety_checker",
    "safety_checker_threshold",
    "use_denoising_batch",
    "do_add_noise",
    "skip_diffusion",
    "seed",
    "seed_interpolation_method",
    "normalize_seed_weights",
    "enable_similar_image_filter",
    "similar_image_filter_threshold",
    "similar_image_filter_max_skip_frame",
    "controlnets",
    "ip_adapter",
    "ip_adapter_style_image_url",
    "image_preprocessing",
    "image_postprocessing",
    "latent_preprocessing",
    "latent_postprocessing",
];

const EXTRA_TOP_LEVEL: [&str; 2] = ["cached_attention", "show_reloading_frame"];

/// Validates a full params object.
pub fn validate(params: &Value) -> Check {
    let map = params
        .as_object()
        .ok_or_else(|| fail("params", "must be an object"))?;
    for key in map.keys() {
        if !TOP_LEVEL.contains(&key.as_str()) && !EXTRA_TOP_LEVEL.contains(&key.as_str()) {
            return Err(fail(format!("params.{key}"), "unknown field"));
        }
    }
    let model = map
        .get("model_id")
        .ok_or_else(|| fail("params.model_id", "is required"))?
        .as_str()
        .ok_or_else(|| fail("params.model_id", "must be a string"))?;
    let family = MODELS
        .iter()
        .find(|(id, _)| *id == model)
        .map(|(_, f)| *f)
        .ok_or_else(|| {
            fail(
                "params.model_id",
                format!("unsupported model {model:?}; use one of sd-turbo, sdxl-turbo, dreamshaper-8, openjourney-v4"),
            )
        })?;

    check_prompt(map)?;
    for key in ["negative_prompt", "lcm_lora_id"] {
        check_type(map, key, Value::is_string, "a string")?;
    }
    for key in [
        "guidance_scale",
        "delta",
        "safety_checker_threshold",
        "similar_image_filter_threshold",
    ] {
        check_type(map, key, Value::is_number, "a number")?;
    }
    for key in [
        "normalize_prompt_weights",
        "use_lcm_lora",
        "use_safety_checker",
        "use_denoising_batch",
        "do_add_noise",
        "skip_diffusion",
        "normalize_seed_weights",
        "enable_similar_image_filter",
        "show_reloading_frame",
    ] {
        check_type(map, key, Value::is_boolean, "true or false")?;
    }
    for key in ["prompt_interpolation_method", "seed_interpolation_method"] {
        check_enum(map, key, &["linear", "slerp"])?;
    }
    check_enum(map, "acceleration", &["none", "xformers", "tensorrt"])?;
    if let Some(t) = map
        .get("similar_image_filter_threshold")
        .and_then(Value::as_f64)
        && !(0.0..=1.0).contains(&t)
    {
        return Err(fail(
            "params.similar_image_filter_threshold",
            "must be between 0 and 1",
        ));
    }
    int_in(map, "similar_image_filter_max_skip_frame", 0, i64::MAX)?;
    let steps = int_in(map, "num_inference_steps", 1, 100)?.unwrap_or(50);
    let t_indices = check_t_index_list(map, steps)?;
    let width = check_side(map, "width")?.unwrap_or(512);
    let height = check_side(map, "height")?.unwrap_or(512);
    check_seed(map)?;
    if let Some(lora) = map.get("lora_dict").filter(|v| !v.is_null()) {
        let ok = lora
            .as_object()
            .is_some_and(|m| m.values().all(Value::is_number));
        if !ok {
            return Err(fail(
                "params.lora_dict",
                "must map LoRA ids to numeric weights",
            ));
        }
    }
    check_controlnets(map, family)?;
    check_ip_adapter(map, family)?;
    if let Some(url) = map.get("ip_adapter_style_image_url") {
        let ok = url
            .as_str()
            .is_some_and(|u| u.starts_with("https://") || u.starts_with("data:image/"));
        if !ok {
            return Err(fail(
                "params.ip_adapter_style_image_url",
                "must be an https URL or a data:image/… URI",
            ));
        }
    }
    for key in [
        "image_preprocessing",
        "image_postprocessing",
        "latent_preprocessing",
        "latent_postprocessing",
    ] {
        check_processing(map, key)?;
    }
    let acceleration = map
        .get("acceleration")
        .and_then(Value::as_str)
        .unwrap_or("tensorrt");
    check_cached_attention(map, family, acceleration, (width, height), t_indices)
}

fn check_type(map: &Map<String, Value>, key: &str, ok: fn(&Value) -> bool, what: &str) -> Check {
    match map.get(key) {
        Some(v) if !ok(v) => Err(fail(format!("params.{key}"), format!("must be {what}"))),
        _ => Ok(()),
    }
}

fn check_enum(map: &Map<String, Value>, key: &str, allowed: &[&str]) -> Check {
    match map.get(key) {
        Some(v) if !v.as_str().is_some_and(|s| allowed.contains(&s)) => Err(fail(
            format!("params.{key}"),
            format!("must be one of {}", allowed.join(", ")),
        )),
        _ => Ok(()),
    }
}

fn int_in(
    map: &Map<String, Value>,
    key: &str,
    min: i64,
    max: i64,
) -> Result<Option<i64>, ParamsError> {
    let Some(v) = map.get(key) else {
        return Ok(None);
    };
    match v.as_i64() {
        Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
        Some(_) if max == i64::MAX => Err(fail(
            format!("params.{key}"),
            format!("must be at least {min}"),
        )),
        _ => Err(fail(
            format!("params.{key}"),
            format!("must be an integer from {min} to {max}"),
        )),
    }
}

fn check_side(map: &Map<String, Value>, key: &str) -> Result<Option<i64>, ParamsError> {
    let side = int_in(map, key, 384, 1024)?;
    if let Some(n) = side
        && n % 64 != 0
    {
        return Err(fail(format!("params.{key}"), "must be a multiple of 64"));
    }
    Ok(side)
}

fn check_prompt(map: &Map<String, Value>) -> Check {
    let Some(prompt) = map.get("prompt") else {
        return Ok(());
    };
    if prompt.is_string() {
        return Ok(());
    }
    weighted_list(prompt, "params.prompt", |v| {
        v.as_str().is_some_and(|s| !s.is_empty())
    })
}

fn check_seed(map: &Map<String, Value>) -> Check {
    let Some(seed) = map.get("seed") else {
        return Ok(());
    };
    if seed.is_i64() || seed.is_u64() {
        return Ok(());
    }
    weighted_list(seed, "params.seed", |v| v.is_i64() || v.is_u64())
}

/// `[[item, weight], …]` with at least one pair.
fn weighted_list(value: &Value, field: &str, item_ok: fn(&Value) -> bool) -> Check {
    let list = value.as_array().filter(|a| !a.is_empty()).ok_or_else(|| {
        fail(
            field,
            "must be a value or a non-empty list of [value, weight] pairs",
        )
    })?;
    for (i, pair) in list.iter().enumerate() {
        let ok = pair
            .as_array()
            .is_some_and(|p| p.len() == 2 && item_ok(&p[0]) && p[1].is_number());
        if !ok {
            return Err(fail(
                format!("{field}[{i}]"),
                "must be a [value, weight] pair",
            ));
        }
    }
    Ok(())
}

fn check_t_index_list(map: &Map<String, Value>, steps: i64) -> Result<usize, ParamsError> {
    let Some(v) = map.get("t_index_list") else {
        return Ok(3);
    };
    let field = "params.t_index_list";
    let list = v
        .as_array()
        .ok_or_else(|| fail(field, "must be a list of integers"))?;
    if list.is_empty() || list.len() > 4 {
        return Err(fail(field, "must have 1 to 4 entries"));
    }
    let mut previous = i64::MIN;
    for (i, item) in list.iter().enumerate() {
        let n = item
            .as_i64()
            .ok_or_else(|| fail(format!("{field}[{i}]"), "must be an integer"))?;
        if !(0..=steps).contains(&n) {
            return Err(fail(
                format!("{field}[{i}]"),
                format!("must be between 0 and num_inference_steps ({steps})"),
            ));
        }
        if n < previous {
            return Err(fail(field, "must be non-decreasing"));
        }
        previous = n;
    }
    Ok(list.len())
}

fn check_controlnets(map: &Map<String, Value>, family: Family) -> Check {
    let Some(v) = map.get("controlnets") else {
        return Ok(());
    };
    let list = v
        .as_array()
        .ok_or_else(|| fail("params.controlnets", "must be a list"))?;
    let allowed = controlnets_of(family);
    let mut seen = Vec::new();
    let mut enabled = 0;
    for (i, cn) in list.iter().enumerate() {
        let field = format!("params.controlnets[{i}]");
        let cn = cn
            .as_object()
            .ok_or_else(|| fail(&field, "must be an object"))?;
        for key in cn.keys() {
            if ![
                "model_id",
                "conditioning_scale",
                "preprocessor",
                "preprocessor_params",
                "enabled",
                "control_guidance_start",
                "control_guidance_end",
            ]
            .contains(&key.as_str())
            {
                return Err(fail(format!("{field}.{key}"), "unknown field"));
            }
        }
        let model = cn
            .get("model_id")
            .and_then(Value::as_str)
            .ok_or_else(|| fail(format!("{field}.model_id"), "is required"))?;
        if !allowed.contains(&model) {
            return Err(fail(
                format!("{field}.model_id"),
                format!("{model:?} does not work with this model family"),
            ));
        }
        if seen.contains(&model) {
            return Err(fail(format!("{field}.model_id"), "duplicate controlnet"));
        }
        seen.push(model);
        check_type(cn, "conditioning_scale", Value::is_number, "a number")
            .map_err(|e| fail(format!("{field}.conditioning_scale"), e.message))?;
        if let Some(p) = cn.get("preprocessor")
            && !p.as_str().is_some_and(|p| PROCESSORS.contains(&p))
        {
            return Err(fail(
                format!("{field}.preprocessor"),
                "unknown preprocessor",
            ));
        }
        for key in ["control_guidance_start", "control_guidance_end"] {
            if let Some(g) = cn.get(key)
                && !g.as_f64().is_some_and(|g| (0.0..=1.0).contains(&g))
            {
                return Err(fail(format!("{field}.{key}"), "must be between 0 and 1"));
            }
        }
        if cn.get("enabled").and_then(Value::as_bool).unwrap_or(true) {
            enabled += 1;
        }
    }
    if family == Family::Sdxl && enabled > 3 {
        return Err(fail(
            "params.controlnets",
            "sdxl-turbo allows at most 3 enabled controlnets",
        ));
    }
    Ok(())
}

fn check_ip_adapter(map: &Map<String, Value>, family: Family) -> Check {
    let Some(v) = map.get("ip_adapter") else {
        return Ok(());
    };
    let ip = v
        .as_object()
        .ok_or_else(|| fail("params.ip_adapter", "must be an object"))?;
    for key in ip.keys() {
        if ![
            "enabled",
            "scale",
            "type",
            "weight_type",
            "insightface_model_name",
            "ipadapter_model_path",
            "image_encoder_path",
        ]
        .contains(&key.as_str())
        {
            return Err(fail(format!("params.ip_adapter.{key}"), "unknown field"));
        }
    }
    check_type(ip, "scale", Value::is_number, "a number")
        .map_err(|e| fail("params.ip_adapter.scale", e.message))?;
    if let Some(w) = ip.get("weight_type")
        && !w.as_str().is_some_and(|w| WEIGHT_TYPES.contains(&w))
    {
        return Err(fail("params.ip_adapter.weight_type", "unknown weight type"));
    }
    let kind = ip.get("type").map_or(Some("regular"), Value::as_str);
    if !matches!(kind, Some("regular" | "faceid")) {
        return Err(fail("params.ip_adapter.type", "must be regular or faceid"));
    }
    let enabled = ip.get("enabled").and_then(Value::as_bool).unwrap_or(true);
    if enabled && family == Family::Sd21 {
        return Err(fail(
            "params.ip_adapter.enabled",
            "IP-Adapter is not available for stabilityai/sd-turbo",
        ));
    }
    if enabled && kind == Some("faceid") && family != Family::Sdxl {
        return Err(fail(
            "params.ip_adapter.type",
            "faceid needs stabilityai/sdxl-turbo",
        ));
    }
    Ok(())
}

fn check_processing(map: &Map<String, Value>, key: &str) -> Check {
    let Some(v) = map.get(key).filter(|v| !v.is_null()) else {
        return Ok(());
    };
    let field = format!("params.{key}");
    let block = v
        .as_object()
        .ok_or_else(|| fail(&field, "must be an object"))?;
    let processors = block
        .get("processors")
        .and_then(Value::as_array)
        .ok_or_else(|| fail(format!("{field}.processors"), "must be a list"))?;
    let latent = key.starts_with("latent");
    for (i, p) in processors.iter().enumerate() {
        let kind = p.get("type").and_then(Value::as_str);
        let ok = if latent {
            kind == Some("latent_feedback")
        } else {
            kind.is_some_and(|k| PROCESSORS.contains(&k))
        };
        if !ok {
            return Err(fail(
                format!("{field}.processors[{i}].type"),
                "unknown processor",
            ));
        }
    }
    Ok(())
}

fn check_cached_attention(
    map: &Map<String, Value>,
    family: Family,
    acceleration: &str,
    (width, height): (i64, i64),
    t_indices: usize,
) -> Check {
    let Some(v) = map.get("cached_attention") else {
        return Ok(());
    };
    let ca = v
        .as_object()
        .ok_or_else(|| fail("params.cached_attention", "must be an object"))?;
    let max_frames = int_in(ca, "max_frames", 1, 4)
        .map_err(|e| fail("params.cached_attention.max_frames", e.message))?
        .unwrap_or(1);
    int_in(ca, "interval", 1, 1440)
        .map_err(|e| fail("params.cached_attention.interval", e.message))?;
    if !ca.get("enabled").and_then(Value::as_bool).unwrap_or(false) {
        return Ok(());
    }
    let field = "params.cached_attention.enabled";
    if acceleration != "tensorrt" {
        return Err(fail(field, "cached attention needs acceleration tensorrt"));
    }
    if (width, height) != (512, 512) {
        return Err(fail(field, "cached attention needs 512x512"));
    }
    if family == Family::Sdxl {
        let limit = match t_indices {
            1 => 4,
            2 => 2,
            3 => 1,
            _ => 0,
        };
        if max_frames > limit {
            return Err(fail(
                "params.cached_attention.max_frames",
                format!(
                    "sdxl-turbo with {t_indices} t-indices allows at most {limit} cached frames"
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn field_of(params: &Value) -> String {
        validate(params).unwrap_err().field
    }

    #[test]
    fn accepts_typical_params() {
        validate(
            &json!({"model_id": "stabilityai/sdxl-turbo", "prompt": "neon", "width": 512,
            "height": 768, "t_index_list": [4, 12], "seed": [[1, 0.5], [2, 0.5]],
            "controlnets": [{"model_id": "xinsir/controlnet-depth-sdxl-1.0",
                "conditioning_scale": 0.5, "preprocessor": "depth_tensorrt", "enabled": true}],
            "ip_adapter": {"enabled": true, "scale": 0.5, "type": "faceid"}}),
        )
        .unwrap();
    }

    #[test]
    fn rejects_each_rule_with_the_field_named() {
        let base = "stabilityai/sdxl-turbo";
        assert_eq!(field_of(&json!({"prompt": "x"})), "params.model_id");
        assert_eq!(
            field_of(&json!({"model_id": base, "bogus": 1})),
            "params.bogus"
        );
        assert_eq!(
            field_of(&json!({"model_id": base, "width": 500})),
            "params.width"
        );
        assert_eq!(
            field_of(&json!({"model_id": base, "height": 1088})),
            "params.height"
        );
        assert_eq!(
            field_of(&json!({"model_id": base, "t_index_list": []})),
            "params.t_index_list"
        );
        assert_eq!(
            field_of(&json!({"model_id": base, "t_index_list": [10, 5]})),
            "params.t_index_list"
        );
        assert_eq!(
            field_of(&json!({"model_id": base, "num_inference_steps": 10, "t_index_list": [11]})),
            "params.t_index_list[0]"
        );
        assert_eq!(
            field_of(&json!({"model_id": "stabilityai/sd-turbo", "ip_adapter": {"enabled": true}})),
            "params.ip_adapter.enabled"
        );
        let depth = json!({"model_id": "xinsir/controlnet-depth-sdxl-1.0"});
        assert_eq!(
            field_of(&json!({"model_id": base, "controlnets": [depth, depth]})),
            "params.controlnets[1].model_id"
        );
        assert_eq!(
            field_of(
                &json!({"model_id": base, "controlnets": [{"model_id": "lllyasviel/control_v11p_sd15_canny"}]})
            ),
            "params.controlnets[0].model_id"
        );
        let four = json!([{"model_id": "xinsir/controlnet-depth-sdxl-1.0"},
            {"model_id": "xinsir/controlnet-canny-sdxl-1.0"},
            {"model_id": "xinsir/controlnet-tile-sdxl-1.0"},
            {"model_id": "daydreamlive/TemporalNet2-stable-diffusion-xl-base-1.0"}]);
        assert_eq!(
            field_of(&json!({"model_id": base, "controlnets": four})),
            "params.controlnets"
        );
        assert_eq!(
            field_of(
                &json!({"model_id": base, "cached_attention": {"enabled": true}, "width": 768})
            ),
            "params.cached_attention.enabled"
        );
        assert_eq!(
            field_of(
                &json!({"model_id": base, "acceleration": "xformers", "cached_attention": {"enabled": true}})
            ),
            "params.cached_attention.enabled"
        );
        assert_eq!(
            field_of(
                &json!({"model_id": base, "cached_attention": {"enabled": true, "max_frames": 2}})
            ),
            "params.cached_attention.max_frames"
        );
    }
}
