//! The StreamDiffusion catalog: models and their ControlNets, param defaults and limits, the
//! params a running stream takes live, and the frame limits. The data is the ComfyUI pack's
//! `comfy_extension/catalog.json`, embedded at build time so the pack, the relay and the pages
//! read one file; `GET /v1/catalog` serves it to the relay's own pages.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::AppState;

/// The file as shipped in the pack.
pub const CATALOG_JSON: &str = include_str!("../../comfy_extension/catalog.json");

static CATALOG: LazyLock<Catalog> = LazyLock::new(|| {
    // A unit test parses the embedded file, so a broken catalog fails the build's tests.
    serde_json::from_str(CATALOG_JSON).unwrap_or_else(|e| panic!("catalog.json: {e}"))
});

/// The parsed catalog.
pub fn get() -> &'static Catalog {
    &CATALOG
}

/// The parts of `catalog.json` the relay uses.
#[derive(Debug, Deserialize)]
pub struct Catalog {
    /// `streamdiffusion`.
    pub pipeline: String,
    /// Model families by key (`sd21`, `sdxl`, `sd15`).
    pub families: BTreeMap<String, Family>,
    /// Models by id.
    pub models: BTreeMap<String, Model>,
    /// Top-level params by name.
    pub params: BTreeMap<String, Spec>,
    /// Rules of a `controlnets[]` entry.
    pub controlnet: ControlNetRules,
    /// Rules of `ip_adapter`.
    pub ip_adapter: IpAdapterRules,
    /// Rules of the image and latent processing blocks.
    pub processing: ProcessingRules,
    /// Rules of `cached_attention`.
    pub cached_attention: CachedAttentionRules,
    /// Params a running stream takes without a reload; `a.b` names field `b` of `a` (of each
    /// entry when `a` is a list).
    pub hot_swappable: Vec<String>,
    /// Limits of the frame settings (`frame_rate`, `width`, `height`).
    pub frame: BTreeMap<String, Spec>,
}

/// A model family.
#[derive(Debug, Deserialize)]
pub struct Family {
    /// `SD2.1`, `SDXL`, `SD1.5`.
    pub label: String,
    /// The ControlNets that work with it.
    pub controlnets: Vec<String>,
    /// Most ControlNets enabled at once, if limited.
    pub max_enabled_controlnets: Option<usize>,
    /// Whether IP-Adapter is available.
    pub ip_adapter: bool,
}

/// A model.
#[derive(Debug, Deserialize)]
pub struct Model {
    /// Key into [`Catalog::families`].
    pub family: String,
}

/// Default and limits of one value.
#[derive(Debug, Default, Deserialize)]
pub struct Spec {
    /// Default value.
    #[serde(default)]
    pub default: Value,
    /// Smallest value.
    pub min: Option<f64>,
    /// Largest value.
    pub max: Option<f64>,
    /// Values must be multiples of this (integers only).
    pub step: Option<f64>,
    /// The allowed strings.
    pub choices: Option<Vec<String>>,
    /// Fewest list entries.
    pub min_items: Option<usize>,
    /// Most list entries.
    pub max_items: Option<usize>,
}

/// Rules of a `controlnets[]` entry.
#[derive(Debug, Deserialize)]
pub struct ControlNetRules {
    /// Allowed keys.
    pub fields: Vec<String>,
    /// `conditioning_scale` range.
    pub conditioning_scale: Spec,
    /// `conditioning_channels` range.
    pub conditioning_channels: Spec,
    /// `control_guidance_start` range.
    pub control_guidance_start: Spec,
    /// `control_guidance_end` range.
    pub control_guidance_end: Spec,
}

/// Rules of `ip_adapter`.
#[derive(Debug, Deserialize)]
pub struct IpAdapterRules {
    /// Allowed keys.
    pub fields: Vec<String>,
    /// `regular`, `faceid`.
    pub types: Vec<String>,
    /// `scale` range.
    pub scale: Spec,
    /// Allowed `weight_type` values.
    pub weight_types: Vec<String>,
    /// Prefixes a style image URL may start with.
    pub style_image_url_schemes: Vec<String>,
}

/// Rules of the processing blocks.
#[derive(Debug, Deserialize)]
pub struct ProcessingRules {
    /// Allowed keys of a block.
    pub fields: Vec<String>,
    /// Allowed keys of one processor.
    pub processor_fields: Vec<String>,
    /// Image processor types.
    pub image_processors: Vec<String>,
    /// Latent processor types.
    pub latent_processors: Vec<String>,
}

/// Rules of `cached_attention`.
#[derive(Debug, Deserialize)]
pub struct CachedAttentionRules {
    /// Allowed keys.
    pub fields: Vec<String>,
    /// `max_frames` range.
    pub max_frames: Spec,
    /// `interval_sec` range.
    pub interval_sec: Spec,
    /// What enabling it needs: `acceleration`, `width`, `height`.
    pub requires: Map<String, Value>,
}

impl Catalog {
    /// The family of a model, if the model is known.
    pub fn family_of(&self, model_id: &str) -> Option<&Family> {
        self.models
            .get(model_id)
            .and_then(|m| self.families.get(&m.family))
    }

    /// Default value of a top-level param (`Null` when it has none).
    pub fn default_of(&self, param: &str) -> &Value {
        self.params.get(param).map_or(&Value::Null, |s| &s.default)
    }

    /// Splits the changed params of an update into those a running stream takes live and
    /// those that make the service reload the pipeline. `old` holds the params before it.
    pub fn classify_update(
        &self,
        old: &Map<String, Value>,
        changed: &Map<String, Value>,
    ) -> (Vec<String>, Vec<String>) {
        let mut live = Vec::new();
        let mut reload = Vec::new();
        for (key, new) in changed {
            let hot_fields: Vec<&str> = self
                .hot_swappable
                .iter()
                .filter_map(|h| h.strip_prefix(key.as_str())?.strip_prefix('.'))
                .collect();
            let is_live = self.hot_swappable.contains(key)
                || (!hot_fields.is_empty()
                    && old.get(key).map(|o| without(o, &hot_fields))
                        == Some(without(new, &hot_fields)));
            if is_live {
                live.push(key.clone());
            } else {
                reload.push(key.clone());
            }
        }
        (live, reload)
    }
}

/// `value` with `fields` removed from it, or from each of its entries when it is a list.
fn without(value: &Value, fields: &[&str]) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(|i| without(i, fields)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !fields.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Routes of this module.
pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/v1/catalog", axum::routing::get(get_catalog))
}

async fn get_catalog() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], CATALOG_JSON)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn the_embedded_catalog_parses_and_every_model_has_a_family() {
        let catalog = get();
        assert_eq!(catalog.pipeline, "streamdiffusion");
        assert_eq!(catalog.models.len(), 4);
        for id in catalog.models.keys() {
            assert!(catalog.family_of(id).is_some(), "{id}");
        }
        let sdxl = catalog.family_of("stabilityai/sdxl-turbo").unwrap();
        assert_eq!(sdxl.max_enabled_controlnets, Some(3));
        assert!(
            !catalog
                .family_of("stabilityai/sd-turbo")
                .unwrap()
                .ip_adapter
        );
    }

    #[test]
    fn updates_are_split_into_live_and_reload_params() {
        let catalog = get();
        let cn = |scale: f64, pre: &str| {
            json!([{"model_id": "xinsir/controlnet-depth-sdxl-1.0", "conditioning_scale": scale,
                "preprocessor": pre}])
        };
        let old = map(json!({"model_id": "stabilityai/sdxl-turbo", "prompt": "a",
            "controlnets": cn(0.5, "depth"),
            "cached_attention": {"enabled": true, "max_frames": 1, "interval_sec": 1.0}}));
        let changed = map(json!({"prompt": "b", "seed": [[1, 0.5], [2, 0.5]],
            "controlnets": cn(0.9, "depth"),
            "cached_attention": {"enabled": true, "max_frames": 3, "interval_sec": 2.0}}));
        let (live, reload) = catalog.classify_update(&old, &changed);
        assert_eq!(live, ["cached_attention", "controlnets", "prompt", "seed"]);
        assert!(reload.is_empty());

        let changed = map(json!({"model_id": "Lykon/dreamshaper-8", "width": 768,
            "controlnets": cn(0.5, "depth_tensorrt"),
            "cached_attention": {"enabled": false, "max_frames": 1, "interval_sec": 1.0}}));
        let (live, reload) = catalog.classify_update(&old, &changed);
        assert!(live.is_empty());
        assert_eq!(
            reload,
            ["cached_attention", "controlnets", "model_id", "width"]
        );
        // A list that did not exist before is a reload even if only scales are in it.
        let (_, reload) =
            catalog.classify_update(&Map::new(), &map(json!({"controlnets": cn(0.1, "depth")})));
        assert_eq!(reload, ["controlnets"]);
    }
}
