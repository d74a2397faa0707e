"""Pipeline parameters: the StreamDiffusion schema, per-family rules and error messages."""

from __future__ import annotations

import json

import pytest

from comfy_extension.rtc_node import params
from comfy_extension.rtc_node.nodes.pipeline import ControlNet, PipelineConfig


def node_defaults() -> dict:
    return {i.id: i.default for i in PipelineConfig.define_schema().inputs if i.default is not None}


def build(**changes) -> dict:
    return params.build_pipeline_config({**node_defaults(), **changes})


def test_defaults_build_a_complete_config() -> None:
    config = build()
    assert config["pipeline"] == "streamdiffusion"
    p = config["params"]
    assert p["model_id"] == "stabilityai/sd-turbo"
    assert p["t_index_list"] == [12, 20, 32]
    assert (p["width"], p["height"]) == (512, 512)
    assert p["seed"] == 789 and p["acceleration"] == "tensorrt"
    assert p["prompt_interpolation_method"] == "slerp"
    # Off-states are sent too, so an update turns off what was removed.
    assert p["controlnets"] == [] and p["ip_adapter"] == {"enabled": False}
    assert p["cached_attention"] == {"enabled": False, "max_frames": 2, "interval_sec": 1.0}
    assert p["image_postprocessing"] is None and p["show_reloading_frame"] is True
    assert p["safety_checker_threshold"] == 0.5 and p["skip_diffusion"] is False
    assert p["lora_dict"] is None


REQUIRED = {
    "model_id": "stabilityai/sd-turbo",
    "prompt": "A beautiful landscape",
    "guidance_scale": 1.0,
    "delta": 0.7,
    "num_inference_steps": 50,
    "width": 512,
    "height": 512,
    "seed": 789,
}


def test_an_api_prompt_without_optional_inputs_gets_the_declared_defaults() -> None:
    # What ComfyUI passes for an API-format prompt that names only the required inputs.
    schema = PipelineConfig.define_schema()
    required = {i.id for i in schema.inputs if not i.optional}
    assert required == set(REQUIRED) | {"pipeline"}
    assert PipelineConfig.execute(**REQUIRED).args[0] == build()
    # The defaults the editor shows are the ones the node falls back to.
    for i in schema.inputs:
        if i.default is not None:
            assert params.WIDGET_DEFAULTS[i.id] == i.default, i.id
    optional = ControlNet.execute("thibaud/controlnet-sd21-canny-diffusers", "auto", -1.0)
    full = ControlNet.execute(
        "thibaud/controlnet-sd21-canny-diffusers",
        "auto",
        -1.0,
        **{i.id: i.default for i in ControlNet.define_schema().inputs if i.optional},
    )
    assert optional.args == full.args


def test_new_widgets_are_appended_after_the_original_ones() -> None:
    widgets = [
        i.id for i in PipelineConfig.define_schema().inputs if not i.id.startswith("controlnet_")
    ]
    original = [
        "pipeline", "model_id", "prompt", "guidance_scale", "delta", "num_inference_steps",
        "width", "height", "seed", "negative_prompt", "prompt_interpolation_method",
        "seed_interpolation_method", "normalize_prompt_weights", "normalize_seed_weights",
        "use_safety_checker", "use_lcm_lora", "lcm_lora_id", "lora_dict", "acceleration",
        "use_denoising_batch", "do_add_noise", "enable_similar_image_filter",
        "similar_image_filter_threshold", "similar_image_filter_max_skip_frame", "t_index_list",
        "enable_ip_adapter", "ip_adapter_type", "ip_adapter_scale", "ip_adapter_weight_type",
        "ip_adapter_style_image_url",
    ]  # fmt: skip
    assert widgets[: len(original)] == original
    assert widgets[len(original) :] == [
        "skip_diffusion",
        "safety_checker_threshold",
        "show_reloading_frame",
        "prompt_list",
        "seed_list",
        "cached_attention",
        "cached_attention_max_frames",
        "cached_attention_interval_sec",
        "image_preprocessing",
        "image_postprocessing",
        "latent_preprocessing",
        "latent_postprocessing",
    ]


def test_the_catalog_file_is_the_source_of_the_rules() -> None:
    catalog = json.loads(params.CATALOG_PATH.read_text())
    assert params.CATALOG_PATH.parent.name == "comfy_extension"  # ships inside the pack
    assert list(params.MODELS) == [
        "stabilityai/sd-turbo",
        "stabilityai/sdxl-turbo",
        "Lykon/dreamshaper-8",
        "prompthero/openjourney-v4",
    ]
    assert list(params.CONTROLNETS) == list(catalog["controlnets"])
    assert params.SPECS["width"] == {"default": 512, "min": 384, "max": 1024, "step": 64}
    assert params.SPECS["num_inference_steps"]["max"] == 100
    assert "controlnets.conditioning_scale" in catalog["hot_swappable"]


def test_node_outputs_config_json_width_and_height() -> None:
    output = PipelineConfig.execute(**{**node_defaults(), "width": 768, "height": 448})
    config, text, width, height = output.args
    assert json.loads(text) == config
    assert (width, height) == (768, 448)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"width": 720}, "width must be a multiple of 64 between 384 and 1024 (got 720)"),
        ({"width": 500}, "width must be a multiple of 64 between 384 and 1024 (got 500)"),
        ({"height": 1088}, "height must be a multiple of 64 between 384 and 1024 (got 1088)"),
        ({"height": 320}, "height must be a multiple of 64"),
        ({"model_id": "nope/model"}, "model_id: unknown model 'nope/model'"),
        ({"prompt": "   "}, "prompt: must not be empty"),
        ({"num_inference_steps": 0}, "num_inference_steps: 0 is outside the allowed range 1 to"),
        ({"guidance_scale": 300.0}, "guidance_scale: 300.0 is outside the allowed range 0.0 to"),
        ({"delta": -0.5}, "delta: -0.5 is outside the allowed range 0.0 to"),
        (
            {"num_inference_steps": 101},
            "num_inference_steps: 101 is outside the allowed range 1 to 100",
        ),
        (
            {"safety_checker_threshold": 1.5},
            "safety_checker_threshold: 1.5 is outside the allowed range 0.0 to 1.0",
        ),
        ({"prompt_interpolation_method": "cubic"}, "is not one of linear, slerp"),
        ({"prompt_list": '[["a cat"]]'}, "prompt_list: entry 1 must be a [prompt, weight] pair"),
        ({"prompt_list": '{"a": 1}'}, "prompt_list: must be a JSON list of [prompt, weight] pairs"),
        ({"prompt_list": '[["", 1]]'}, "prompt_list: entry 1 needs a non-empty prompt"),
        ({"seed_list": "[[1.5, 1]]"}, "seed_list: entry 1 needs a whole-number seed"),
        ({"seed_list": "[[1, -1]]"}, "seed_list: weight of entry 1 must be 0 or more, got -1"),
        (
            {"image_postprocessing": '{"processors": [{"type": "latent_feedback"}]}'},
            "image_postprocessing: processor 1 type: 'latent_feedback' is not one of blur,",
        ),
        (
            {"latent_preprocessing": '{"processors": [{"type": "blur"}]}'},
            "latent_preprocessing: processor 1 type: 'blur' is not one of latent_feedback",
        ),
        (
            {"image_preprocessing": '{"processors": [], "order": 1}'},
            "image_preprocessing: unknown key 'order'; allowed keys are enabled, processors",
        ),
        ({"cached_attention_max_frames": 5}, "cached_attention_max_frames: 5 is outside"),
        (
            {"cached_attention": True, "width": 768},
            "cached_attention: needs acceleration tensorrt and 512x512, got tensorrt and 768x512",
        ),
        ({"seed": -1}, "seed: -1 is outside the allowed range"),
        ({"t_index_list": "a,b"}, "t_index_list: 'a,b' must be comma-separated whole numbers"),
        ({"t_index_list": "30,20"}, "t_index_list: indices must not decrease"),
        ({"t_index_list": "1,2,3,4,5"}, "t_index_list: needs 1 to 4 indices, got 5"),
        ({"t_index_list": ""}, "t_index_list: needs 1 to 4 indices, got 0"),
        ({"t_index_list": "60", "num_inference_steps": 50}, "index 60 is outside 0 to 50"),
        ({"lora_dict": "[1]"}, "lora_dict: must be a JSON object"),
        ({"lora_dict": "{bad"}, "lora_dict: not valid JSON"),
        ({"lora_dict": '{"a": "x"}'}, "lora_dict: weight of 'a' must be a number"),
        ({"acceleration": "sfast"}, "acceleration: 'sfast' is not one of none, xformers, tensorrt"),
        (
            {"similar_image_filter_threshold": 1.5},
            "similar_image_filter_threshold: 1.5 is outside the allowed range 0.0 to 1.0",
        ),
        (
            {"enable_ip_adapter": True, "ip_adapter_type": "regular"},
            "enable_ip_adapter: IP-Adapter is not available for stabilityai/sd-turbo (SD2.1); "
            "use one of stabilityai/sdxl-turbo, Lykon/dreamshaper-8, prompthero/openjourney-v4",
        ),
        (
            {
                "model_id": "stabilityai/sdxl-turbo",
                "enable_ip_adapter": True,
                "ip_adapter_type": "regular",
                "ip_adapter_style_image_url": "http://plain.example/x.png",
            },
            "ip_adapter_style_image_url: must start with https:// or data:image/",
        ),
    ],
)
def test_invalid_values_name_the_field_and_the_allowed_range(changes: dict, message: str) -> None:
    with pytest.raises(params.ParamError) as caught:
        build(**changes)
    assert message in str(caught.value)


def test_ip_adapter_is_emitted_for_sdxl_and_sd15() -> None:
    p = build(
        model_id="stabilityai/sdxl-turbo",
        enable_ip_adapter=True,
        ip_adapter_type="faceid",
        ip_adapter_scale=0.6,
        ip_adapter_weight_type="style transfer",
        ip_adapter_style_image_url="https://example.com/style.png",
    )["params"]
    assert p["ip_adapter"] == {
        "enabled": True,
        "type": "faceid",
        "scale": 0.6,
        "weight_type": "style transfer",
    }
    assert p["ip_adapter_style_image_url"] == "https://example.com/style.png"
    sd15 = build(model_id="Lykon/dreamshaper-8", enable_ip_adapter=True, ip_adapter_type="faceid")
    assert sd15["params"]["ip_adapter"]["type"] == "faceid"


def test_weighted_lists_processing_and_cached_attention() -> None:
    p = build(
        prompt_list='[["a cat", 0.7], [" a dog ", 0.3]]',
        seed_list="[[42, 0.5], [7, 0.5]]",
        image_postprocessing='{"processors": [{"type": "upscale", "params": {"scale_factor": 2}}]}',
        latent_preprocessing='{"enabled": false, "processors": [{"type": "latent_feedback"}]}',
        cached_attention=True,
        cached_attention_max_frames=4,
        cached_attention_interval_sec=0.5,
    )["params"]
    assert p["prompt"] == [["a cat", 0.7], ["a dog", 0.3]]
    assert p["seed"] == [[42, 0.5], [7, 0.5]]
    assert p["image_postprocessing"] == {
        "enabled": True,
        "processors": [{"type": "upscale", "enabled": True, "params": {"scale_factor": 2}}],
    }
    assert p["latent_preprocessing"]["enabled"] is False
    assert p["cached_attention"] == {"enabled": True, "max_frames": 4, "interval_sec": 0.5}


def test_controlnet_node_takes_the_recommended_preprocessor_and_scale_per_model() -> None:
    canny = ControlNet.execute("thibaud/controlnet-sd21-canny-diffusers", "auto", -1.0).args[0]
    assert canny["preprocessor"] == "canny"
    assert canny["conditioning_scale"] == 0.2
    assert canny["preprocessor_params"] == {"low_threshold": 100, "high_threshold": 200}
    pose = ControlNet.execute("thibaud/controlnet-sd21-openpose-diffusers", "auto", -1.0).args[0]
    assert (pose["preprocessor"], pose["conditioning_scale"]) == ("pose_tensorrt", 0.711)
    tile = ControlNet.execute("xinsir/controlnet-tile-sdxl-1.0", "auto", -1.0).args[0]
    assert tile["preprocessor"] == "feedback"
    explicit = ControlNet.execute("thibaud/controlnet-sd21-canny-diffusers", "canny", 0.9).args[0]
    assert explicit["conditioning_scale"] == 0.9


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"model_id": "thibaud/controlnet-sd21-canny-diffusers", "preprocessor": "depth"},
            "preprocessor: 'depth' does not work with SD2.1 Canny; use canny",
        ),
        (
            {
                "model_id": "thibaud/controlnet-sd21-canny-diffusers",
                "preprocessor": "auto",
                "control_guidance_start": 0.8,
                "control_guidance_end": 0.2,
            },
            "control_guidance_end: 0.2 must not be below control_guidance_start (0.8)",
        ),
        (
            {
                "model_id": "thibaud/controlnet-sd21-canny-diffusers",
                "preprocessor": "auto",
                "preprocessor_params": "[]",
            },
            "preprocessor_params: must be a JSON object",
        ),
    ],
)
def test_controlnet_errors(kwargs: dict, message: str) -> None:
    kwargs.setdefault("conditioning_scale", -1.0)
    with pytest.raises(params.ParamError) as caught:
        ControlNet.execute(**kwargs)
    assert message in str(caught.value)


def cn(model_id: str, enabled: bool = True) -> dict:
    return params.controlnet_config(model_id, enabled=enabled)


def test_controlnets_must_match_the_model_family() -> None:
    with pytest.raises(params.ParamError) as caught:
        build(controlnet_2=cn("xinsir/controlnet-depth-sdxl-1.0"))
    text = str(caught.value)
    # The input the user connected, the ControlNet and the model with its family, and what fits.
    assert text.startswith(
        "controlnet_2: 'xinsir/controlnet-depth-sdxl-1.0' does not work with "
        "stabilityai/sd-turbo (SD2.1); use one of "
    ), text
    assert "thibaud/controlnet-sd21-openpose-diffusers" in text


def test_controlnets_are_checked_for_duplicates_and_the_sdxl_limit() -> None:
    depth = cn("thibaud/controlnet-sd21-depth-diffusers")
    with pytest.raises(params.ParamError, match="used twice"):
        build(controlnet_1=depth, controlnet_2=depth)
    sdxl = [
        cn(m)
        for m in params.MODELS["stabilityai/sdxl-turbo"].controlnets  # four of them
    ]
    slots = {f"controlnet_{i}": c for i, c in enumerate(sdxl, start=1)}
    with pytest.raises(params.ParamError, match="at most 3 enabled ControlNets, got 4"):
        build(model_id="stabilityai/sdxl-turbo", **slots)
    slots["controlnet_4"] = {**slots["controlnet_4"], "enabled": False}
    config = build(model_id="stabilityai/sdxl-turbo", **slots)
    assert [c["model_id"] for c in config["params"]["controlnets"]] == [c["model_id"] for c in sdxl]
    # Like the runner, an enabled ControlNet at scale 0 is not loaded and does not count.
    slots["controlnet_4"] = {**slots["controlnet_4"], "enabled": True, "conditioning_scale": 0.0}
    build(model_id="stabilityai/sdxl-turbo", **slots)


def test_every_family_lists_only_its_own_controlnets() -> None:
    for model_id, family in params.MODELS.items():
        assert family.controlnets, model_id
        for other_id, other in params.MODELS.items():
            if other is not family:
                assert not set(family.controlnets) & set(other.controlnets), (model_id, other_id)
    assert len(params.MODELS["stabilityai/sd-turbo"].controlnets) == 6


def test_fingerprints_are_stable_and_follow_the_config() -> None:
    assert params.fingerprint(build()) == params.fingerprint(build())
    assert params.fingerprint(build()) != params.fingerprint(build(prompt="other"))
