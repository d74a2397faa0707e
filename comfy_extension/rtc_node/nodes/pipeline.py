"""Pipeline Config and ControlNet: validated StreamDiffusion parameters, no IO."""

from __future__ import annotations

import json
from typing import Any

from comfy_api.latest import io

from .. import params
from .common import CATEGORY, ControlNetConfigType, PipelineConfigType


def _processing_tooltip(name: str) -> str:
    kinds = (
        params.LATENT_PROCESSORS if name in params.LATENT_PROCESSING else params.IMAGE_PROCESSORS
    )
    note = (
        " An upscale processor makes the output larger than the input."
        if name == "image_postprocessing"
        else ""
    )
    return (
        'JSON, e.g. {"processors": [{"type": "' + kinds[0] + '", "params": {}}]}; empty for none. '
        "Types: " + ", ".join(kinds) + "." + note
    )


def _families() -> str:
    """Which models each family's ControlNets work with."""
    by_family: dict[str, list[str]] = {}
    for model_id, family in params.MODELS.items():
        by_family.setdefault(family.name, []).append(model_id)
    return "; ".join(f"{name} ones are for {', '.join(ids)}" for name, ids in by_family.items())


def _recommended() -> str:
    return "; ".join(
        f"{spec.label}: {spec.preprocessor} @ {spec.scale}" for spec in params.CONTROLNETS.values()
    )


class PipelineConfig(io.ComfyNode):
    """Inputs keep the original node's order so saved workflows load their widget values."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        w = params.widget
        return io.Schema(
            node_id="RTCStreamPipelineConfig",
            display_name="Pipeline Config",
            category=CATEGORY,
            description="StreamDiffusion parameters for Start / Update RTC Stream. Inputs left "
            "out of an API-format prompt take the defaults shown here.",
            inputs=[
                io.Combo.Input("pipeline", options=[params.PIPELINE], default=params.PIPELINE),
                io.Combo.Input(
                    "model_id",
                    options=list(params.MODELS),
                    default=params.WIDGET_DEFAULTS["model_id"],
                    tooltip="; ".join(
                        f"{model_id}: {spec['note']} ({params.MODELS[model_id].name})"
                        for model_id, spec in params.CATALOG["models"].items()
                    ),
                ),
                io.String.Input("prompt", multiline=True, default=w("prompt")["default"]),
                io.Float.Input("guidance_scale", **w("guidance_scale")),
                io.Float.Input("delta", **w("delta")),
                io.Int.Input("num_inference_steps", **w("num_inference_steps")),
                io.Int.Input("width", **w("width")),
                io.Int.Input("height", **w("height")),
                io.Int.Input("seed", **w("seed"), control_after_generate=True),
                io.String.Input(
                    "negative_prompt", multiline=True, **w("negative_prompt"), optional=True
                ),
                io.Combo.Input(
                    "prompt_interpolation_method",
                    options=list(params.INTERPOLATION),
                    **w("prompt_interpolation_method"),
                    optional=True,
                ),
                io.Combo.Input(
                    "seed_interpolation_method",
                    options=list(params.INTERPOLATION),
                    **w("seed_interpolation_method"),
                    optional=True,
                ),
                io.Boolean.Input(
                    "normalize_prompt_weights", **w("normalize_prompt_weights"), optional=True
                ),
                io.Boolean.Input(
                    "normalize_seed_weights", **w("normalize_seed_weights"), optional=True
                ),
                io.Boolean.Input("use_safety_checker", **w("use_safety_checker"), optional=True),
                io.Boolean.Input("use_lcm_lora", **w("use_lcm_lora"), optional=True),
                io.String.Input(
                    "lcm_lora_id",
                    **w("lcm_lora_id"),
                    optional=True,
                    tooltip="Empty uses the service's LCM LoRA for the model family.",
                ),
                io.String.Input(
                    "lora_dict",
                    multiline=True,
                    **w("lora_dict"),
                    optional=True,
                    tooltip='JSON object of LoRA id → weight, e.g. {"user/style-lora": 0.8}',
                ),
                io.Combo.Input(
                    "acceleration",
                    options=list(params.ACCELERATION),
                    **w("acceleration"),
                    optional=True,
                ),
                io.Boolean.Input("use_denoising_batch", **w("use_denoising_batch"), optional=True),
                io.Boolean.Input("do_add_noise", **w("do_add_noise"), optional=True),
                io.Boolean.Input(
                    "enable_similar_image_filter", **w("enable_similar_image_filter"), optional=True
                ),
                io.Float.Input(
                    "similar_image_filter_threshold",
                    **w("similar_image_filter_threshold"),
                    optional=True,
                ),
                io.Int.Input(
                    "similar_image_filter_max_skip_frame",
                    **w("similar_image_filter_max_skip_frame"),
                    optional=True,
                ),
                io.String.Input(
                    "t_index_list",
                    default=params.WIDGET_DEFAULTS["t_index_list"],
                    optional=True,
                    tooltip="1 to 4 denoising step indices, non-decreasing, each at most "
                    "num_inference_steps. More indices: better quality, more latency.",
                ),
                *[
                    ControlNetConfigType.Input(f"controlnet_{slot}", optional=True)
                    for slot in range(1, 6)
                ],
                io.Boolean.Input(
                    "enable_ip_adapter",
                    default=params.WIDGET_DEFAULTS["enable_ip_adapter"],
                    optional=True,
                ),
                io.Combo.Input(
                    "ip_adapter_type",
                    options=list(params.IP_ADAPTER_TYPES),
                    default=params.WIDGET_DEFAULTS["ip_adapter_type"],
                    optional=True,
                    tooltip="Only for "
                    + ", ".join(m for m, f in params.MODELS.items() if f.ip_adapter)
                    + ".",
                ),
                io.Float.Input(
                    "ip_adapter_scale", **params.ip_adapter_scale_widget(), optional=True
                ),
                io.Combo.Input(
                    "ip_adapter_weight_type",
                    options=list(params.IP_ADAPTER_WEIGHT_TYPES),
                    default=params.WIDGET_DEFAULTS["ip_adapter_weight_type"],
                    optional=True,
                ),
                io.String.Input(
                    "ip_adapter_style_image_url", **w("ip_adapter_style_image_url"), optional=True
                ),
                # Appended after the original node's widgets, so saved workflows keep theirs.
                io.Boolean.Input(
                    "skip_diffusion",
                    **w("skip_diffusion"),
                    optional=True,
                    tooltip="Apply only the image pre- and post-processing, no diffusion.",
                ),
                io.Float.Input(
                    "safety_checker_threshold", **w("safety_checker_threshold"), optional=True
                ),
                io.Boolean.Input(
                    "show_reloading_frame",
                    **w("show_reloading_frame"),
                    optional=True,
                    tooltip="Show a loading frame while the service reloads the pipeline.",
                ),
                io.String.Input(
                    "prompt_list",
                    multiline=True,
                    default=params.WIDGET_DEFAULTS["prompt_list"],
                    optional=True,
                    tooltip="Weighted prompts blended with prompt_interpolation_method, as JSON "
                    '[["a cat", 0.7], ["a dog", 0.3]]; replaces prompt when not empty.',
                ),
                io.String.Input(
                    "seed_list",
                    default=params.WIDGET_DEFAULTS["seed_list"],
                    optional=True,
                    tooltip="Weighted seeds blended with seed_interpolation_method, as JSON "
                    "[[42, 0.5], [7, 0.5]]; replaces seed when not empty.",
                ),
                io.Boolean.Input(
                    "cached_attention",
                    default=params.WIDGET_DEFAULTS["cached_attention"],
                    optional=True,
                    tooltip="Reuse attention across frames (StreamV2V) for steadier video; "
                    "needs acceleration tensorrt and 512x512.",
                ),
                io.Int.Input(
                    "cached_attention_max_frames",
                    **params.cached_attention_widget("max_frames"),
                    optional=True,
                ),
                io.Float.Input(
                    "cached_attention_interval_sec",
                    **params.cached_attention_widget("interval_sec"),
                    optional=True,
                ),
                *[
                    io.String.Input(
                        name,
                        multiline=True,
                        default=params.WIDGET_DEFAULTS[name],
                        optional=True,
                        tooltip=_processing_tooltip(name),
                    )
                    for name in (*params.PROCESSING, *params.LATENT_PROCESSING)
                ],
            ],
            outputs=[
                PipelineConfigType.Output("pipeline_config", display_name="pipeline_config"),
                io.String.Output("config_json", display_name="config_json"),
                # An output id may not repeat an input id (ComfyUI refuses the node).
                io.Int.Output("width_out", display_name="width"),
                io.Int.Output("height_out", display_name="height"),
            ],
        )

    @classmethod
    def execute(cls, **inputs: Any) -> io.NodeOutput:
        config = params.build_pipeline_config(inputs)
        width, height = config["params"]["width"], config["params"]["height"]
        return io.NodeOutput(config, json.dumps(config, indent=2), width, height)


class ControlNet(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RTCStreamControlNet",
            display_name="ControlNet",
            category=CATEGORY,
            description="One ControlNet for Pipeline Config. Its model must belong to the "
            "family of the Pipeline Config's model_id.",
            inputs=[
                io.Combo.Input(
                    "model_id",
                    options=list(params.CONTROLNETS),
                    default=next(iter(params.CONTROLNETS)),
                    tooltip=_families(),
                ),
                io.Combo.Input(
                    "preprocessor",
                    options=["auto", *params.PREPROCESSORS],
                    default="auto",
                    tooltip="auto picks the recommended preprocessor. " + _recommended(),
                ),
                io.Float.Input(
                    "conditioning_scale",
                    **{**params.controlnet_widget("conditioning_scale"), "min": -1.0},
                    default=-1.0,
                    tooltip="-1 uses the recommended scale for the model. " + _recommended(),
                ),
                io.Float.Input(
                    "control_guidance_start",
                    **params.controlnet_widget("control_guidance_start"),
                    optional=True,
                ),
                io.Float.Input(
                    "control_guidance_end",
                    **params.controlnet_widget("control_guidance_end"),
                    optional=True,
                ),
                io.String.Input(
                    "preprocessor_params",
                    multiline=True,
                    default="{}",
                    optional=True,
                    tooltip="JSON object; {} uses the recommended values (canny: 100/200).",
                ),
                io.Boolean.Input("enabled", default=True, optional=True),
            ],
            outputs=[ControlNetConfigType.Output("controlnet", display_name="controlnet")],
        )

    @classmethod
    def execute(
        cls, model_id: str, preprocessor: str, conditioning_scale: float, **optional: Any
    ) -> io.NodeOutput:
        # Optional inputs an API-format prompt leaves out take controlnet_config's defaults.
        return io.NodeOutput(
            params.controlnet_config(
                model_id,
                preprocessor=preprocessor,
                conditioning_scale=conditioning_scale,
                **optional,
            )
        )
