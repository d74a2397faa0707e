"""Pipeline Config and ControlNet: validated StreamDiffusion parameters, no IO."""

from __future__ import annotations

import json
from typing import Any

from comfy_api.latest import io

from .. import params
from .common import CATEGORY, ControlNetConfigType, PipelineConfigType


def _recommended() -> str:
    return "; ".join(
        f"{spec.label}: {spec.preprocessor} @ {spec.scale}" for spec in params.CONTROLNETS.values()
    )


class PipelineConfig(io.ComfyNode):
    """Inputs keep the original node's order so saved workflows load their widget values."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        size = {"min": params.SIZE_MIN, "max": params.SIZE_MAX, "step": params.SIZE_STEP}
        return io.Schema(
            node_id="RTCStreamPipelineConfig",
            display_name="Pipeline Config",
            category=CATEGORY,
            description="StreamDiffusion parameters for Start / Update RTC Stream.",
            inputs=[
                io.Combo.Input("pipeline", options=[params.PIPELINE], default=params.PIPELINE),
                io.Combo.Input(
                    "model_id",
                    options=list(params.MODELS),
                    default=params.DEFAULT_MODEL,
                    tooltip="sd-turbo: fastest (SD2.1); sdxl-turbo: best quality, IP-Adapter; "
                    "dreamshaper-8 / openjourney-v4: SD1.5 styles.",
                ),
                io.String.Input("prompt", multiline=True, default="A beautiful landscape"),
                io.Float.Input("guidance_scale", default=1.0, min=0.0, max=20.0, step=0.1),
                io.Float.Input("delta", default=0.7, min=0.0, max=1.0, step=0.05),
                io.Int.Input(
                    "num_inference_steps", default=50, min=params.STEPS_MIN, max=params.STEPS_MAX
                ),
                io.Int.Input("width", default=512, **size),
                io.Int.Input("height", default=512, **size),
                io.Int.Input(
                    "seed", default=789, min=0, max=params.SEED_MAX, control_after_generate=True
                ),
                io.String.Input(
                    "negative_prompt",
                    multiline=True,
                    default="blurry, low quality, flat, 2d",
                    optional=True,
                ),
                io.Combo.Input(
                    "prompt_interpolation_method",
                    options=list(params.INTERPOLATION),
                    default="slerp",
                    optional=True,
                ),
                io.Combo.Input(
                    "seed_interpolation_method",
                    options=list(params.INTERPOLATION),
                    default="linear",
                    optional=True,
                ),
                io.Boolean.Input("normalize_prompt_weights", default=True, optional=True),
                io.Boolean.Input("normalize_seed_weights", default=True, optional=True),
                io.Boolean.Input("use_safety_checker", default=True, optional=True),
                io.Boolean.Input("use_lcm_lora", default=True, optional=True),
                io.String.Input(
                    "lcm_lora_id",
                    default="",
                    optional=True,
                    tooltip="Empty uses the service's LCM LoRA for the model family.",
                ),
                io.String.Input(
                    "lora_dict",
                    multiline=True,
                    default="{}",
                    optional=True,
                    tooltip='JSON object of LoRA id → weight, e.g. {"user/style-lora": 0.8}',
                ),
                io.Combo.Input(
                    "acceleration",
                    options=list(params.ACCELERATION),
                    default="tensorrt",
                    optional=True,
                ),
                io.Boolean.Input("use_denoising_batch", default=True, optional=True),
                io.Boolean.Input("do_add_noise", default=True, optional=True),
                io.Boolean.Input("enable_similar_image_filter", default=False, optional=True),
                io.Float.Input(
                    "similar_image_filter_threshold",
                    default=0.98,
                    min=0.0,
                    max=1.0,
                    step=0.01,
                    optional=True,
                ),
                io.Int.Input(
                    "similar_image_filter_max_skip_frame",
                    default=10,
                    min=0,
                    max=10_000,
                    optional=True,
                ),
                io.String.Input(
                    "t_index_list",
                    default="12,20,32",
                    optional=True,
                    tooltip="1 to 4 denoising step indices, non-decreasing, each at most "
                    "num_inference_steps. More indices: better quality, more latency.",
                ),
                *[
                    ControlNetConfigType.Input(f"controlnet_{slot}", optional=True)
                    for slot in range(1, 6)
                ],
                io.Boolean.Input("enable_ip_adapter", default=False, optional=True),
                io.Combo.Input(
                    "ip_adapter_type",
                    options=list(params.IP_ADAPTER_TYPES),
                    default="none",
                    optional=True,
                    tooltip="Not available for sd-turbo; faceid only for sdxl-turbo.",
                ),
                io.Float.Input(
                    "ip_adapter_scale", default=0.5, min=0.0, max=2.0, step=0.05, optional=True
                ),
                io.Combo.Input(
                    "ip_adapter_weight_type",
                    options=list(params.IP_ADAPTER_WEIGHT_TYPES),
                    default="linear",
                    optional=True,
                ),
                io.String.Input("ip_adapter_style_image_url", default="", optional=True),
                io.Boolean.Input("skip_diffusion", default=False, optional=True),
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
                    tooltip="SD2.1 ids work with sd-turbo, SDXL with sdxl-turbo, SD1.5 with "
                    "dreamshaper-8 and openjourney-v4.",
                ),
                io.Combo.Input(
                    "preprocessor",
                    options=["auto", *params.PREPROCESSORS],
                    default="auto",
                    tooltip="auto picks the recommended preprocessor. " + _recommended(),
                ),
                io.Float.Input(
                    "conditioning_scale",
                    default=-1.0,
                    min=-1.0,
                    max=2.0,
                    step=0.05,
                    tooltip="-1 uses the recommended scale for the model. " + _recommended(),
                ),
                io.Float.Input(
                    "control_guidance_start",
                    default=0.0,
                    min=0.0,
                    max=1.0,
                    step=0.05,
                    optional=True,
                ),
                io.Float.Input(
                    "control_guidance_end", default=1.0, min=0.0, max=1.0, step=0.05, optional=True
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
        cls,
        model_id: str,
        preprocessor: str,
        conditioning_scale: float,
        control_guidance_start: float = 0.0,
        control_guidance_end: float = 1.0,
        preprocessor_params: str = "{}",
        enabled: bool = True,
    ) -> io.NodeOutput:
        return io.NodeOutput(
            params.controlnet_config(
                model_id,
                preprocessor=preprocessor,
                conditioning_scale=conditioning_scale,
                control_guidance_start=control_guidance_start,
                control_guidance_end=control_guidance_end,
                preprocessor_params=preprocessor_params,
                enabled=enabled,
            )
        )
