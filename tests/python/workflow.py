"""Saved ComfyUI workflows (UI format) to API prompts, for the pack's nodes and the core ones.

The conversion follows the frontend: each node's ``widgets_values`` lists its widget inputs,
required ones before optional ones, with an extra ``control_after_generate`` value after
inputs that have one; a workflow saved before a widget was appended has fewer values, and
the widgets without one keep their defaults. As the frontend's ``migrateWidgetsValues``
does, a list exactly as long as the widgets plus the ``forceInput`` sockets is read as an
old save that had values for those sockets too. Links carry ``[source_node, output_slot]``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from comfy_api.latest import io
from core_nodes import CORE_NODES, EmptyImage, PreviewAny, PreviewImage

from comfy_extension.rtc_node.nodes import NODES

EXAMPLES = Path(__file__).resolve().parents[2] / "example_workflows"
ALL_NODES = [*NODES, *CORE_NODES]
__all__ = ["ALL_NODES", "EXAMPLES", "EmptyImage", "PreviewAny", "PreviewImage", "to_api_prompt"]


def widget_names(node_type: str) -> list[Widget]:
    """Widgets and ``forceInput`` sockets in the frontend's order, each as
    (input id, has a control companion, default, is a forceInput socket)."""
    schema = next(n for n in ALL_NODES if n.define_schema().node_id == node_type).define_schema()
    ordered = sorted(schema.inputs, key=lambda i: i.optional)
    return [
        (i.id, bool(i.options.get("control_after_generate")), _default(i), not i.is_widget)
        for i in ordered
        if i.is_widget or i.options.get("force_input")
    ]


def _default(spec: io.Input) -> Any:
    if spec.default is None and isinstance(spec, io.Combo.Input):
        return spec.choices[0]
    return spec.default


Widget = tuple[str, bool, Any, bool]
WidgetNames = Callable[[str], list[Widget]]


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
        slots = widgets(node["type"])
        if sum(2 if control else 1 for _, control, _, _ in slots) == len(values):
            values = [v for v, spec in zip(values, _value_slots(slots), strict=True) if not spec[3]]
        position = 0
        for name, has_control, default, socket in slots:
            if socket:
                continue
            if position < len(values):
                inputs[name] = values[position]
            elif default is not None:
                inputs[name] = default
            position += 2 if has_control else 1
        if position < len(values):
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


def _value_slots(slots: list[Widget]) -> list[Widget]:
    """One entry per saved value: a widget with a control companion takes two."""
    return [spec for spec in slots for _ in range(2 if spec[1] else 1)]
