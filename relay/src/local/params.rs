//! StreamDiffusion params validation, as Daydream's runner does it: unknown fields rejected,
//! ranges, cross-field rules. The models, limits and choices come from the catalog
//! ([`crate::catalog`]); this module holds only the rules that combine them.

use serde_json::{Map, Value};

use crate::catalog::{self, Catalog, Family, Spec};

/// A validation failure naming the offending field (`params.width`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ParamsError {
    /// Dotted path of the field.
    pub field: String,
    /// What is wrong, with the allowed values.
    pub message: String,
}

type Check = Result<(), ParamsError>;

fn fail(field: impl Into<String>, message: impl Into<String>) -> ParamsError {
    ParamsError {
        field: field.into(),
        message: message.into(),
    }
}

/// Params with their own rules below; every other param is checked against its catalog spec.
const SPECIAL: [&str; 11] = [
    "model_id",
    "prompt",
    "seed",
    "t_index_list",
    "lora_dict",
    "controlnets",
    "ip_adapter",
    "ip_adapter_style_image_url",
    "cached_attention",
    "width",
    "height",
];

/// Validates a full params object.
pub fn validate(params: &Value) -> Check {
    let catalog = catalog::get();
    let map = params
        .as_object()
        .ok_or_else(|| fail("params", "must be an object"))?;
    check_keys(map, "params", catalog.params.keys())?;
    let model = map
        .get("model_id")
        .ok_or_else(|| fail("params.model_id", "is required"))?
        .as_str()
        .ok_or_else(|| fail("params.model_id", "must be a string"))?;
    let family = catalog.family_of(model).ok_or_else(|| {
        fail(
            "params.model_id",
            format!(
                "unsupported model {model:?}; use one of {}",
                join(catalog.models.keys())
            ),
        )
    })?;
    for (key, spec) in &catalog.params {
        if SPECIAL.contains(&key.as_str()) || key.ends_with("processing") {
            continue;
        }
        if let Some(value) = map.get(key) {
            check_spec(&format!("params.{key}"), value, spec)?;
        }
    }
    let seed_spec = &catalog.params["seed"];
    check_weighted(map, "prompt", |v| match v.as_str() {
        Some(s) if !s.is_empty() => Ok(()),
        _ => Err("must be a non-empty string".to_owned()),
    })?;
    check_weighted(map, "seed", |v| number_in(v, seed_spec, true).map(drop))?;
    let steps = map
        .get("num_inference_steps")
        .and_then(Value::as_i64)
        .or_else(|| catalog.default_of("num_inference_steps").as_i64())
        .unwrap_or(1);
    check_t_index_list(catalog, map, steps)?;
    let width = check_side(catalog, map, "width")?;
    let height = check_side(catalog, map, "height")?;
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
    check_controlnets(catalog, map, family)?;
    check_ip_adapter(catalog, map, model, family)?;
    if let Some(url) = map.get("ip_adapter_style_image_url") {
        let schemes = &catalog.ip_adapter.style_image_url_schemes;
        if !url
            .as_str()
            .is_some_and(|u| schemes.iter().any(|s| u.starts_with(s.as_str())))
        {
            return Err(fail(
                "params.ip_adapter_style_image_url",
                format!("must start with {}", schemes.join(" or ")),
            ));
        }
    }
    for key in [
        "image_preprocessing",
        "image_postprocessing",
        "latent_preprocessing",
        "latent_postprocessing",
    ] {
        check_processing(catalog, map, key)?;
    }
    let acceleration = map
        .get("acceleration")
        .or(Some(catalog.default_of("acceleration")))
        .and_then(Value::as_str)
        .unwrap_or_default();
    check_cached_attention(catalog, map, acceleration, (width, height))
}

fn join<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    items
        .into_iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_keys<'a>(
    map: &Map<String, Value>,
    field: &str,
    allowed: impl IntoIterator<Item = &'a String> + Clone,
) -> Check {
    for key in map.keys() {
        if !allowed.clone().into_iter().any(|a| a == key) {
            return Err(fail(
                format!("{field}.{key}"),
                format!("unknown field; allowed: {}", join(allowed)),
            ));
        }
    }
    Ok(())
}

/// A value against its spec; the kind (flag, text, choice, integer, number) is that of the
/// spec's default.
fn check_spec(field: &str, value: &Value, spec: &Spec) -> Check {
    if let Some(choices) = &spec.choices {
        if value
            .as_str()
            .is_some_and(|s| choices.contains(&s.to_owned()))
        {
            return Ok(());
        }
        return Err(fail(
            field,
            format!("must be one of {}", choices.join(", ")),
        ));
    }
    match &spec.default {
        Value::Bool(_) if !value.is_boolean() => Err(fail(field, "must be true or false")),
        Value::String(_) if !value.is_string() => Err(fail(field, "must be a string")),
        Value::Number(n) => number_in(value, spec, n.is_i64())
            .map(drop)
            .map_err(|m| fail(field, m)),
        _ => Ok(()),
    }
}

/// A number within the spec's range (and a multiple of its step when it has one).
fn number_in(value: &Value, spec: &Spec, integer: bool) -> Result<f64, String> {
    let range = match (spec.min, spec.max) {
        (Some(min), Some(max)) => format!(" from {min} to {max}"),
        _ => String::new(),
    };
    let kind = if integer { "an integer" } else { "a number" };
    let n = if integer {
        value.as_i64().map(|n| n as f64)
    } else {
        value.as_f64()
    };
    let in_range = |n: f64| spec.min.is_none_or(|m| n >= m) && spec.max.is_none_or(|m| n <= m);
    match n {
        Some(n) if in_range(n) => Ok(n),
        _ => Err(format!("must be {kind}{range}")),
    }
}

fn check_side(catalog: &Catalog, map: &Map<String, Value>, key: &str) -> Result<i64, ParamsError> {
    let spec = &catalog.params[key];
    let field = format!("params.{key}");
    let Some(value) = map.get(key) else {
        return Ok(spec.default.as_i64().unwrap_or_default());
    };
    let step = spec.step.unwrap_or(1.0);
    let ok = number_in(value, spec, true).is_ok_and(|n| n % step == 0.0);
    if !ok {
        return Err(fail(
            field,
            format!(
                "must be a multiple of {step} between {} and {}",
                spec.min.unwrap_or_default(),
                spec.max.unwrap_or_default()
            ),
        ));
    }
    Ok(value.as_i64().unwrap_or_default())
}

/// A value or `[[value, weight], …]` with at least one pair; `item` checks one value.
fn check_weighted(
    map: &Map<String, Value>,
    key: &str,
    item: impl Fn(&Value) -> Result<(), String>,
) -> Check {
    let field = format!("params.{key}");
    let Some(value) = map.get(key) else {
        return Ok(());
    };
    let Some(list) = value.as_array() else {
        return item(value)
            .map_err(|m| fail(&field, format!("{m}, or a list of [{key}, weight] pairs")));
    };
    if list.is_empty() {
        return Err(fail(&field, "must not be an empty list"));
    }
    for (i, pair) in list.iter().enumerate() {
        let Some([value, weight]) = pair.as_array().map(Vec::as_slice) else {
            return Err(fail(
                format!("{field}[{i}]"),
                format!("must be a [{key}, weight] pair"),
            ));
        };
        item(value).map_err(|m| fail(format!("{field}[{i}]"), m))?;
        if !weight.as_f64().is_some_and(|w| w >= 0.0) {
            return Err(fail(
                format!("{field}[{i}]"),
                "must have a weight of 0 or more",
            ));
        }
    }
    Ok(())
}

fn check_t_index_list(catalog: &Catalog, map: &Map<String, Value>, steps: i64) -> Check {
    let Some(v) = map.get("t_index_list") else {
        return Ok(());
    };
    let spec = &catalog.params["t_index_list"];
    let (min, max) = (spec.min_items.unwrap_or(1), spec.max_items.unwrap_or(4));
    let field = "params.t_index_list";
    let list = v
        .as_array()
        .ok_or_else(|| fail(field, "must be a list of integers"))?;
    if !(min..=max).contains(&list.len()) {
        return Err(fail(field, format!("must have {min} to {max} entries")));
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
    Ok(())
}

fn check_controlnets(catalog: &Catalog, map: &Map<String, Value>, family: &Family) -> Check {
    let Some(v) = map.get("controlnets") else {
        return Ok(());
    };
    let rules = &catalog.controlnet;
    let list = v
        .as_array()
        .ok_or_else(|| fail("params.controlnets", "must be a list"))?;
    let mut seen = Vec::new();
    let mut enabled = 0;
    for (i, cn) in list.iter().enumerate() {
        let field = format!("params.controlnets[{i}]");
        let cn = cn
            .as_object()
            .ok_or_else(|| fail(&field, "must be an object"))?;
        check_keys(cn, &field, &rules.fields)?;
        let model = cn
            .get("model_id")
            .and_then(Value::as_str)
            .ok_or_else(|| fail(format!("{field}.model_id"), "is required"))?;
        if !family.controlnets.iter().any(|c| c == model) {
            return Err(fail(
                format!("{field}.model_id"),
                format!(
                    "{model:?} does not work with {} models; use one of {}",
                    family.label,
                    join(&family.controlnets)
                ),
            ));
        }
        if seen.contains(&model) {
            return Err(fail(format!("{field}.model_id"), "duplicate controlnet"));
        }
        seen.push(model);
        for (key, spec, integer) in [
            ("conditioning_scale", &rules.conditioning_scale, false),
            ("conditioning_channels", &rules.conditioning_channels, true),
            (
                "control_guidance_start",
                &rules.control_guidance_start,
                false,
            ),
            ("control_guidance_end", &rules.control_guidance_end, false),
        ] {
            if let Some(value) = cn.get(key).filter(|v| !v.is_null()) {
                number_in(value, spec, integer).map_err(|m| fail(format!("{field}.{key}"), m))?;
            }
        }
        if let Some(p) = cn.get("preprocessor") {
            let kinds = &catalog.processing.image_processors;
            if !p.as_str().is_some_and(|p| kinds.iter().any(|k| k == p)) {
                return Err(fail(
                    format!("{field}.preprocessor"),
                    format!("must be one of {}", kinds.join(", ")),
                ));
            }
        }
        // Like the runner: a ControlNet at scale 0 is not loaded, so it does not count.
        let on = cn.get("enabled").and_then(Value::as_bool).unwrap_or(true);
        let scale = cn
            .get("conditioning_scale")
            .and_then(Value::as_f64)
            .unwrap_or(1.0);
        if on && scale > 0.0 {
            enabled += 1;
        }
    }
    if let Some(limit) = family.max_enabled_controlnets
        && enabled > limit
    {
        return Err(fail(
            "params.controlnets",
            format!(
                "{} models allow at most {limit} enabled controlnets, got {enabled}",
                family.label
            ),
        ));
    }
    Ok(())
}

fn check_ip_adapter(
    catalog: &Catalog,
    map: &Map<String, Value>,
    model: &str,
    family: &Family,
) -> Check {
    let Some(v) = map.get("ip_adapter").filter(|v| !v.is_null()) else {
        return Ok(());
    };
    let rules = &catalog.ip_adapter;
    let ip = v
        .as_object()
        .ok_or_else(|| fail("params.ip_adapter", "must be an object"))?;
    check_keys(ip, "params.ip_adapter", &rules.fields)?;
    if let Some(scale) = ip.get("scale") {
        number_in(scale, &rules.scale, false).map_err(|m| fail("params.ip_adapter.scale", m))?;
    }
    if let Some(w) = ip.get("weight_type")
        && !w
            .as_str()
            .is_some_and(|w| rules.weight_types.iter().any(|t| t == w))
    {
        return Err(fail(
            "params.ip_adapter.weight_type",
            format!("must be one of {}", rules.weight_types.join(", ")),
        ));
    }
    if let Some(kind) = ip.get("type")
        && !kind
            .as_str()
            .is_some_and(|k| rules.types.iter().any(|t| t == k))
    {
        return Err(fail(
            "params.ip_adapter.type",
            format!("must be one of {}", rules.types.join(", ")),
        ));
    }
    let enabled = ip.get("enabled").and_then(Value::as_bool).unwrap_or(true);
    if enabled && !family.ip_adapter {
        let allowed = catalog
            .models
            .keys()
            .filter(|m| catalog.family_of(m).is_some_and(|f| f.ip_adapter));
        return Err(fail(
            "params.ip_adapter.enabled",
            format!(
                "IP-Adapter is not available for {model}; use one of {}",
                join(allowed)
            ),
        ));
    }
    Ok(())
}

fn check_processing(catalog: &Catalog, map: &Map<String, Value>, key: &str) -> Check {
    let Some(v) = map.get(key).filter(|v| !v.is_null()) else {
        return Ok(());
    };
    let rules = &catalog.processing;
    let field = format!("params.{key}");
    let block = v
        .as_object()
        .ok_or_else(|| fail(&field, "must be an object"))?;
    check_keys(block, &field, &rules.fields)?;
    let processors = block
        .get("processors")
        .and_then(Value::as_array)
        .ok_or_else(|| fail(format!("{field}.processors"), "must be a list"))?;
    let kinds = if key.starts_with("latent") {
        &rules.latent_processors
    } else {
        &rules.image_processors
    };
    for (i, p) in processors.iter().enumerate() {
        let where_ = format!("{field}.processors[{i}]");
        let p = p
            .as_object()
            .ok_or_else(|| fail(&where_, "must be an object"))?;
        check_keys(p, &where_, &rules.processor_fields)?;
        let ok = p
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|k| kinds.iter().any(|t| t == k));
        if !ok {
            return Err(fail(
                format!("{where_}.type"),
                format!("must be one of {}", kinds.join(", ")),
            ));
        }
    }
    Ok(())
}

fn check_cached_attention(
    catalog: &Catalog,
    map: &Map<String, Value>,
    acceleration: &str,
    (width, height): (i64, i64),
) -> Check {
    let Some(v) = map.get("cached_attention") else {
        return Ok(());
    };
    let rules = &catalog.cached_attention;
    let ca = v
        .as_object()
        .ok_or_else(|| fail("params.cached_attention", "must be an object"))?;
    check_keys(ca, "params.cached_attention", &rules.fields)?;
    for (key, spec, integer) in [
        ("max_frames", &rules.max_frames, true),
        ("interval_sec", &rules.interval_sec, false),
    ] {
        if let Some(value) = ca.get(key) {
            number_in(value, spec, integer)
                .map_err(|m| fail(format!("params.cached_attention.{key}"), m))?;
        }
    }
    if !ca.get("enabled").and_then(Value::as_bool).unwrap_or(false) {
        return Ok(());
    }
    let needs = &rules.requires;
    let needed_acceleration = needs.get("acceleration").and_then(Value::as_str);
    let needed_size = (
        needs.get("width").and_then(Value::as_i64),
        needs.get("height").and_then(Value::as_i64),
    );
    if Some(acceleration) != needed_acceleration || (Some(width), Some(height)) != needed_size {
        return Err(fail(
            "params.cached_attention.enabled",
            format!(
                "cached attention needs acceleration {} and {}x{}",
                needed_acceleration.unwrap_or_default(),
                needed_size.0.unwrap_or_default(),
                needed_size.1.unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn error_of(params: &Value) -> ParamsError {
        validate(params).unwrap_err()
    }

    fn field_of(params: &Value) -> String {
        error_of(params).field
    }

    #[test]
    fn accepts_typical_params() {
        validate(
            &json!({"model_id": "stabilityai/sdxl-turbo", "prompt": "neon", "width": 512,
            "height": 768, "t_index_list": [4, 12], "seed": [[1, 0.5], [2, 0.5]],
            "prompt_interpolation_method": "slerp", "safety_checker_threshold": 0.4,
            "show_reloading_frame": false, "skip_diffusion": true,
            "controlnets": [{"model_id": "xinsir/controlnet-depth-sdxl-1.0",
                "conditioning_scale": 0.5, "conditioning_channels": 3,
                "preprocessor": "depth_tensorrt", "enabled": true}],
            "ip_adapter": {"enabled": true, "scale": 0.5, "type": "faceid",
                "weight_type": "style transfer"},
            "image_postprocessing": {"enabled": true, "processors": [
                {"type": "upscale", "enabled": true, "params": {"scale_factor": 2}}]},
            "latent_preprocessing": {"processors": [{"type": "latent_feedback"}]},
            "cached_attention": {"enabled": false, "max_frames": 4, "interval_sec": 0.5}}),
        )
        .unwrap();
        // IP-Adapter, faceid included, works on SD1.5 too.
        validate(&json!({"model_id": "prompthero/openjourney-v4",
            "ip_adapter": {"enabled": true, "type": "faceid"}}))
        .unwrap();
    }

    #[test]
    fn rejects_each_rule_with_the_field_named() {
        let base = "stabilityai/sdxl-turbo";
        let cases = [
            (json!({"prompt": "x"}), "params.model_id"),
            (json!({"model_id": base, "bogus": 1}), "params.bogus"),
            (json!({"model_id": base, "width": 500}), "params.width"),
            (json!({"model_id": base, "height": 1088}), "params.height"),
            (
                json!({"model_id": base, "t_index_list": []}),
                "params.t_index_list",
            ),
            (
                json!({"model_id": base, "t_index_list": [10, 5]}),
                "params.t_index_list",
            ),
            (
                json!({"model_id": base, "num_inference_steps": 10, "t_index_list": [11]}),
                "params.t_index_list[0]",
            ),
            (
                json!({"model_id": base, "num_inference_steps": 101}),
                "params.num_inference_steps",
            ),
            (
                json!({"model_id": base, "safety_checker_threshold": 2}),
                "params.safety_checker_threshold",
            ),
            (
                json!({"model_id": base, "show_reloading_frame": "yes"}),
                "params.show_reloading_frame",
            ),
            (json!({"model_id": base, "seed": -1}), "params.seed"),
            (
                json!({"model_id": base, "seed": [[1, "x"]]}),
                "params.seed[0]",
            ),
            (
                json!({"model_id": base, "prompt": [["", 1.0]]}),
                "params.prompt[0]",
            ),
            (
                json!({"model_id": base, "prompt_interpolation_method": "cubic"}),
                "params.prompt_interpolation_method",
            ),
            (
                json!({"model_id": base, "acceleration": "sfast"}),
                "params.acceleration",
            ),
            (
                json!({"model_id": "stabilityai/sd-turbo", "ip_adapter": {"enabled": true}}),
                "params.ip_adapter.enabled",
            ),
            (
                json!({"model_id": base, "ip_adapter": {"type": "plus"}}),
                "params.ip_adapter.type",
            ),
            (
                json!({"model_id": base, "ip_adapter": {"strength": 1}}),
                "params.ip_adapter.strength",
            ),
            (
                json!({"model_id": base, "controlnets": [{"model_id": "lllyasviel/control_v11p_sd15_canny"}]}),
                "params.controlnets[0].model_id",
            ),
            (
                json!({"model_id": base, "controlnets": [{"model_id": "xinsir/controlnet-depth-sdxl-1.0", "conditioning_channels": 7}]}),
                "params.controlnets[0].conditioning_channels",
            ),
            (
                json!({"model_id": base, "image_preprocessing": {"processors": [{"type": "latent_feedback"}]}}),
                "params.image_preprocessing.processors[0].type",
            ),
            (
                json!({"model_id": base, "latent_postprocessing": {"processors": [], "order": 1}}),
                "params.latent_postprocessing.order",
            ),
            (
                json!({"model_id": base, "cached_attention": {"enabled": true}, "width": 768}),
                "params.cached_attention.enabled",
            ),
            (
                json!({"model_id": base, "acceleration": "xformers", "cached_attention": {"enabled": true}}),
                "params.cached_attention.enabled",
            ),
            (
                json!({"model_id": base, "cached_attention": {"max_frames": 5}}),
                "params.cached_attention.max_frames",
            ),
            (
                json!({"model_id": base, "cached_attention": {"interval_sec": 0.001}}),
                "params.cached_attention.interval_sec",
            ),
        ];
        for (params, field) in cases {
            assert_eq!(field_of(&params), field, "{params}");
        }
        let depth = json!({"model_id": "xinsir/controlnet-depth-sdxl-1.0"});
        assert_eq!(
            field_of(&json!({"model_id": base, "controlnets": [depth, depth]})),
            "params.controlnets[1].model_id"
        );
    }

    #[test]
    fn the_sdxl_limit_counts_enabled_controlnets_with_a_scale() {
        let base = "stabilityai/sdxl-turbo";
        let four = |last_scale: f64| {
            json!([{"model_id": "xinsir/controlnet-depth-sdxl-1.0"},
                {"model_id": "xinsir/controlnet-canny-sdxl-1.0"},
                {"model_id": "xinsir/controlnet-tile-sdxl-1.0"},
                {"model_id": "daydreamlive/TemporalNet2-stable-diffusion-xl-base-1.0",
                    "conditioning_scale": last_scale}])
        };
        let error = error_of(&json!({"model_id": base, "controlnets": four(0.5)}));
        assert_eq!(error.field, "params.controlnets");
        assert!(error.message.contains("at most 3"), "{}", error.message);
        validate(&json!({"model_id": base, "controlnets": four(0.0)})).unwrap();
    }

    #[test]
    fn messages_name_the_allowed_values() {
        let message = |params: Value| error_of(&params).message;
        assert_eq!(
            message(json!({"model_id": "stabilityai/sd-turbo", "width": 720})),
            "must be a multiple of 64 between 384 and 1024"
        );
        assert!(
            message(json!({"model_id": "x/y"})).contains("stabilityai/sdxl-turbo"),
            "models listed"
        );
        assert!(
            message(json!({"model_id": "stabilityai/sd-turbo", "ip_adapter": {"enabled": true}}))
                .contains("Lykon/dreamshaper-8"),
            "models with IP-Adapter listed"
        );
        assert_eq!(
            message(json!({"model_id": "stabilityai/sd-turbo", "acceleration": "sfast"})),
            "must be one of none, xformers, tensorrt"
        );
    }
}
