"""The stand-in ComfyUI executor keeps ComfyUI's rules, so node tests catch what ComfyUI does.

Each rule here is one the pack's nodes depend on; no relay is needed.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import pytest
from comfy.model_management import InterruptProcessingException, interrupt_current_processing
from comfy_api.latest import io
from executor import Executor, PromptRejected
from server import PromptServer


class Counter(io.ComfyNode):
    """An output node that records its runs; its fingerprint is set per test."""

    runs: ClassVar[list[Any]] = []
    fingerprint: ClassVar[Any] = None

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="Counter",
            inputs=[
                io.Int.Input("value", default=0, min=0, max=10),
                io.Int.Input("upstream", optional=True, force_input=True),
            ],
            outputs=[io.Int.Output("out")],
            hidden=[io.Hidden.unique_id],
            is_output_node=True,
        )

    @classmethod
    def fingerprint_inputs(cls, **inputs: Any) -> Any:
        return cls.fingerprint() if callable(cls.fingerprint) else cls.fingerprint

    @classmethod
    def execute(cls, value: int, upstream: int | None = None) -> io.NodeOutput:
        cls.runs.append((cls.hidden.unique_id if cls.hidden else None, value, upstream))
        return io.NodeOutput(value)


class Source(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="Source",
            inputs=[io.Int.Input("value", default=0)],
            outputs=[io.Int.Output("out"), io.String.Output("text")],
        )

    @classmethod
    def execute(cls, value: int) -> io.NodeOutput:
        return io.NodeOutput(value, str(value))


@pytest.fixture(autouse=True)
def fresh_counter() -> None:
    Counter.runs = []
    Counter.fingerprint = None


def counter(value: int = 1) -> dict[str, Any]:
    return {"1": {"class_type": "Counter", "inputs": {"value": value}}}


def test_a_shared_nan_object_is_served_from_the_cache_on_an_identical_requeue() -> None:
    executor = Executor([Counter])
    Counter.fingerprint = math.nan  # the same object every call
    executor.run(counter())
    executor.run(counter())
    assert len(Counter.runs) == 1 and executor.cached == ["1"]


def test_a_fresh_nan_per_call_runs_every_time() -> None:
    executor = Executor([Counter])
    Counter.fingerprint = lambda: float("nan")
    for _ in range(3):
        executor.run(counter())
    assert len(Counter.runs) == 3 and executor.cached == []


def test_an_equal_fingerprint_is_cached_and_a_changed_one_runs() -> None:
    executor = Executor([Counter])
    Counter.fingerprint = ("a", [1, 2], {"k": None})
    executor.run(counter())
    executor.run(counter())
    Counter.fingerprint = ("a", [1, 3], {"k": None})
    executor.run(counter())
    assert len(Counter.runs) == 2


def test_an_unhashable_fingerprint_never_hits_and_a_failing_one_is_nan() -> None:
    executor = Executor([Counter])
    Counter.fingerprint = object()  # ComfyUI cannot hash it: never equal
    executor.run(counter())
    executor.run(counter())

    def boom() -> None:
        raise RuntimeError("fingerprint failed")

    Counter.fingerprint = boom
    executor.run(counter())
    executor.run(counter())
    assert len(Counter.runs) == 4


def test_fingerprints_get_constants_and_none_for_links_and_no_hidden_values() -> None:
    seen: list[tuple[dict[str, Any], Any]] = []

    class Probe(Counter):
        @classmethod
        def fingerprint_inputs(cls, **inputs: Any) -> Any:
            seen.append((inputs, cls.hidden.unique_id if cls.hidden else None))
            return 0

    prompt = {
        "1": {"class_type": "Source", "inputs": {"value": 4}},
        "2": {"class_type": "Counter", "inputs": {"value": 2, "upstream": ["1", 0]}},
    }
    results = Executor([Source, Probe]).run(prompt)
    assert seen == [({"value": 2, "upstream": None}, None)]
    assert Counter.runs == [("2", 2, 4)] and results["2"] == (2,)


def test_an_upstream_change_reruns_the_node_and_unrelated_nodes_stay_cached() -> None:
    executor = Executor([Source, Counter])
    Counter.fingerprint = 0

    def prompt(upstream: int) -> dict[str, Any]:
        return {
            "1": {"class_type": "Source", "inputs": {"value": upstream}},
            "2": {"class_type": "Counter", "inputs": {"value": 1, "upstream": ["1", 0]}},
            "3": {"class_type": "Counter", "inputs": {"value": 2}},
        }

    executor.run(prompt(5))
    executor.run(prompt(6))
    assert executor.executed == ["2", "1"] or executor.executed == ["1", "2"]
    assert [run[2] for run in Counter.runs if run[0] == "2"] == [5, 6]
    assert executor.cached == ["3"]


def test_output_nodes_run_in_the_order_given_and_before_other_ready_nodes() -> None:
    Counter.fingerprint = lambda: float("nan")
    prompt = {
        "1": {"class_type": "Counter", "inputs": {"value": 1}},
        "2": {"class_type": "Counter", "inputs": {"value": 2}},
        "3": {"class_type": "Source", "inputs": {"value": 3}},
        "4": {"class_type": "Counter", "inputs": {"value": 4, "upstream": ["3", 0]}},
    }
    executor = Executor([Source, Counter])
    executor.run(prompt, outputs=["2", "1"])
    assert executor.executed == ["2", "1"]
    executor.run(prompt, outputs=["1", "2"])
    assert executor.executed == ["1", "2"]
    # Listed first, but its input is not ready: the ready output node runs before it.
    executor.run(prompt, outputs=["4", "1"])
    assert executor.executed == ["1", "3", "4"]


def test_invalid_inputs_reject_the_prompt_like_comfyui() -> None:
    executor = Executor([Source, Counter])
    with pytest.raises(PromptRejected) as missing:
        executor.run({"1": {"class_type": "Counter", "inputs": {}}})
    assert missing.value.node_errors["1"][0]["type"] == "required_input_missing"
    with pytest.raises(PromptRejected) as too_big:
        executor.run(counter(11))
    assert too_big.value.node_errors["1"][0]["type"] == "value_bigger_than_max"
    wrong_type = {
        "1": {"class_type": "Source", "inputs": {"value": 1}},
        "2": {"class_type": "Counter", "inputs": {"value": 1, "upstream": ["1", 1]}},
    }
    with pytest.raises(PromptRejected) as mismatch:
        executor.run(wrong_type)
    assert mismatch.value.node_errors["2"][0]["type"] == "return_type_mismatch"
    assert Counter.runs == []


def test_cancel_stops_the_prompt_before_the_next_node() -> None:
    class Cancelling(Counter):
        @classmethod
        def execute(cls, value: int, upstream: int | None = None) -> io.NodeOutput:
            interrupt_current_processing(True)  # the user presses Cancel while this runs
            return super().execute(value, upstream)

    prompt = {
        "1": {"class_type": "Counter", "inputs": {"value": 1}},
        "2": {"class_type": "Counter", "inputs": {"value": 2}},
    }
    with pytest.raises(InterruptProcessingException):
        Executor([Cancelling]).run(prompt)
    assert [run[1] for run in Counter.runs] == [1]
    Executor([Counter]).run(counter())  # a new prompt starts with the flag cleared
    assert len(Counter.runs) == 2


def test_the_prompts_client_id_is_the_servers_while_it_runs() -> None:
    seen: list[str | None] = []

    class Probe(Counter):
        @classmethod
        def execute(cls, value: int, upstream: int | None = None) -> io.NodeOutput:
            seen.append(PromptServer.instance.client_id)
            return super().execute(value, upstream)

    Probe.fingerprint = lambda: float("nan")
    executor = Executor([Probe], client_id="tab-A")
    executor.run(counter())
    executor.run(counter(), extra_data={"client_id": "tab-B"})
    executor.run(counter(), extra_data={"client_id": None})
    assert seen == ["tab-A", "tab-B", None]
