"""Saved ComfyUI workflows (UI format) to API prompts, and the core nodes the examples use.

The conversion follows the frontend: each node's ``widgets_values`` lists its widget inputs
in schema order, with an extra ``control_after_generate`` value after inputs that have one;
links carry ``[source_node, output_slot]``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from comfy_api.latest import io

from comfy_extension.rtc_node.nodes import NODES

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class EmptyImage(io.ComfyNode):
    """ComfyUI core's EmptyImage: a solid colour batch (colour as 0xRRGGBB)."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="EmptyImage",
            inputs=[
                io.Int.Input("width", default=512),
                io.Int.Input("height", default=512),
                io.Int.Input("batch_size", default=1),
                io.Int.Input("color", default=0),
            ],
            outputs=[io.Image.Output()],
        )

    @classmethod
    def execute(cls, width: int, height: int, batch_size: int, color: int) -> io.NodeOutput:
        rgb = [(color >> 16) & 0xFF, (color >> 8) & 0xFF, color & 0xFF]
        image = np.empty((batch_size, height, width, 3), np.float32)
        image[...] = np.array(rgb, np.float32) / 255.0
        return io.NodeOutput(image)


class PreviewImage(io.ComfyNode):
    shown: list[Any] = []  # noqa: RUF012 - test record

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PreviewImage", inputs=[io.Image.Input("images")], is_output_node=True
        )

    @classmethod
    def execute(cls, images: Any) -> io.NodeOutput:
        cls.shown.append(images)
        return io.NodeOutput()


class PreviewAny(io.ComfyNode):
    shown: list[Any] = []  # noqa: RUF012 - test record

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PreviewAny", inputs=[io.String.Input("source")], is_output_node=True
        )

    @classmethod
    def execute(cls, source: Any) -> io.NodeOutput:
        cls.shown.append(source)
        return io.NodeOutput()


CORE_NODES = [EmptyImage, PreviewImage, PreviewAny]
ALL_NODES = [*NODES, *CORE_NODES]
# Core inputs that are sockets, not widgets, in the saved workflow.
SOCKET_ONLY = {"PreviewAny": {"source"}}


def widget_names(node_type: str) -> list[tuple[str, bool]]:
    """(input id, has a control_after_generate companion) for each widget, in order."""
    schema = next(n for n in ALL_NODES if n.define_schema().node_id == node_type).define_schema()
    skip = SOCKET_ONLY.get(node_type, set())
    return [
        (i.id, bool(i.options.get("control_after_generate")))
        for i in schema.inputs
        if i.is_widget and i.id not in skip
    ]


WidgetNames = Callable[[str], list[tuple[str, bool]]]


def to_api_prompt(
    workflow: dict[str, Any], widgets: WidgetNames = widget_names
) -> dict[str, dict[str, Any]]:
    links = {link[0]: link for link in workflow["links"]}
    prompt: dict[str, dict[str, Any]] = {}
    for node in workflow["nodes"]:
        if node.get("mode", 0) == 4:  # bypassed
            continue
        inputs: dict[str, Any] = {}
        values = list(node.get("widgets_values", []))
        position = 0
        for name, has_control in widgets(node["type"]):
            if position >= len(values):
                raise ValueError(f"node {node['id']} ({node['type']}): no value for {name}")
            inputs[name] = values[position]
            position += 2 if has_control else 1
        if position != len(values):
            raise ValueError(
                f"node {node['id']} ({node['type']}): {len(values)} widget values, "
                f"schema expects {position}"
            )
        for socket in node.get("inputs", []):
            if socket.get("link") is not None:
                _, source, slot, *_ = links[socket["link"]]
                inputs[socket["name"]] = [str(source), slot]
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return prompt
