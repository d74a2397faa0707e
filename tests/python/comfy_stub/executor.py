"""A prompt executor with ComfyUI's validation, caching and ordering rules, for node tests.

Modelled on ComfyUI's ``execution.py`` and ``comfy_execution/{caching,graph}.py``; what a
node can observe is reproduced, the rest (lazy inputs, subgraphs, async nodes) is left out:

- **Validation.** Every output node and its ancestors are checked: a missing required input,
  a link to an output of another type, a combo value not offered or a number out of range
  is an error for that node. Outputs that fail are left out (``node_errors`` says why); the
  prompt fails only when no output is left.
- **Fingerprints.** ``fingerprint_inputs`` is called once per prompt for every node that
  overrides it, with the constant inputs, every linked input as ``None`` and no hidden
  values; an exception becomes ``float("nan")``.
- **Cache keys.** A node's key is made hashable the way ComfyUI does it (mappings and
  sequences become frozensets) from its class, its fingerprint result, its node id when the
  schema says ``not_idempotent``, and each input as a constant or ``("ANCESTOR", n, slot)``,
  followed by the same for every ancestor. Keys are looked up in a dict, so Python decides a
  hit: equal hashes and ``is`` or ``==``. One NaN object returned every time (``math.nan``)
  is therefore a hit on an identical re-queue; a fresh ``float("nan")`` never is. Only the
  keys the current prompt uses are kept.
- **Order.** Output nodes are added in the order given (ComfyUI iterates a set of node ids,
  so the order changes from one process to the next); among the ready nodes an output node
  runs first, then one that unblocks an output node, then one two steps before one.
- **Execution.** A cached node does not run. Before each node the interrupt flag is checked
  (``comfy.model_management``); the prompt's ``client_id`` is ``PromptServer.instance
  .client_id`` while it runs. A failing node ends the prompt with its exception; nodes that
  finished keep their cache entries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import comfy.model_management as model_management
from comfy_api.latest import io
from server import PromptServer

Prompt = dict[str, dict[str, Any]]


class PromptRejected(ValueError):
    """No output node passed validation (``prompt_outputs_failed_validation``)."""

    def __init__(self, node_errors: dict[str, list[dict[str, Any]]]) -> None:
        super().__init__(f"prompt outputs failed validation: {node_errors}")
        self.node_errors = node_errors


class _Opaque:
    """Stands for a value ComfyUI cannot hash: equal to nothing, so never a cache hit."""


def hashable(value: Any) -> Any:
    if isinstance(value, (int, float, str, bool, type(None))):
        return value
    if isinstance(value, Mapping):
        return frozenset((hashable(k), hashable(v)) for k, v in sorted(value.items()))
    if isinstance(value, Sequence):
        return frozenset(enumerate(hashable(item) for item in value))
    return _Opaque()


def is_link(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
    )


class Executor:
    """One ComfyUI process; ``client_id`` is the browser tab that queues the prompts."""

    def __init__(self, nodes: Iterable[type[io.ComfyNode]], client_id: str = "tab-1") -> None:
        self.client_id = client_id
        self.classes = {node.define_schema().node_id: node for node in nodes}
        self.cache: dict[Any, tuple[Any, ...]] = {}
        self.executed: list[str] = []
        self.cached: list[str] = []
        self.node_errors: dict[str, list[dict[str, Any]]] = {}

    # Public ------------------------------------------------------------------------------

    def run(
        self,
        prompt: Prompt,
        outputs: Sequence[str] | None = None,
        extra_data: Mapping[str, Any] | None = None,
    ) -> dict[str, tuple[Any, ...]]:
        """Runs a prompt; ``outputs`` orders the output nodes (default: prompt order).

        ``extra_data`` is what the frontend sends beside the prompt (``client_id``,
        ``extra_pnginfo``); the client id defaults to this executor's tab.
        """
        extra = {"client_id": self.client_id, **(extra_data or {})}
        good = self._validate(prompt, outputs)
        model_management.interrupt_current_processing(False)
        PromptServer.instance.client_id = extra.get("client_id")
        return self._execute(prompt, good, extra)

    # Validation --------------------------------------------------------------------------

    def _schema(self, prompt: Prompt, node_id: str) -> io.Schema:
        return self.classes[prompt[node_id]["class_type"]].define_schema()

    def _validate(self, prompt: Prompt, outputs: Sequence[str] | None) -> list[str]:
        if outputs is None:
            outputs = [n for n in prompt if self._schema(prompt, n).is_output_node]
        self.node_errors = {}
        checked: dict[str, bool] = {}
        good = [node_id for node_id in outputs if self._valid(prompt, node_id, checked)]
        if not good:
            raise PromptRejected(self.node_errors)
        return good

    def _valid(self, prompt: Prompt, node_id: str, checked: dict[str, bool]) -> bool:
        if node_id in checked:
            return checked[node_id]
        checked[node_id] = False  # a cycle is invalid
        schema = self._schema(prompt, node_id)
        given = prompt[node_id]["inputs"]
        errors: list[dict[str, Any]] = []
        valid = True
        for spec in schema.inputs:
            if spec.id not in given:
                if not spec.optional:
                    errors.append({"type": "required_input_missing", "details": spec.id})
                continue
            value = given[spec.id]
            if is_link(value):
                source, slot = value
                if source not in prompt or not self._valid(prompt, source, checked):
                    valid = False
                    continue
                produced = self._schema(prompt, source).outputs
                received = produced[slot].io_type if slot < len(produced) else None
                matches = received == spec.io_type or "*" in (received, spec.io_type)
                if received is None or not matches:
                    errors.append(
                        {
                            "type": "return_type_mismatch",
                            "details": f"{spec.id}, received_type({received}) mismatch "
                            f"input_type({spec.io_type})",
                        }
                    )
                continue
            errors.extend(_constant_errors(spec, value))
        if errors:
            self.node_errors[node_id] = errors
        checked[node_id] = valid and not errors
        return checked[node_id]

    # Cache keys --------------------------------------------------------------------------

    def _fingerprint(self, prompt: Prompt, node_id: str, seen: dict[str, Any]) -> Any:
        if node_id in seen:
            return seen[node_id]
        cls = self.classes[prompt[node_id]["class_type"]]
        if getattr(cls, "fingerprint_inputs", None) is None:
            seen[node_id] = False
            return False
        schema = cls.define_schema()
        declared = {spec.id for spec in schema.inputs}
        inputs = {
            name: None if is_link(value) else value
            for name, value in prompt[node_id]["inputs"].items()
            if name in declared
        }
        try:
            seen[node_id] = [_clone(cls, io.HiddenHolder()).fingerprint_inputs(**inputs)]
        except Exception:
            seen[node_id] = float("nan")
        return seen[node_id]

    def _immediate(
        self, prompt: Prompt, node_id: str, order: dict[str, int], seen: dict[str, Any]
    ) -> list[Any]:
        node = prompt[node_id]
        signature: list[Any] = [node["class_type"], self._fingerprint(prompt, node_id, seen)]
        if self._schema(prompt, node_id).not_idempotent:
            signature.append(node_id)
        for name in sorted(node["inputs"]):
            value = node["inputs"][name]
            if is_link(value):
                signature.append((name, ("ANCESTOR", order[value[0]], value[1])))
            else:
                signature.append((name, value))
        return signature

    def _key(self, prompt: Prompt, node_id: str, seen: dict[str, Any]) -> Any:
        ancestors: list[str] = []
        order: dict[str, int] = {}

        def walk(current: str) -> None:
            inputs = prompt[current]["inputs"]
            for name in sorted(inputs):
                if is_link(inputs[name]) and inputs[name][0] not in order:
                    source = inputs[name][0]
                    ancestors.append(source)
                    order[source] = len(ancestors) - 1
                    walk(source)

        walk(node_id)
        signature = [self._immediate(prompt, node_id, order, seen)]
        signature += [self._immediate(prompt, a, order, seen) for a in ancestors]
        return hashable(signature)

    # Execution ---------------------------------------------------------------------------

    def _execute(
        self, prompt: Prompt, outputs: list[str], extra: dict[str, Any]
    ) -> dict[str, tuple[Any, ...]]:
        seen: dict[str, Any] = {}
        keys = {node_id: self._key(prompt, node_id, seen) for node_id in prompt}
        used = set(keys.values())
        self.cache = {key: value for key, value in self.cache.items() if key in used}
        self.cached = [node_id for node_id in prompt if keys[node_id] in self.cache]
        self.executed = []

        results: dict[str, tuple[Any, ...]] = {}
        pending: dict[str, set[str]] = {}  # node → nodes it waits for

        def cached(node_id: str) -> bool:
            return keys[node_id] in self.cache

        def add(output: str) -> None:
            stack, links = [output], []
            while stack:
                current = stack.pop()
                if current in pending:
                    continue
                pending[current] = set()
                for value in prompt[current]["inputs"].values():
                    if is_link(value) and not cached(value[0]):
                        stack.append(value[0])
                        links.append((value[0], current))
            for source, target in links:
                pending[target].add(source)

        for output in outputs:
            add(output)
        while pending:
            node_id = self._pick(prompt, pending)
            self._run_node(prompt, node_id, keys, results, extra)
            del pending[node_id]
            for waiting in pending.values():
                waiting.discard(node_id)
        return results

    def _pick(self, prompt: Prompt, pending: dict[str, set[str]]) -> str:
        ready = [node_id for node_id, waits in pending.items() if not waits]
        if not ready:
            raise RuntimeError("dependency cycle")

        def is_output(node_id: str) -> bool:
            return self._schema(prompt, node_id).is_output_node

        def blocked_by(node_id: str) -> list[str]:
            return [target for target, waits in pending.items() if node_id in waits]

        for choice in (
            lambda n: is_output(n),
            lambda n: any(is_output(b) for b in blocked_by(n)),
            lambda n: any(is_output(c) for b in blocked_by(n) for c in blocked_by(b)),
        ):
            for node_id in ready:
                if choice(node_id):
                    return node_id
        return ready[0]

    def _run_node(
        self,
        prompt: Prompt,
        node_id: str,
        keys: dict[str, Any],
        results: dict[str, tuple[Any, ...]],
        extra: dict[str, Any],
    ) -> None:
        if keys[node_id] in self.cache:
            results[node_id] = self.cache[keys[node_id]]
            return
        model_management.throw_exception_if_processing_interrupted()
        node = prompt[node_id]
        cls = self.classes[node["class_type"]]
        schema = cls.define_schema()
        declared = {spec.id for spec in schema.inputs}
        kwargs: dict[str, Any] = {}
        for name, value in node["inputs"].items():
            if name not in declared:
                continue
            if is_link(value):
                source, slot = value
                produced = results[source] if source in results else self.cache[keys[source]]
                kwargs[name] = produced[slot]
            else:
                kwargs[name] = value
        hidden = {
            io.Hidden.unique_id: node_id,
            io.Hidden.prompt: prompt,
            io.Hidden.extra_pnginfo: extra.get("extra_pnginfo"),
        }
        # ComfyUI's schema adds the prompt and extra_pnginfo to every output node's hidden.
        wanted = set(schema.hidden or [])
        if schema.is_output_node:
            wanted |= {io.Hidden.prompt, io.Hidden.extra_pnginfo}
        holder = io.HiddenHolder(**{h.name: v for h, v in hidden.items() if h in wanted})
        output = _clone(cls, holder).execute(**kwargs)
        self.executed.append(node_id)
        results[node_id] = tuple(output.args)
        self.cache[keys[node_id]] = results[node_id]


def _clone(cls: type[io.ComfyNode], hidden: io.HiddenHolder) -> type[io.ComfyNode]:
    """ComfyUI calls a node on a copy of its class that carries the hidden values."""
    return type(cls.__name__, (cls,), {"hidden": hidden})


def _constant_errors(spec: io.Input, value: Any) -> list[dict[str, Any]]:
    if isinstance(spec, io.Combo.Input):
        if value not in spec.choices:
            return [{"type": "value_not_in_list", "details": f"{spec.id}: '{value}'"}]
        return []
    low, high = spec.options.get("min"), spec.options.get("max")
    if spec.io_type in ("INT", "FLOAT") and isinstance(value, (int, float)):
        if low is not None and value < low:
            return [{"type": "value_smaller_than_min", "details": f"{spec.id}: {value} < {low}"}]
        if high is not None and value > high:
            return [{"type": "value_bigger_than_max", "details": f"{spec.id}: {value} > {high}"}]
    return []
