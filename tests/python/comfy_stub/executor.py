"""A small prompt executor with ComfyUI's caching rules, for testing node fingerprints.

What matters from ComfyUI's execution model (``execution.py``, ``IsChangedCache``):
- a prompt is ``{id: {"class_type", "inputs": {name: value | [source_id, output_index]}}}``;
- only output nodes and their ancestors run;
- ``fingerprint_inputs`` receives widget values only (linked inputs are absent) and hidden
  values; a node's cache signature is its class, its widget inputs, its fingerprint and the
  signatures of its linked ancestors, so a change anywhere upstream re-runs it;
- a NaN fingerprint never equals itself, so such nodes run every time;
- a cached node does not execute at all (no side effects, no toasts).
"""

from __future__ import annotations

import math
from typing import Any

from comfy_api.latest import io


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return False
    return a == b


def _contains_nan(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, (list, tuple)):
        return any(_contains_nan(v) for v in value)
    return False


class Executor:
    def __init__(self, nodes: list[type[io.ComfyNode]]) -> None:
        self.classes = {node.define_schema().node_id: node for node in nodes}
        self.cache: dict[str, tuple[Any, tuple[Any, ...]]] = {}
        self.executed: list[str] = []

    def run(self, prompt: dict[str, dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
        self.executed = []
        results: dict[str, tuple[Any, ...]] = {}
        signatures: dict[str, Any] = {}
        outputs = [
            node_id
            for node_id, node in prompt.items()
            if self.classes[node["class_type"]].define_schema().is_output_node
        ]
        for node_id in outputs:
            self._evaluate(prompt, node_id, results, signatures)
        return results

    def _evaluate(
        self,
        prompt: dict[str, dict[str, Any]],
        node_id: str,
        results: dict[str, tuple[Any, ...]],
        signatures: dict[str, Any],
    ) -> None:
        if node_id in results:
            return
        node = prompt[node_id]
        cls = self.classes[node["class_type"]]
        widgets, links = {}, {}
        for name, value in node["inputs"].items():
            if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
                links[name] = value
            else:
                widgets[name] = value
        for source, _ in links.values():
            self._evaluate(prompt, source, results, signatures)
        cls.hidden = io.HiddenHolder(unique_id=node_id, prompt=prompt)
        fingerprint = None
        if "fingerprint_inputs" in vars(cls):
            fingerprint = cls.fingerprint_inputs(**widgets)
        signature = (
            node["class_type"],
            sorted(widgets.items()),
            fingerprint,
            sorted((name, signatures[src], index) for name, (src, index) in links.items()),
        )
        if _contains_nan(fingerprint):
            signature = (signature, float("nan"))
        signatures[node_id] = signature
        cached = self.cache.get(node_id)
        if cached is not None and _same(cached[0], signature) and not _contains_nan(signature):
            results[node_id] = cached[1]
            return
        kwargs = dict(widgets)
        for name, (source, index) in links.items():
            kwargs[name] = results[source][index]
        output = cls.execute(**kwargs)
        self.executed.append(node_id)
        results[node_id] = tuple(output.args)
        self.cache[node_id] = (signature, results[node_id])
