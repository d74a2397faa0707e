//! What a stream's StreamDiffusion params mean for the local effect: the look (hot params,
//! applied from the next frame) and the pipeline shape (the rest, which needs a reload).

use serde_json::{Map, Value};

use rtc_effect::{Look, palette_for};

use crate::catalog;

/// Params applied to the next frame without a reload, as the runner documents them.
const HOT: [&str; 6] = [
    "prompt",
    "guidance_scale",
    "delta",
    "num_inference_steps",
    "t_index_list",
    "seed",
];

/// Params of the stand-in itself, not of the pipeline: changing them reloads nothing.
const STAND_IN: [&str; 2] = ["skip_diffusion", "show_reloading_frame"];

/// Everything the media path needs from a stream's params.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectParams {
    /// `None` with `skip_diffusion`: the input goes out unchanged.
    pub look: Option<Look>,
    /// Output width.
    pub width: usize,
    /// Output height.
    pub height: usize,
    /// Whether a reload shows the reloading frame.
    pub show_reloading_frame: bool,
    /// The params that need a reload when they change, to compare with the next ones.
    shape: Value,
}

impl EffectParams {
    /// Reads validated params; missing fields take the catalog defaults.
    pub fn from_params(params: &Value) -> Self {
        let empty = Map::new();
        let map = params.as_object().unwrap_or(&empty);
        let get = |key: &str| {
            map.get(key)
                .filter(|v| !v.is_null())
                .unwrap_or_else(|| catalog::get().default_of(key))
        };
        let number = |key: &str| get(key).as_f64().unwrap_or_default();
        let side = |key: &str| usize::try_from(get(key).as_u64().unwrap_or(512)).unwrap_or(512);
        let look = (!get("skip_diffusion").as_bool().unwrap_or(false)).then(|| {
            let t_index = get("t_index_list")
                .as_array()
                .map(|l| l.iter().filter_map(Value::as_f64).collect::<Vec<_>>())
                .filter(|l| !l.is_empty())
                .unwrap_or_else(|| vec![1.0]);
            let steps = number("num_inference_steps").max(1.0);
            let mean_t = t_index.iter().sum::<f64>() / t_index.len() as f64;
            let (edges, depth) = controlnet_weights(map.get("controlnets"));
            Look {
                palette: palette_for(heaviest(get("prompt"), Value::as_str).unwrap_or_default()),
                strength: (0.35 + 0.65 * number("delta")).clamp(0.0, 1.0) as f32,
                contrast: (1.0 + 0.2 * (number("guidance_scale") - 1.0)).clamp(1.0, 3.0) as f32,
                passes: t_index.len(),
                detail: (mean_t / steps).clamp(0.0, 1.0) as f32,
                edges,
                depth,
                seed: heaviest(get("seed"), Value::as_u64).unwrap_or_default(),
            }
        });
        Self {
            look,
            width: side("width"),
            height: side("height"),
            show_reloading_frame: get("show_reloading_frame").as_bool().unwrap_or(true),
            shape: shape_of(map),
        }
    }

    /// Whether going from `previous` to these params reloads the pipeline.
    pub fn reloads_from(&self, previous: &Self) -> bool {
        self.shape != previous.shape
    }
}

/// The value of a plain or weighted (`[[value, weight], …]`) param with the largest weight.
fn heaviest<'a, T>(value: &'a Value, item: impl Fn(&'a Value) -> Option<T>) -> Option<T> {
    let Some(list) = value.as_array() else {
        return item(value);
    };
    list.iter()
        .filter_map(|pair| {
            let pair = pair.as_array()?;
            Some((item(pair.first()?)?, pair.get(1)?.as_f64()?))
        })
        .fold(None, |best: Option<(T, f64)>, (v, w)| match best {
            Some((_, bw)) if bw >= w => best,
            _ => Some((v, w)),
        })
        .map(|(v, _)| v)
}

/// Edge and depth weights: the largest conditioning scale of each kind of enabled ControlNet.
fn controlnet_weights(controlnets: Option<&Value>) -> (f32, f32) {
    let mut weights = (0.0f32, 0.0f32);
    for cn in controlnets.and_then(Value::as_array).into_iter().flatten() {
        if cn.get("enabled").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let model = cn
            .get("model_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_lowercase();
        let scale = cn
            .get("conditioning_scale")
            .and_then(Value::as_f64)
            .unwrap_or(1.0)
            .clamp(0.0, 1.0) as f32;
        if model.contains("depth") {
            weights.1 = weights.1.max(scale);
        } else if ["canny", "hed", "openpose", "tile"]
            .iter()
            .any(|k| model.contains(k))
        {
            weights.0 = weights.0.max(scale);
        }
    }
    weights
}

/// The reload-relevant params: everything but the hot ones, ControlNets without their scales.
fn shape_of(map: &Map<String, Value>) -> Value {
    let mut shape = map.clone();
    shape.retain(|key, _| !HOT.contains(&key.as_str()) && !STAND_IN.contains(&key.as_str()));
    if let Some(Value::Array(list)) = shape.get_mut("controlnets") {
        for cn in list.iter_mut().filter_map(Value::as_object_mut) {
            cn.remove("conditioning_scale");
        }
    }
    Value::Object(shape)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn look(params: &Value) -> Look {
        EffectParams::from_params(params).look.expect("effect on")
    }

    #[test]
    fn defaults_come_from_the_catalog() {
        let p = EffectParams::from_params(&json!({"model_id": "stabilityai/sd-turbo"}));
        assert_eq!((p.width, p.height), (512, 512));
        assert!(p.show_reloading_frame);
        let look = p.look.unwrap();
        assert_eq!(look.passes, 3, "default t_index_list has three entries");
        assert_eq!(look.seed, 789);
    }

    #[test]
    fn skip_diffusion_turns_the_effect_off() {
        let p = EffectParams::from_params(&json!({"skip_diffusion": true, "width": 640}));
        assert!(p.look.is_none());
        assert_eq!(p.width, 640);
    }

    #[test]
    fn every_hot_param_changes_the_look() {
        let base = json!({"model_id": "stabilityai/sdxl-turbo", "prompt": "a", "delta": 0.5,
            "guidance_scale": 1.0, "t_index_list": [10], "num_inference_steps": 50, "seed": 1});
        let reference = look(&base);
        for (key, value) in [
            ("prompt", json!("b")),
            ("delta", json!(0.9)),
            ("guidance_scale", json!(3.0)),
            ("t_index_list", json!([10, 20])),
            ("num_inference_steps", json!(20)),
            ("seed", json!(2)),
            (
                "controlnets",
                json!([{"model_id": "xinsir/controlnet-canny-sdxl-1.0", "conditioning_scale": 0.5}]),
            ),
            (
                "controlnets",
                json!([{"model_id": "xinsir/controlnet-depth-sdxl-1.0", "conditioning_scale": 0.5}]),
            ),
        ] {
            let mut changed = base.clone();
            changed[key] = value.clone();
            assert_ne!(look(&changed), reference, "{key} = {value} changed nothing");
        }
    }

    #[test]
    fn weighted_prompts_and_seeds_use_the_heaviest_entry() {
        let weighted =
            look(&json!({"prompt": [["a", 0.2], ["b", 0.8]], "seed": [[5, 0.9], [6, 0.1]]}));
        assert_eq!(weighted.palette, palette_for("b"));
        assert_eq!(weighted.seed, 5);
    }

    #[test]
    fn disabled_controlnets_add_nothing() {
        let off = look(
            &json!({"controlnets": [{"model_id": "xinsir/controlnet-canny-sdxl-1.0",
            "conditioning_scale": 0.8, "enabled": false}]}),
        );
        assert_eq!((off.edges, off.depth), (0.0, 0.0));
    }

    #[test]
    fn only_non_hot_changes_reload() {
        let cn = |scale: f64| json!([{"model_id": "xinsir/controlnet-canny-sdxl-1.0", "conditioning_scale": scale}]);
        let base =
            json!({"model_id": "stabilityai/sdxl-turbo", "prompt": "a", "controlnets": cn(0.5)});
        let before = EffectParams::from_params(&base);
        let hot = [
            ("prompt", json!("b")),
            ("seed", json!(3)),
            ("t_index_list", json!([1, 2])),
            ("controlnets", cn(0.9)),
            ("skip_diffusion", json!(true)),
        ];
        for (key, value) in hot {
            let mut changed = base.clone();
            changed[key] = value;
            assert!(
                !EffectParams::from_params(&changed).reloads_from(&before),
                "{key}"
            );
        }
        let reload = [
            ("model_id", json!("stabilityai/sd-turbo")),
            ("width", json!(640)),
            ("controlnets", json!([])),
            ("ip_adapter", json!({"enabled": true})),
            ("image_postprocessing", json!({"processors": []})),
        ];
        for (key, value) in reload {
            let mut changed = base.clone();
            changed[key] = value;
            assert!(
                EffectParams::from_params(&changed).reloads_from(&before),
                "{key}"
            );
        }
    }

    #[test]
    fn palettes_are_stable_coloured_and_differ_by_prompt() {
        assert_eq!(palette_for("neon city"), palette_for("neon city"));
        assert_ne!(palette_for("neon city"), palette_for("forest"));
        for prompt in ["", "a", "neon city", "forest"] {
            let p = palette_for(prompt);
            for c in [p.dark.0, p.dark.1, p.light.0, p.light.1] {
                assert!(
                    !(96..160).contains(&c),
                    "{prompt:?}: chroma {c} is near grey"
                );
            }
            assert!((3..=8).contains(&p.levels));
        }
    }
}
