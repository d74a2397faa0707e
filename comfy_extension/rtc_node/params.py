"""StreamDiffusion parameters: model families, ControlNet registry and validation.

Pure data and checks, no IO, so the Pipeline Config and ControlNet nodes and the tests share
one source of truth. Every error names the field and the allowed values or range.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PIPELINE = "streamdiffusion"


class ParamError(ValueError):
    """A parameter is out of range or inconsistent; the message says which and why."""


@dataclass(frozen=True)
class ModelFamily:
    name: str
    controlnets: tuple[str, ...]
    ip_adapter_types: tuple[str, ...]
    max_enabled_controlnets: int | None = None


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


def _cn(
    model_id: str,
    label: str,
    preprocessors: tuple[str, ...],
    scale: float,
    **params: Any,
) -> ControlNetSpec:
    return ControlNetSpec(model_id, label, preprocessors, scale, params)


CANNY = {"low_threshold": 100, "high_threshold": 200}
# Runner presets ship TemporalNet and some SD1.5 slots at scale 0 (off); 0.3 is the middle of
# the documented useful range, so choosing one of them does something visible.
CONTROLNETS: dict[str, ControlNetSpec] = {
    spec.model_id: spec
    for spec in (
        _cn(
            "thibaud/controlnet-sd21-openpose-diffusers",
            "SD2.1 OpenPose",
            ("pose_tensorrt", "openpose"),
            0.711,
        ),
        _cn("thibaud/controlnet-sd21-hed-diffusers", "SD2.1 HED", ("soft_edge", "hed"), 0.2),
        _cn("thibaud/controlnet-sd21-canny-diffusers", "SD2.1 Canny", ("canny",), 0.2, **CANNY),
        _cn(
            "thibaud/controlnet-sd21-depth-diffusers",
            "SD2.1 Depth",
            ("depth_tensorrt", "depth"),
            0.5,
        ),
        _cn("thibaud/controlnet-sd21-color-diffusers", "SD2.1 Color", ("passthrough",), 0.2),
        _cn(
            "daydreamlive/TemporalNet2-stable-diffusion-2-1",
            "SD2.1 TemporalNet2",
            ("temporal_net_tensorrt",),
            0.3,
            flow_strength=0.4,
        ),
        _cn("xinsir/controlnet-depth-sdxl-1.0", "SDXL Depth", ("depth_tensorrt", "depth"), 0.7),
        _cn("xinsir/controlnet-canny-sdxl-1.0", "SDXL Canny", ("canny",), 0.2, **CANNY),
        _cn("xinsir/controlnet-tile-sdxl-1.0", "SDXL Tile", ("feedback",), 0.15),
        _cn(
            "daydreamlive/TemporalNet2-stable-diffusion-xl-base-1.0",
            "SDXL TemporalNet2",
            ("temporal_net_tensorrt",),
            0.3,
            flow_strength=0.4,
        ),
        _cn(
            "lllyasviel/control_v11f1p_sd15_depth", "SD1.5 Depth", ("depth_tensorrt", "depth"), 1.0
        ),
        _cn("lllyasviel/control_v11f1e_sd15_tile", "SD1.5 Tile", ("feedback",), 0.2),
        _cn("lllyasviel/control_v11p_sd15_canny", "SD1.5 Canny", ("canny",), 0.3, **CANNY),
        _cn(
            "daydreamlive/TemporalNet2-stable-diffusion-v1-5",
            "SD1.5 TemporalNet2",
            ("temporal_net_tensorrt",),
            0.3,
            flow_strength=0.4,
        ),
    )
}

_SD21 = ModelFamily(
    "SD2.1",
    tuple(m for m in CONTROLNETS if "sd21" in m or m.endswith("diffusion-2-1")),
    ip_adapter_types=(),
)
_SDXL = ModelFamily(
    "SDXL",
    tuple(m for m in CONTROLNETS if "sdxl" in m or m.endswith("xl-base-1.0")),
    ip_adapter_types=("regular", "faceid"),
    max_enabled_controlnets=3,
)
_SD15 = ModelFamily(
    "SD1.5",
    tuple(m for m in CONTROLNETS if "sd15" in m or m.endswith("v1-5")),
    ip_adapter_types=("regular",),
)
MODELS: dict[str, ModelFamily] = {
    "stabilityai/sd-turbo": _SD21,
    "stabilityai/sdxl-turbo": _SDXL,
    "Lykon/dreamshaper-8": _SD15,
    "prompthero/openjourney-v4": _SD15,
}
DEFAULT_MODEL = "stabilityai/sd-turbo"

PREPROCESSORS = sorted({p for spec in CONTROLNETS.values() for p in spec.preprocessors})
ACCELERATION = ("none", "xformers", "tensorrt")
INTERPOLATION = ("linear", "slerp")
IP_ADAPTER_TYPES = ("none", "regular", "faceid")
IP_ADAPTER_WEIGHT_TYPES = (
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
)
SIZE_MIN, SIZE_MAX, SIZE_STEP = 384, 1024, 64
STEPS_MIN, STEPS_MAX = 1, 100
SEED_MAX = 2**32 - 1
# Changing these restarts nothing upstream: a running stream takes them with a PATCH.
HOT_SWAPPABLE = frozenset(
    {"prompt", "guidance_scale", "delta", "num_inference_steps", "t_index_list", "seed"}
)


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


def check_choice(field: str, value: str, choices: tuple[str, ...] | list[str]) -> None:
    if value not in choices:
        raise ParamError(f"{field}: {value!r} is not one of {', '.join(choices)}")


def check_size(field: str, value: int) -> None:
    if not (SIZE_MIN <= value <= SIZE_MAX and value % SIZE_STEP == 0):
        raise ParamError(
            f"{field}: {value} must be a multiple of {SIZE_STEP} between {SIZE_MIN} and {SIZE_MAX}"
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
    if not 1 <= len(indices) <= 4:
        raise ParamError(f"t_index_list: needs 1 to 4 indices, got {len(indices)}")
    for index in indices:
        if not 0 <= index <= steps:
            raise ParamError(
                f"t_index_list: index {index} is outside 0 to {steps} (num_inference_steps)"
            )
    if indices != sorted(indices):
        raise ParamError(f"t_index_list: indices must not decrease, got {indices}")
    return indices


def parse_json_object(field: str, value: str | Mapping[str, Any] | None) -> dict[str, Any]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    try:
        parsed = json.loads(value)
    except ValueError as error:
        raise ParamError(f"{field}: not valid JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(parsed, dict):
        raise ParamError(f"{field}: must be a JSON object like {{}}, got {type(parsed).__name__}")
    return parsed


def parse_lora_dict(value: str) -> dict[str, float]:
    loras = parse_json_object("lora_dict", value)
    for name, weight in loras.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise ParamError(f"lora_dict: weight of {name!r} must be a number, got {weight!r}")
    return {name: float(weight) for name, weight in loras.items()}


def controlnet_config(
    model_id: str,
    *,
    preprocessor: str = "auto",
    conditioning_scale: float = -1.0,
    control_guidance_start: float = 0.0,
    control_guidance_end: float = 1.0,
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
    check_range("conditioning_scale", scale, 0.0, 2.0)
    check_range("control_guidance_start", control_guidance_start, 0.0, 1.0)
    check_range("control_guidance_end", control_guidance_end, 0.0, 1.0)
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
    enabled = sum(1 for entry in checked if entry["enabled"])
    if limit is not None and enabled > limit:
        raise ParamError(
            f"controlnets: {family.name} models allow at most {limit} enabled ControlNets, "
            f"got {enabled}"
        )
    return checked


def build_pipeline_config(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The Pipeline Config node's inputs → ``{"pipeline", "params"}`` for the relay."""
    pipeline = str(inputs.get("pipeline", PIPELINE)).strip()
    check_choice("pipeline", pipeline, (PIPELINE,))
    model_id = str(inputs["model_id"])
    family = family_of(model_id)
    prompt = str(inputs["prompt"]).strip()
    if not prompt:
        raise ParamError("prompt: must not be empty")
    steps = int(inputs["num_inference_steps"])
    check_range("num_inference_steps", steps, STEPS_MIN, STEPS_MAX)
    check_range("guidance_scale", float(inputs["guidance_scale"]), 0.0, 20.0)
    check_range("delta", float(inputs["delta"]), 0.0, 1.0)
    width, height = int(inputs["width"]), int(inputs["height"])
    check_size("width", width)
    check_size("height", height)
    seed = int(inputs["seed"])
    check_range("seed", seed, 0, SEED_MAX)
    acceleration = str(inputs.get("acceleration", "tensorrt"))
    check_choice("acceleration", acceleration, ACCELERATION)
    for field in ("prompt_interpolation_method", "seed_interpolation_method"):
        check_choice(field, str(inputs.get(field, "linear")), INTERPOLATION)
    threshold = float(inputs.get("similar_image_filter_threshold", 0.98))
    check_range("similar_image_filter_threshold", threshold, 0.0, 1.0)
    max_skip = int(inputs.get("similar_image_filter_max_skip_frame", 10))
    check_range("similar_image_filter_max_skip_frame", max_skip, 0, 10_000)
    use_lcm_lora = bool(inputs.get("use_lcm_lora", True))
    params: dict[str, Any] = {
        "model_id": model_id,
        "prompt": prompt,
        "negative_prompt": str(inputs.get("negative_prompt", "")).strip(),
        "prompt_interpolation_method": str(inputs.get("prompt_interpolation_method", "linear")),
        "normalize_prompt_weights": bool(inputs.get("normalize_prompt_weights", True)),
        "guidance_scale": float(inputs["guidance_scale"]),
        "delta": float(inputs["delta"]),
        "num_inference_steps": steps,
        "t_index_list": parse_t_index_list(str(inputs.get("t_index_list", "")), steps),
        "width": width,
        "height": height,
        "seed": seed,
        "seed_interpolation_method": str(inputs.get("seed_interpolation_method", "linear")),
        "normalize_seed_weights": bool(inputs.get("normalize_seed_weights", True)),
        "use_safety_checker": bool(inputs.get("use_safety_checker", True)),
        "use_lcm_lora": use_lcm_lora,
        "lora_dict": parse_lora_dict(str(inputs.get("lora_dict", "{}"))) or None,
        "acceleration": acceleration,
        "use_denoising_batch": bool(inputs.get("use_denoising_batch", True)),
        "do_add_noise": bool(inputs.get("do_add_noise", True)),
        "skip_diffusion": bool(inputs.get("skip_diffusion", False)),
        "enable_similar_image_filter": bool(inputs.get("enable_similar_image_filter", False)),
        "similar_image_filter_threshold": threshold,
        "similar_image_filter_max_skip_frame": max_skip,
    }
    lcm_lora_id = str(inputs.get("lcm_lora_id", "")).strip()
    if use_lcm_lora and lcm_lora_id:
        params["lcm_lora_id"] = lcm_lora_id
    controlnets = {
        slot: inputs[f"controlnet_{slot}"]
        for slot in range(1, 6)
        if isinstance(inputs.get(f"controlnet_{slot}"), Mapping)
    }
    if controlnets:
        params["controlnets"] = check_controlnets(model_id, controlnets)
    ip_type = str(inputs.get("ip_adapter_type", "none"))
    check_choice("ip_adapter_type", ip_type, IP_ADAPTER_TYPES)
    if bool(inputs.get("enable_ip_adapter", False)) and ip_type != "none":
        if ip_type not in family.ip_adapter_types:
            allowed = ", ".join(family.ip_adapter_types) or "none"
            raise ParamError(
                f"ip_adapter_type: {ip_type!r} is not available for {model_id} "
                f"({family.name}); allowed: {allowed}"
            )
        ip_scale = float(inputs.get("ip_adapter_scale", 0.5))
        check_range("ip_adapter_scale", ip_scale, 0.0, 2.0)
        weight_type = str(inputs.get("ip_adapter_weight_type", "linear"))
        check_choice("ip_adapter_weight_type", weight_type, IP_ADAPTER_WEIGHT_TYPES)
        params["ip_adapter"] = {
            "enabled": True,
            "type": ip_type,
            "scale": ip_scale,
            "weight_type": weight_type,
        }
        url = str(inputs.get("ip_adapter_style_image_url", "")).strip()
        if url:
            if not url.startswith(("https://", "data:image/")):
                raise ParamError(
                    "ip_adapter_style_image_url: must be an https:// URL or a data:image/ URI"
                )
            params["ip_adapter_style_image_url"] = url
    return {"pipeline": pipeline, "params": params}


def fingerprint(value: Any) -> str:
    """Stable digest of a JSON-able value (sorted keys, compact)."""
    import hashlib

    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def needs_new_stream(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """True unless the two configs differ only in fields a running stream can take live."""
    if old.get("pipeline") != new.get("pipeline"):
        return True
    old_params, new_params = old.get("params", {}), new.get("params", {})
    keys = (set(old_params) | set(new_params)) - HOT_SWAPPABLE
    return any(old_params.get(key) != new_params.get(key) for key in keys)


def catalog() -> dict[str, Any]:
    """Models, their families' ControlNets and recommended settings, for UIs that filter."""
    return {
        "models": {
            model_id: {
                "family": family.name,
                "controlnets": list(family.controlnets),
                "ip_adapter_types": list(family.ip_adapter_types),
                "max_enabled_controlnets": family.max_enabled_controlnets,
            }
            for model_id, family in MODELS.items()
        },
        "controlnets": {
            spec.model_id: {
                "label": spec.label,
                "preprocessors": list(spec.preprocessors),
                "conditioning_scale": spec.scale,
                "preprocessor_params": dict(spec.preprocessor_params),
            }
            for spec in CONTROLNETS.values()
        },
    }
