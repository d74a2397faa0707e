"""A small prompt executor with ComfyUI's caching rules, for testing node fingerprints.

What matters from ComfyUI's execution model (``execution.py``, ``IsChangedCache``):
- a prompt is ``{id: {"class_type", "inputs": {name: value | [source_id, output_index]}}}``;
- only output nodes and their ancestors run; among the nodes whose inputs are ready, an
  output node runs first (``ExecutionList.ux_friendly_pick_node``), so two output nodes
  without a link between them run in an order a workflow must not rely on;
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


def _links(node: dict[str, Any]) -> dict[str, list[Any]]:
    return {
        name: value
        for name, value in node["inputs"].items()
        if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
    }


class Executor:
    def __init__(self, nodes: list[type[io.ComfyNode]]) -> None:
        self.classes = {node.define_schema().node_id: node for node in nodes}
        self.cache: dict[str, tuple[Any, tuple[Any, ...]]] = {}
        self.executed: list[str] = []

    def run(self, prompt: dict[str, dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
        self.executed = []
        results: dict[str, tuple[Any, ...]] = {}
        signatures: dict[str, Any] = {}
        needed = self._needed(prompt)
        pending = [node_id for node_id in prompt if node_id in needed]
        while pending:
            ready = [
                node_id
                for node_id in pending
                if all(source in results for source, _ in _links(prompt[node_id]).values())
            ]
            node_id = next((n for n in ready if self._is_output(prompt, n)), ready[0])
            pending.remove(node_id)
            self._evaluate(prompt, node_id, results, signatures)
        return results

    def _is_output(self, prompt: dict[str, dict[str, Any]], node_id: str) -> bool:
        return self.classes[prompt[node_id]["class_type"]].define_schema().is_output_node

    def _needed(self, prompt: dict[str, dict[str, Any]]) -> set[str]:
        needed: set[str] = set()
        stack = [node_id for node_id in prompt if self._is_output(prompt, node_id)]
        while stack:
            node_id = stack.pop()
            if node_id not in needed:
                needed.add(node_id)
                stack.extend(source for source, _ in _links(prompt[node_id]).values())
        return needed

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
        links = _links(node)
        widgets = {name: value for name, value in node["inputs"].items() if name not in links}
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
