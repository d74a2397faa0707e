"""Workflows saved by the original package keep their meaning.

The workflows are built the way the original's frontend saved them (UI format), from the
original node definitions: widget values in the original order, links to the original output
slots. They are converted as today's frontend does (``workflow.to_api_prompt``) and run by
the stand-in ComfyUI against a real relay, in both orders ComfyUI may pick for output nodes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from agent import Agent
from executor import Executor
from workflow import ALL_NODES, EXAMPLES, PreviewAny, PreviewImage, to_api_prompt

from comfy_extension.rtc_node import runtime
from comfy_extension.rtc_node.nodes import frames, stream
from comfy_extension.rtc_node.relay_client import RelayClient
from comfy_extension.rtc_node.supervisor import RelaySupervisor

# The original's widgets per node, in order (the "Facts for the compatibility tests").
ORIGINAL_WIDGETS = {
    "RTCStreamPipelineConfig": 31,
    "StartRTCStream": 6,  # stream_name, fps, width, height, enabled, stop_stream
    "UpdateRTCStream": 1,  # enabled
    "RTCStreamFrameInput": 1,  # enabled
    "RTCStreamFrameOutput": 1,  # whep_url
    "RTCStreamStatus": 1,  # stream_id
}
STATUS_OUTPUTS = [
    ("running", "BOOLEAN"),
    ("stream_id", "STRING"),
    ("playback_id", "STRING"),
    ("whep_url", "STRING"),
    ("frames_sent", "INT"),
    ("queue_depth", "INT"),
    ("status_json", "STRING"),
]


def original_config(prompt: str) -> list[Any]:
    """The 31 values of the original Pipeline Config, taken from the shipped example."""
    example = json.loads((EXAMPLES / "rtc_stream_workflow.json").read_text())
    node = next(n for n in example["nodes"] if n["type"] == "RTCStreamPipelineConfig")
    values = node["widgets_values"][:31]
    values[2] = prompt
    return values


class SavedWorkflow:
    """A UI-format workflow as the original's frontend wrote it."""

    def __init__(self) -> None:
        self.nodes: list[dict[str, Any]] = []
        self.links: list[list[Any]] = []

    def node(
        self,
        node_id: int,
        node_type: str,
        values: list[Any],
        inputs: Sequence[tuple[str, str]] = (),
        outputs: Sequence[tuple[str, str]] = (),
    ) -> None:
        expected = ORIGINAL_WIDGETS.get(node_type)
        assert expected is None or len(values) == expected, node_type
        self.nodes.append(
            {
                "id": node_id,
                "type": node_type,
                "inputs": [{"name": n, "type": t, "link": None} for n, t in inputs],
                "outputs": [{"name": n, "type": t, "links": []} for n, t in outputs],
                "widgets_values": values,
            }
        )

    def link(self, source: int, slot: int, target: int, input_name: str) -> None:
        link_id = len(self.links) + 1
        by_id = {n["id"]: n for n in self.nodes}
        output = by_id[source]["outputs"][slot]
        output["links"].append(link_id)
        socket = next(i for i in by_id[target]["inputs"] if i["name"] == input_name)
        socket["link"] = link_id
        target_slot = by_id[target]["inputs"].index(socket)
        self.links.append([link_id, source, slot, target, target_slot, output["type"]])

    def prompt(self) -> dict[str, dict[str, Any]]:
        return to_api_prompt({"nodes": self.nodes, "links": self.links})


def realtime_workflow(update_enabled: bool = False) -> SavedWorkflow:
    """The original's "Live Realtime Workflow": Start is not linked to Frame Input, Status
    feeds Frame Output's whep_url and a text preview of status_json, Update acts on the
    running stream."""
    saved = SavedWorkflow()
    config_outputs = [
        ("pipeline_config", "PIPELINE_CONFIG"),
        ("config_json", "STRING"),
        ("width", "INT"),
        ("height", "INT"),
    ]
    saved.node(1, "RTCStreamPipelineConfig", original_config("sunset"), outputs=config_outputs)
    saved.node(
        2,
        "StartRTCStream",
        ["compat-live", 24, 512, 512, True, False],
        inputs=[("pipeline_config", "PIPELINE_CONFIG")],
        outputs=[
            ("stream_id", "STRING"),
            ("playback_id", "STRING"),
            ("whip_url", "STRING"),
            ("whep_url", "STRING"),
        ],
    )
    saved.node(3, "EmptyImage", [512, 512, 1, 0x336699], outputs=[("IMAGE", "IMAGE")])
    saved.node(4, "RTCStreamFrameInput", [True], inputs=[("image", "IMAGE")])
    saved.node(5, "RTCStreamStatus", [""], inputs=[("stream_id", "STRING")], outputs=STATUS_OUTPUTS)
    saved.node(
        6,
        "RTCStreamFrameOutput",
        [""],
        inputs=[("whep_url", "STRING")],
        outputs=[("image", "IMAGE"), ("whep_url", "STRING")],
    )
    saved.node(7, "PreviewImage", [], inputs=[("images", "IMAGE")])
    saved.node(8, "PreviewAny", [], inputs=[("source", "*")])
    saved.node(9, "RTCStreamPipelineConfig", original_config("cyberpunk"), outputs=config_outputs)
    saved.node(
        10, "UpdateRTCStream", [update_enabled], inputs=[("pipeline_config", "PIPELINE_CONFIG")]
    )
    saved.link(1, 0, 2, "pipeline_config")
    saved.link(3, 0, 4, "image")
    saved.link(5, 3, 6, "whep_url")  # Status.whep_url, slot 3 in the original
    saved.link(6, 0, 7, "images")
    saved.link(5, 6, 8, "source")  # Status.status_json, slot 6 in the original
    saved.link(9, 0, 10, "pipeline_config")
    return saved


@pytest.fixture
def client(pack_relay: RelaySupervisor) -> Iterator[RelayClient]:
    stream._started.clear()
    stream._gone.clear()
    frames._last = frames._LastFrames()
    PreviewAny.shown.clear()
    PreviewImage.shown.clear()
    yield runtime.client()
    stream._started.clear()


@pytest.fixture
def agent(client: RelayClient) -> Iterator[Agent]:
    browser = Agent(client.endpoint.url, client.endpoint.token)
    browser.wait_for(lambda: any(m.get("type") == "welcome" for m in browser.messages))
    yield browser
    browser.close()


def test_saved_values_land_in_the_original_widgets() -> None:
    prompt = realtime_workflow(update_enabled=False).prompt()
    assert prompt["10"]["inputs"]["enabled"] is False  # not in seed
    assert prompt["10"]["inputs"]["seed"] == 0
    start = prompt["2"]["inputs"]
    assert [start[k] for k in ("stream_name", "fps", "width", "height")] == [
        "compat-live",
        24,
        512,
        512,
    ]
    assert (start["enabled"], start["stop_stream"]) == (True, False)
    assert prompt["4"]["inputs"]["enabled"] is True
    assert prompt["5"]["inputs"]["stream_id"] == ""
    assert prompt["6"]["inputs"]["whep_url"] == ["5", 3]
    assert prompt["1"]["inputs"]["prompt"] == "sunset"
    assert prompt["1"]["inputs"]["ip_adapter_style_image_url"] == ""


@pytest.mark.parametrize(
    "outputs",
    [["4", "6", "8", "7", "2", "10"], ["2", "10", "4", "6", "8", "7"]],
    ids=["frame-nodes-before-start", "start-first"],
)
def test_the_original_realtime_workflow_works_from_the_first_queue(
    client: RelayClient, agent: Agent, toasts: list, outputs: list[str]
) -> None:
    executor = Executor(ALL_NODES)
    prompt = realtime_workflow(update_enabled=True).prompt()
    first = executor.run(prompt, outputs=outputs)
    assert executor.node_errors == {}
    stream_id = first["2"][0]
    assert stream_id and stream_ids(client) == [stream_id]
    # Update had no stream_id link in the original: it acted on the running stream.
    assert first["10"][0] is True
    params = client.get_stream(stream_id)["pipeline_config"]["params"]
    assert params["prompt"] == "cyberpunk"
    # Links keep their outputs: status_json reaches the text preview, whep_url Frame Output.
    status = json.loads(PreviewAny.shown[-1])
    assert first["6"][1] == first["5"][3]
    if outputs[0] == "2":
        assert status["id"] == stream_id and first["4"] == (1,) and first["6"][2] is True
    else:
        # The frame nodes and Status ran before Start: they said so and went on.
        assert status["running"] is False and first["4"] == (0,) and first["6"][2] is False
        assert "No Stream Running" in [data["summary"] for _, data, _ in toasts]
    # The next queue sends and receives frames on the stream the first one started.
    agent.wait_lease(stream_id)
    second = executor.run(prompt, outputs=outputs)
    assert second["2"][0] == stream_id and second["4"] == (1,) and second["6"][2] is True


def test_a_saved_disabled_update_stays_off(client: RelayClient) -> None:
    executor = Executor(ALL_NODES)
    prompt = realtime_workflow(update_enabled=False).prompt()
    results = executor.run(prompt, outputs=["2", "10"])
    assert results["10"] == (False, "disabled")
    stream_id = results["2"][0]
    assert client.get_stream(stream_id)["pipeline_config"]["params"]["prompt"] == "sunset"


def test_a_saved_stop_stream_still_stops_the_stream(client: RelayClient, toasts: list) -> None:
    executor = Executor(ALL_NODES)
    saved = realtime_workflow()
    running = executor.run(saved.prompt(), outputs=["2"])["2"][0]
    start = next(n for n in saved.nodes if n["id"] == 2)
    start["widgets_values"][5] = True  # stop_stream, the original's sixth widget
    assert executor.run(saved.prompt(), outputs=["2"])["2"] == ("", "", "", "")
    remaining = {s["id"]: s["state"] for s in client.list_streams()["streams"]}
    assert remaining.get(running) in (None, "stopping")


def stream_ids(client: RelayClient) -> list[str]:
    return [s["id"] for s in client.list_streams()["streams"]]
