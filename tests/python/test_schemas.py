"""Node schemas: ids, categories, inputs and outputs, and the example workflows against them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from workflow import EXAMPLES, to_api_prompt

from comfy_extension.rtc_node import params
from comfy_extension.rtc_node.nodes import NODES

EXPECTED = {
    "RTCStreamPipelineConfig": ["pipeline_config", "config_json", "width", "height"],
    "RTCStreamControlNet": ["controlnet"],
    "StartRTCStream": ["stream_id", "playback_id", "whip_url", "whep_url"],
    "UpdateRTCStream": ["updated", "status"],
    "RTCStreamFrameInput": ["frames_sent"],
    "RTCStreamFrameOutput": ["image", "whep_url", "fresh"],
    # The original's seven outputs in their slots, whip_url appended.
    "RTCStreamStatus": [
        "running",
        "stream_id",
        "playback_id",
        "whep_url",
        "frames_sent",
        "queue_depth",
        "status_json",
        "whip_url",
    ],
    "RTCStreamUIPreview": [],
}


def schemas() -> dict:
    return {node.define_schema().node_id: node.define_schema() for node in NODES}


def test_every_node_has_its_original_id_and_the_category() -> None:
    found = schemas()
    assert set(found) == set(EXPECTED)
    for node_id, schema in found.items():
        assert schema.category == "RTC Stream"
        # ComfyUI names an output slot by its display_name, else by its type ("STRING").
        assert [o.display_name for o in schema.outputs] == EXPECTED[node_id], node_id
        assert schema.display_name


def test_pipeline_config_inputs_cover_the_schema_with_the_documented_ranges() -> None:
    inputs = {i.id: i for i in schemas()["RTCStreamPipelineConfig"].inputs}
    for name in ("width", "height"):
        assert (inputs[name].options["min"], inputs[name].options["max"]) == (384, 1024)
        assert inputs[name].options["step"] == 64
    assert inputs["model_id"].choices == list(params.MODELS)
    assert inputs["acceleration"].choices == ["none", "xformers", "tensorrt"]
    for name in (
        "prompt",
        "negative_prompt",
        "guidance_scale",
        "delta",
        "num_inference_steps",
        "t_index_list",
        "seed",
        "lora_dict",
        "enable_similar_image_filter",
        "similar_image_filter_threshold",
        "enable_ip_adapter",
        "ip_adapter_type",
        *[f"controlnet_{slot}" for slot in range(1, 6)],
    ):
        assert name in inputs, name
    assert not any("key" in name for name in inputs)  # credentials are never an input


def test_update_seed_has_control_after_generate_and_status_refresh_defaults_to_5s() -> None:
    update = {i.id: i for i in schemas()["UpdateRTCStream"].inputs}
    assert update["seed"].options["control_after_generate"] is True
    status = {i.id: i for i in schemas()["RTCStreamStatus"].inputs}
    assert status["refresh_interval"].default == 5.0
    assert status["stream_id"].optional


def test_status_and_frame_nodes_fingerprints() -> None:
    nodes = {node.define_schema().node_id: node for node in NODES}
    first = nodes["RTCStreamStatus"].fingerprint_inputs(refresh_interval=3600.0)
    assert first == nodes["RTCStreamStatus"].fingerprint_inputs(refresh_interval=3600.0)
    # ComfyUI compares cache keys with `is` before `==`: a NaN must be a new object per call.
    calls = [
        (nodes["RTCStreamStatus"], {"refresh_interval": 0.0}),
        (nodes["RTCStreamFrameInput"], {}),
        (nodes["RTCStreamFrameOutput"], {}),
    ]
    for node, inputs in calls:
        value, again = node.fingerprint_inputs(**inputs), node.fingerprint_inputs(**inputs)
        assert value != value and value is not again, node


def test_the_preview_takes_an_optional_linked_stream_and_hands_it_to_the_frontend() -> None:
    schema = schemas()["RTCStreamUIPreview"]
    assert schema.is_output_node
    [stream_id] = schema.inputs
    assert stream_id.id == "stream_id" and stream_id.optional
    # No widget: saved workflows keep the frontend's widgets at their positions.
    assert not stream_id.is_widget
    preview = next(node for node in NODES if node.define_schema().node_id == "RTCStreamUIPreview")
    assert preview.execute(stream_id=" str_abc ").ui == {"rtc_stream": ["str_abc"]}
    for unlinked in (None, "", "  "):
        assert preview.execute(stream_id=unlinked).ui is None


@pytest.mark.parametrize("name", sorted(path.name for path in EXAMPLES.glob("*.json")))
def test_example_workflows_match_the_schemas(name: str) -> None:
    workflow = json.loads((EXAMPLES / name).read_text())
    prompt = to_api_prompt(workflow)
    types = {node["class_type"] for node in prompt.values()}
    assert {"StartRTCStream", "RTCStreamFrameInput", "RTCStreamFrameOutput"} <= types
    text = json.dumps(workflow).lower()
    assert "api_key" not in text and "bearer" not in text
    for node in prompt.values():
        if node["class_type"] == "RTCStreamPipelineConfig":
            inputs = {k: v for k, v in node["inputs"].items() if not isinstance(v, list)}
            params.build_pipeline_config(inputs)  # the saved values are valid


def test_the_complete_example_has_the_live_update_chain() -> None:
    prompt = to_api_prompt(json.loads((EXAMPLES / "rtc_stream_workflow.json").read_text()))
    by_type: dict[str, list[str]] = {}
    for node_id, node in prompt.items():
        by_type.setdefault(node["class_type"], []).append(node_id)
    (start,) = by_type["StartRTCStream"]
    (update,) = by_type["UpdateRTCStream"]
    assert prompt[update]["inputs"]["stream_id"] == [start, 0]
    assert (
        prompt[update]["inputs"]["pipeline_config"][0]
        != prompt[start]["inputs"]["pipeline_config"][0]
    )
    assert len(by_type["RTCStreamPipelineConfig"]) == 2
    assert "RTCStreamStatus" in by_type and "RTCStreamUIPreview" in by_type


@pytest.fixture
def starting_relay(tmp_path) -> Iterator[object]:
    """The shared supervisor replaced by one whose relay never becomes ready."""
    from comfy_extension.rtc_node import runtime
    from comfy_extension.rtc_node.credentials import Credentials
    from comfy_extension.rtc_node.supervisor import RelaySupervisor, SupervisorOptions

    silent = tmp_path / "silent-relay"
    silent.write_text("#!/bin/sh\nexec sleep 30\n")
    silent.chmod(0o755)
    starting = RelaySupervisor(
        SupervisorOptions(state_dir=tmp_path / "state", binary=silent, port=0, start_timeout=600),
        credentials=Credentials,
        binary_finder=lambda: (silent, []),
    )
    runtime.use_supervisor(starting)
    try:
        yield starting
    finally:
        starting.stop()
        runtime.use_supervisor(None)


def pack_routes() -> list[str]:
    from server import PromptServer

    return [route.path for route in PromptServer.instance.routes]


PACK_ROUTES = [
    "/rtc/api/{tail:.*}",
    "/rtc/catalog",
    "/rtc/headless",
    "/rtc/relay",
    "/rtc/relay/restart",
    "/rtc/ui/{tail:.*}",
]


@pytest.fixture
def fresh_routes() -> Iterator[None]:
    from aiohttp import web
    from server import PromptServer

    saved = PromptServer.instance.routes
    PromptServer.instance.routes = web.RouteTableDef()
    try:
        yield
    finally:
        PromptServer.instance.routes = saved


def test_on_load_registers_the_proxy_and_never_waits_for_the_relay(
    starting_relay, fresh_routes
) -> None:
    from comfy_extension.rtc_node.extension import RTCNodeExtension

    asyncio.run(RTCNodeExtension().on_load())
    # A relay that never becomes ready: on_load returned while it is still starting.
    assert starting_relay.status()["running"] is False
    assert starting_relay.status()["error"] is None
    assert sorted(pack_routes()) == PACK_ROUTES


def test_listing_the_nodes_installs_the_routes_once(starting_relay, fresh_routes) -> None:
    """ComfyUI 0.3.6x never calls on_load; later releases call it before the node list."""
    from comfy_extension import comfy_entrypoint

    extension = asyncio.run(comfy_entrypoint())
    assert asyncio.run(extension.get_node_list()) == list(NODES)
    assert sorted(pack_routes()) == PACK_ROUTES
    asyncio.run(extension.on_load())
    assert asyncio.run(extension.get_node_list()) == list(NODES)
    assert len(pack_routes()) == len(PACK_ROUTES)


def test_the_catalog_route_serves_the_catalog_file() -> None:
    from comfy_extension.rtc_node.routes import catalog_route

    response = asyncio.run(catalog_route(None))
    body = json.loads(response.body)
    assert body == json.loads(params.CATALOG_PATH.read_text())
    sdxl = body["families"][body["models"]["stabilityai/sdxl-turbo"]["family"]]
    assert sdxl["max_enabled_controlnets"] == 3
    assert "daydreamlive/TemporalNet2-stable-diffusion-xl-base-1.0" in sdxl["controlnets"]
    canny = body["controlnets"]["thibaud/controlnet-sd21-canny-diffusers"]
    assert canny["preprocessors"] == ["canny"] and canny["conditioning_scale"] == 0.2
    assert body["families"]["sd21"]["ip_adapter"] is False
