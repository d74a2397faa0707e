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
    assert "controlnets" not in p and "ip_adapter" not in p
    assert p["lora_dict"] is None


def test_node_outputs_config_json_width_and_height() -> None:
    output = PipelineConfig.execute(**{**node_defaults(), "width": 768, "height": 448})
    config, text, width, height = output.args
    assert json.loads(text) == config
    assert (width, height) == (768, 448)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"width": 500}, "width: 500 must be a multiple of 64 between 384 and 1024"),
        ({"height": 1088}, "height: 1088 must be a multiple of 64 between 384 and 1024"),
        ({"height": 320}, "height: 320 must be a multiple of 64"),
        ({"model_id": "nope/model"}, "model_id: unknown model 'nope/model'"),
        ({"prompt": "   "}, "prompt: must not be empty"),
        ({"num_inference_steps": 0}, "num_inference_steps: 0 is outside the allowed range 1 to"),
        ({"guidance_scale": 25.0}, "guidance_scale: 25.0 is outside the allowed range 0.0 to 20.0"),
        ({"delta": 1.5}, "delta: 1.5 is outside the allowed range 0.0 to 1.0"),
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
            "ip_adapter_type: 'regular' is not available for stabilityai/sd-turbo (SD2.1)",
        ),
        (
            {
                "model_id": "Lykon/dreamshaper-8",
                "enable_ip_adapter": True,
                "ip_adapter_type": "faceid",
            },
            "allowed: regular",
        ),
        (
            {
                "model_id": "stabilityai/sdxl-turbo",
                "enable_ip_adapter": True,
                "ip_adapter_type": "regular",
                "ip_adapter_style_image_url": "http://plain.example/x.png",
            },
            "ip_adapter_style_image_url: must be an https:// URL",
        ),
    ],
)
def test_invalid_values_name_the_field_and_the_allowed_range(changes: dict, message: str) -> None:
    with pytest.raises(params.ParamError) as caught:
        build(**changes)
    assert message in str(caught.value)


def test_ip_adapter_is_emitted_for_sdxl() -> None:
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


def test_every_family_lists_only_its_own_controlnets() -> None:
    for model_id, family in params.MODELS.items():
        assert family.controlnets, model_id
        for other_id, other in params.MODELS.items():
            if other is not family:
                assert not set(family.controlnets) & set(other.controlnets), (model_id, other_id)
    assert len(params.MODELS["stabilityai/sd-turbo"].controlnets) == 6


def test_only_model_level_changes_need_a_new_stream() -> None:
    base = build()
    assert not params.needs_new_stream(base, build(prompt="cyberpunk", seed=1, delta=0.3))
    assert params.needs_new_stream(base, build(width=768))
    assert params.needs_new_stream(base, build(model_id="stabilityai/sdxl-turbo"))
    assert params.fingerprint(build()) == params.fingerprint(build())
    assert params.fingerprint(build()) != params.fingerprint(build(prompt="other"))
