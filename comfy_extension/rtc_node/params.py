"""StreamDiffusion parameters: the catalog, and validation of the Pipeline Config's widgets.

The models, ControlNets, defaults and limits are data in the pack's ``catalog.json``, which the
relay embeds and the frontend fetches too; this module adds only the checks that turn widget
values into params. No IO beyond reading that file once. Every error names the widget and the
allowed values or range.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CATALOG_PATH = Path(__file__).resolve().parent.parent / "catalog.json"
CATALOG: dict[str, Any] = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))

PIPELINE: str = CATALOG["pipeline"]
SPECS: dict[str, dict[str, Any]] = CATALOG["params"]


class ParamError(ValueError):
    """A parameter is out of range or inconsistent; the message says which and why."""


@dataclass(frozen=True)
class ModelFamily:
    name: str
    controlnets: tuple[str, ...]
    ip_adapter: bool
    max_enabled_controlnets: int | None


@dataclass(frozen=True)
class ControlNetSpec:
    model_id: str
    label: str
    preprocessors: tuple[str, ...]
    scale: float
    preprocessor_params: Mapping[str, Any]

    @property
    def preprocessor(self) -> str:
        return self.preprocessors[0]


_FAMILIES = {
    key: ModelFamily(
        family["label"],
        tuple(family["controlnets"]),
        family["ip_adapter"],
        family["max_enabled_controlnets"],
    )
    for key, family in CATALOG["families"].items()
}
MODELS: dict[str, ModelFamily] = {
    model_id: _FAMILIES[model["family"]] for model_id, model in CATALOG["models"].items()
}
CONTROLNETS: dict[str, ControlNetSpec] = {
    model_id: ControlNetSpec(
        model_id,
        spec["label"],
        tuple(spec["preprocessors"]),
        spec["conditioning_scale"],
        spec["preprocessor_params"],
    )
    for model_id, spec in CATALOG["controlnets"].items()
}
PREPROCESSORS = sorted({p for spec in CONTROLNETS.values() for p in spec.preprocessors})
ACCELERATION: tuple[str, ...] = tuple(SPECS["acceleration"]["choices"])
INTERPOLATION: tuple[str, ...] = tuple(SPECS["prompt_interpolation_method"]["choices"])
# "none" is the original node's way to say "off"; saved workflows still carry it.
IP_ADAPTER_TYPES: tuple[str, ...] = ("none", *CATALOG["ip_adapter"]["types"])
IP_ADAPTER_WEIGHT_TYPES: tuple[str, ...] = tuple(CATALOG["ip_adapter"]["weight_types"])
IMAGE_PROCESSORS: tuple[str, ...] = tuple(CATALOG["processing"]["image_processors"])
LATENT_PROCESSORS: tuple[str, ...] = tuple(CATALOG["processing"]["latent_processors"])
PROCESSING = ("image_preprocessing", "image_postprocessing")
LATENT_PROCESSING = ("latent_preprocessing", "latent_postprocessing")
SEED_MAX: int = SPECS["seed"]["max"]
FRAME: dict[str, dict[str, Any]] = CATALOG["frame"]

_CACHED = CATALOG["cached_attention"]
_CACHED_DEFAULT = SPECS["cached_attention"]["default"]
_IP_SCALE = CATALOG["ip_adapter"]["scale"]
_CN = CATALOG["controlnet"]

# The Pipeline Config's widget defaults, declared once: the node's schema shows them and
# build_pipeline_config uses them for inputs an API-format prompt leaves out.
WIDGET_DEFAULTS: dict[str, Any] = {
    **{
        name: spec["default"]
        for name, spec in SPECS.items()
        if name not in ("controlnets", "ip_adapter")  # built from inputs, not widgets
    },
    "pipeline": PIPELINE,
    "t_index_list": ",".join(str(i) for i in SPECS["t_index_list"]["default"]),
    "lora_dict": "{}",
    "enable_ip_adapter": False,
    "ip_adapter_type": "none",
    "ip_adapter_scale": _IP_SCALE["default"],
    "ip_adapter_weight_type": IP_ADAPTER_WEIGHT_TYPES[0],
    "prompt_list": "",
    "seed_list": "",
    **{name: "" for name in (*PROCESSING, *LATENT_PROCESSING)},
    "cached_attention": _CACHED_DEFAULT["enabled"],
    "cached_attention_max_frames": _CACHED_DEFAULT["max_frames"],
    "cached_attention_interval_sec": _CACHED_DEFAULT["interval_sec"],
}


def limits(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A catalog entry's ``min``/``max``/``step``, as widget options."""
    return {key: spec[key] for key in ("min", "max", "step") if key in spec}


def widget(name: str) -> dict[str, Any]:
    """Default and limits of a Pipeline Config widget that maps to one param."""
    return {"default": WIDGET_DEFAULTS[name], **limits(SPECS[name])}


def cached_attention_widget(field: str) -> dict[str, Any]:
    return {"default": _CACHED_DEFAULT[field], **limits(_CACHED[field])}


def ip_adapter_scale_widget() -> dict[str, Any]:
    return {"default": _IP_SCALE["default"], **limits(_IP_SCALE)}


def controlnet_widget(field: str) -> dict[str, Any]:
    spec = _CN[field]
    return {**({"default": spec["default"]} if "default" in spec else {}), **limits(spec)}


def frame_widget(field: str) -> dict[str, Any]:
    """Default and limits of a frame setting (Start's fps, width, height)."""
    spec = FRAME[field]
    return {"default": spec["default"], **limits(spec)}


def family_of(model_id: str) -> ModelFamily:
    try:
        return MODELS[model_id]
    except KeyError:
        raise ParamError(
            f"model_id: unknown model {model_id!r}; choose one of {', '.join(MODELS)}"
        ) from None


def check_range(field: str, value: float, low: float, high: float) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ParamError(f"{field}: must be a finite number, got {value}")
    if not low <= value <= high:
        raise ParamError(f"{field}: {value} is outside the allowed range {low} to {high}")


def check_spec(field: str, value: float, spec: Mapping[str, Any]) -> None:
    check_range(field, value, spec["min"], spec["max"])


def check_choice(field: str, value: str, choices: tuple[str, ...] | list[str]) -> None:
    if value not in choices:
        raise ParamError(f"{field}: {value!r} is not one of {', '.join(choices)}")


def check_size(field: str, value: int) -> None:
    spec = SPECS[field]
    low, high, step = spec["min"], spec["max"], spec["step"]
    if not (low <= value <= high and value % step == 0):
        raise ParamError(
            f"{field} must be a multiple of {step} between {low} and {high} (got {value})"
        )


def parse_t_index_list(text: str, steps: int) -> list[int]:
    """``"12, 20, 32"`` → ``[12, 20, 32]``: 1 to 4 non-decreasing indices within the step count."""
    tokens = [token.strip() for token in text.replace(";", ",").split(",") if token.strip()]
    try:
        indices = [int(token) for token in tokens]
    except ValueError:
        raise ParamError(
            f"t_index_list: {text!r} must be comma-separated whole numbers, e.g. 12,20,32"
        ) from None
    spec = SPECS["t_index_list"]
    low, high = spec["min_items"], spec["max_items"]
    if not low <= len(indices) <= high:
        raise ParamError(f"t_index_list: needs {low} to {high} indices, got {len(indices)}")
    for index in indices:
        if not 0 <= index <= steps:
            raise ParamError(
                f"t_index_list: index {index} is outside 0 to {steps} (num_inference_steps)"
            )
    if indices != sorted(indices):
        raise ParamError(f"t_index_list: indices must not decrease, got {indices}")
    return indices


def parse_json(field: str, value: str | Mapping[str, Any] | list[Any] | None) -> Any:
    """A widget's JSON text (or an already parsed value); ``None`` when blank."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError as error:
        raise ParamError(f"{field}: not valid JSON ({error.msg} at line {error.lineno})") from None


def parse_json_object(field: str, value: str | Mapping[str, Any] | None) -> dict[str, Any]:
    parsed = parse_json(field, value)
    if parsed is None:
        return {}
    if not isinstance(parsed, Mapping):
        raise ParamError(f"{field}: must be a JSON object like {{}}, got {type(parsed).__name__}")
    return dict(parsed)


def parse_lora_dict(value: str) -> dict[str, float]:
    loras = parse_json_object("lora_dict", value)
    for name, weight in loras.items():
        if not _is_number(weight):
            raise ParamError(f"lora_dict: weight of {name!r} must be a number, got {weight!r}")
    return {name: float(weight) for name, weight in loras.items()}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_weighted_list(field: str, text: str, item: str) -> list[list[Any]] | None:
    """``[[value, weight], …]`` for a prompt or seed schedule; ``None`` when blank."""
    parsed = parse_json(field, text)
    if parsed is None:
        return None
    example = '[["a cat", 0.5], ["a dog", 0.5]]' if item == "prompt" else "[[42, 0.5], [7, 0.5]]"
    if not isinstance(parsed, list) or not parsed:
        raise ParamError(f"{field}: must be a JSON list of [{item}, weight] pairs, e.g. {example}")
    pairs = []
    for index, pair in enumerate(parsed):
        if not (isinstance(pair, list) and len(pair) == 2 and _is_number(pair[1])):
            raise ParamError(f"{field}: entry {index + 1} must be a [{item}, weight] pair")
        value, weight = pair
        if item == "prompt":
            if not isinstance(value, str) or not value.strip():
                raise ParamError(f"{field}: entry {index + 1} needs a non-empty prompt")
            value = value.strip()
        else:
            if not isinstance(value, int) or isinstance(value, bool):
                raise ParamError(f"{field}: entry {index + 1} needs a whole-number seed")
            check_range(f"{field}: seed of entry {index + 1}", value, 0, SEED_MAX)
        if not (math.isfinite(weight) and weight >= 0):
            raise ParamError(
                f"{field}: weight of entry {index + 1} must be 0 or more, got {weight}"
            )
        pairs.append([value, float(weight)])
    return pairs


def parse_processing(field: str, text: str) -> dict[str, Any] | None:
    """An image or latent processing block: ``{"enabled", "processors": [{"type", …}]}``."""
    block = parse_json(field, text)
    if block is None:
        return None
    processing = CATALOG["processing"]
    kinds = LATENT_PROCESSORS if field in LATENT_PROCESSING else IMAGE_PROCESSORS
    example = f'{{"processors": [{{"type": "{kinds[0]}"}}]}}'
    if not isinstance(block, Mapping) or not isinstance(block.get("processors", []), list):
        raise ParamError(f"{field}: must be a JSON object like {example}")
    _check_keys(field, block, processing["fields"])
    checked = {"enabled": bool(block.get("enabled", True)), "processors": []}
    for index, processor in enumerate(block.get("processors", [])):
        where = f"{field}: processor {index + 1}"
        if not isinstance(processor, Mapping):
            raise ParamError(f'{where} must be an object like {{"type": "{kinds[0]}"}}')
        _check_keys(where, processor, processing["processor_fields"])
        check_choice(f"{where} type", str(processor.get("type", "")), kinds)
        options = processor.get("params", {})
        if not isinstance(options, Mapping):
            raise ParamError(f"{where} params must be a JSON object")
        checked["processors"].append(
            {
                "type": processor["type"],
                "enabled": bool(processor.get("enabled", True)),
                "params": dict(options),
            }
        )
    return checked


def _check_keys(field: str, value: Mapping[str, Any], allowed: list[str]) -> None:
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise ParamError(
            f"{field}: unknown key {unknown[0]!r}; allowed keys are {', '.join(allowed)}"
        )


def controlnet_config(
    model_id: str,
    *,
    preprocessor: str = "auto",
    conditioning_scale: float = -1.0,
    control_guidance_start: float = _CN["control_guidance_start"]["default"],
    control_guidance_end: float = _CN["control_guidance_end"]["default"],
    preprocessor_params: str | Mapping[str, Any] | None = None,
    enabled: bool = True,
) -> dict[str, Any]:
    """One ControlNet entry; "auto" and a negative scale take the model's recommended values."""
    spec = CONTROLNETS.get(model_id)
    if spec is None:
        raise ParamError(
            f"model_id: unknown ControlNet {model_id!r}; choose one of {', '.join(CONTROLNETS)}"
        )
    chosen = spec.preprocessor if preprocessor in ("", "auto") else preprocessor
    if chosen not in spec.preprocessors:
        raise ParamError(
            f"preprocessor: {chosen!r} does not work with {spec.label}; "
            f"use {' or '.join(spec.preprocessors)}"
        )
    scale = spec.scale if conditioning_scale < 0 else float(conditioning_scale)
    check_spec("conditioning_scale", scale, _CN["conditioning_scale"])
    check_spec("control_guidance_start", control_guidance_start, _CN["control_guidance_start"])
    check_spec("control_guidance_end", control_guidance_end, _CN["control_guidance_end"])
    if control_guidance_start > control_guidance_end:
        raise ParamError(
            f"control_guidance_end: {control_guidance_end} must not be below "
            f"control_guidance_start ({control_guidance_start})"
        )
    extra = parse_json_object("preprocessor_params", preprocessor_params)
    return {
        "enabled": bool(enabled),
        "model_id": model_id,
        "preprocessor": chosen,
        "conditioning_scale": scale,
        "control_guidance_start": float(control_guidance_start),
        "control_guidance_end": float(control_guidance_end),
        "preprocessor_params": extra or dict(spec.preprocessor_params),
    }


def check_controlnets(model_id: str, controlnets: Mapping[int, Mapping[str, Any]]) -> list[dict]:
    """Family membership, no duplicates, the SDXL limit; each entry re-validated.

    ``controlnets`` maps the input slot (``controlnet_<slot>``) to its entry, so an error names
    the input the user connected.
    """
    family = family_of(model_id)
    seen: set[str] = set()
    checked = []
    for slot, entry in controlnets.items():
        cn_id = str(entry.get("model_id", ""))
        if cn_id not in family.controlnets:
            raise ParamError(
                f"controlnet_{slot}: {cn_id!r} does not work with {model_id} ({family.name}); "
                f"use one of {', '.join(family.controlnets)}"
            )
        if cn_id in seen:
            raise ParamError(f"controlnet_{slot}: {cn_id} is used twice")
        seen.add(cn_id)
        checked.append(
            controlnet_config(
                cn_id,
                preprocessor=str(entry.get("preprocessor", "auto")),
                conditioning_scale=float(entry.get("conditioning_scale", -1.0)),
                control_guidance_start=float(entry.get("control_guidance_start", 0.0)),
                control_guidance_end=float(entry.get("control_guidance_end", 1.0)),
                preprocessor_params=entry.get("preprocessor_params"),
                enabled=bool(entry.get("enabled", True)),
            )
        )
    limit = family.max_enabled_controlnets
    # Like the runner, a ControlNet at scale 0 does not count: it is not loaded.
    enabled = sum(1 for entry in checked if entry["enabled"] and entry["conditioning_scale"] > 0)
    if limit is not None and enabled > limit:
        raise ParamError(
            f"controlnets: {family.name} models allow at most {limit} enabled ControlNets, "
            f"got {enabled}"
        )
    return checked


def _ip_adapter(model_id: str, family: ModelFamily, value: Any) -> dict[str, Any]:
    ip_type = str(value("ip_adapter_type"))
    check_choice("ip_adapter_type", ip_type, IP_ADAPTER_TYPES)
    if not bool(value("enable_ip_adapter")) or ip_type == "none":
        return {"enabled": False}
    if not family.ip_adapter:
        allowed = [m for m, f in MODELS.items() if f.ip_adapter]
        raise ParamError(
            f"enable_ip_adapter: IP-Adapter is not available for {model_id} ({family.name}); "
            f"use one of {', '.join(allowed)}"
        )
    ip_scale = float(value("ip_adapter_scale"))
    check_spec("ip_adapter_scale", ip_scale, _IP_SCALE)
    weight_type = str(value("ip_adapter_weight_type"))
    check_choice("ip_adapter_weight_type", weight_type, IP_ADAPTER_WEIGHT_TYPES)
    return {"enabled": True, "type": ip_type, "scale": ip_scale, "weight_type": weight_type}


def _cached_attention(value: Any, acceleration: str, size: tuple[int, int]) -> dict[str, Any]:
    max_frames = int(value("cached_attention_max_frames"))
    check_spec("cached_attention_max_frames", max_frames, _CACHED["max_frames"])
    interval = float(value("cached_attention_interval_sec"))
    check_spec("cached_attention_interval_sec", interval, _CACHED["interval_sec"])
    enabled = bool(value("cached_attention"))
    needs = _CACHED["requires"]
    if enabled and (acceleration, size) != (
        needs["acceleration"],
        (needs["width"], needs["height"]),
    ):
        raise ParamError(
            f"cached_attention: needs acceleration {needs['acceleration']} and "
            f"{needs['width']}x{needs['height']}, got {acceleration} and {size[0]}x{size[1]}"
        )
    return {"enabled": enabled, "max_frames": max_frames, "interval_sec": interval}


def build_pipeline_config(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The Pipeline Config node's inputs → ``{"pipeline", "params"}`` for the relay.

    Inputs left out (an API-format prompt may omit optional ones) take the widget defaults.
    Every param the node controls is sent, off-states included, so that an update of a running
    stream also turns off what was removed.
    """

    def value(name: str) -> Any:
        given = inputs.get(name)
        return WIDGET_DEFAULTS[name] if given is None else given

    pipeline = str(value("pipeline")).strip()
    check_choice("pipeline", pipeline, (PIPELINE,))
    model_id = str(value("model_id"))
    family = family_of(model_id)
    prompt = parse_weighted_list("prompt_list", value("prompt_list"), "prompt")
    if prompt is None:
        prompt = str(value("prompt")).strip()
        if not prompt:
            raise ParamError("prompt: must not be empty")
    seed = parse_weighted_list("seed_list", value("seed_list"), "seed")
    if seed is None:
        seed = int(value("seed"))
        check_spec("seed", seed, SPECS["seed"])
    steps = int(value("num_inference_steps"))
    check_spec("num_inference_steps", steps, SPECS["num_inference_steps"])
    numbers = {}
    for name in ("guidance_scale", "delta", "safety_checker_threshold"):
        numbers[name] = float(value(name))
        check_spec(name, numbers[name], SPECS[name])
    width, height = int(value("width")), int(value("height"))
    check_size("width", width)
    check_size("height", height)
    choices = {}
    for name in ("acceleration", "prompt_interpolation_method", "seed_interpolation_method"):
        choices[name] = str(value(name))
        check_choice(name, choices[name], SPECS[name]["choices"])
    threshold = float(value("similar_image_filter_threshold"))
    check_spec("similar_image_filter_threshold", threshold, SPECS["similar_image_filter_threshold"])
    max_skip = int(value("similar_image_filter_max_skip_frame"))
    check_spec(
        "similar_image_filter_max_skip_frame",
        max_skip,
        SPECS["similar_image_filter_max_skip_frame"],
    )
    use_lcm_lora = bool(value("use_lcm_lora"))
    params: dict[str, Any] = {
        "model_id": model_id,
        "prompt": prompt,
        "negative_prompt": str(value("negative_prompt")).strip(),
        "prompt_interpolation_method": choices["prompt_interpolation_method"],
        "normalize_prompt_weights": bool(value("normalize_prompt_weights")),
        **numbers,
        "num_inference_steps": steps,
        "t_index_list": parse_t_index_list(str(value("t_index_list")), steps),
        "width": width,
        "height": height,
        "seed": seed,
        "seed_interpolation_method": choices["seed_interpolation_method"],
        "normalize_seed_weights": bool(value("normalize_seed_weights")),
        "use_safety_checker": bool(value("use_safety_checker")),
        "use_lcm_lora": use_lcm_lora,
        "lora_dict": parse_lora_dict(str(value("lora_dict"))) or None,
        "acceleration": choices["acceleration"],
        "use_denoising_batch": bool(value("use_denoising_batch")),
        "do_add_noise": bool(value("do_add_noise")),
        "skip_diffusion": bool(value("skip_diffusion")),
        "show_reloading_frame": bool(value("show_reloading_frame")),
        "enable_similar_image_filter": bool(value("enable_similar_image_filter")),
        "similar_image_filter_threshold": threshold,
        "similar_image_filter_max_skip_frame": max_skip,
        **{name: parse_processing(name, value(name)) for name in (*PROCESSING, *LATENT_PROCESSING)},
        "cached_attention": _cached_attention(value, choices["acceleration"], (width, height)),
    }
    lcm_lora_id = str(value("lcm_lora_id")).strip()
    if use_lcm_lora and lcm_lora_id:
        params["lcm_lora_id"] = lcm_lora_id
    controlnets = {
        slot: inputs[f"controlnet_{slot}"]
        for slot in range(1, 6)
        if isinstance(inputs.get(f"controlnet_{slot}"), Mapping)
    }
    params["controlnets"] = check_controlnets(model_id, controlnets)
    params["ip_adapter"] = _ip_adapter(model_id, family, value)
    url = str(value("ip_adapter_style_image_url")).strip()
    if params["ip_adapter"]["enabled"] and url:
        schemes = tuple(CATALOG["ip_adapter"]["style_image_url_schemes"])
        if not url.startswith(schemes):
            raise ParamError(f"ip_adapter_style_image_url: must start with {' or '.join(schemes)}")
        params["ip_adapter_style_image_url"] = url
    return {"pipeline": pipeline, "params": params}


def fingerprint(value: Any) -> str:
    """Stable digest of a JSON-able value (sorted keys, compact)."""
    import hashlib

    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
