"""The nodes against a real relay (local backend) run by the pack's own supervisor.

Graphs are run by a small executor with ComfyUI's caching rules (``comfy_stub/executor.py``),
so these tests check what actually re-runs and what is served from the cache.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from agent import Agent
from executor import Executor
from workflow import ALL_NODES, EXAMPLES, PreviewImage, to_api_prompt

from comfy_extension.rtc_node import runtime
from comfy_extension.rtc_node.credentials import Credentials
from comfy_extension.rtc_node.nodes import frames, stream
from comfy_extension.rtc_node.nodes.common import StreamNodeError
from comfy_extension.rtc_node.nodes.frames import FrameInput, FrameOutput
from comfy_extension.rtc_node.nodes.stream import StreamStatus, UpdateStream
from comfy_extension.rtc_node.relay_client import RelayClient, RelayError
from comfy_extension.rtc_node.supervisor import RelaySupervisor, SupervisorOptions


@pytest.fixture
def client(pack_relay: RelaySupervisor) -> Iterator[RelayClient]:
    # Node records are per process, like inside ComfyUI; each test starts clean.
    stream._started.clear()
    stream._gone.clear()
    frames._last = frames._LastFrames()
    yield runtime.client()
    stream._started.clear()


@pytest.fixture
def agent(client: RelayClient) -> Iterator[Agent]:
    browser = Agent(client.endpoint.url, client.endpoint.token)
    browser.wait_for(lambda: any(m.get("type") == "welcome" for m in browser.messages))
    yield browser
    browser.close()


def graph(prompt: str = "sunset", width: int = 512, seed: int = 1, name: str = "test") -> dict:
    return {
        "1": {
            "class_type": "RTCStreamPipelineConfig",
            "inputs": {
                "pipeline": "streamdiffusion",
                "model_id": "stabilityai/sd-turbo",
                "prompt": prompt,
                "guidance_scale": 1.0,
                "delta": 0.7,
                "num_inference_steps": 50,
                "width": width,
                "height": 512,
                "seed": 789,
                "t_index_list": "12,20,32",
                "acceleration": "none",
            },
        },
        "2": {
            "class_type": "StartRTCStream",
            "inputs": {"pipeline_config": ["1", 0], "stream_name": name, "fps": 24},
        },
        "3": {
            "class_type": "UpdateRTCStream",
            "inputs": {"stream_id": ["2", 0], "pipeline_config": ["1", 0], "seed": seed},
        },
    }


def summaries(toasts: list) -> list[str]:
    return [data["summary"] for event, data in toasts if event == "rtc-stream-notification"]


def stream_ids(client: RelayClient) -> list[str]:
    return [s["id"] for s in client.list_streams()["streams"]]


def test_start_creates_one_stream_across_runs(client: RelayClient, toasts: list) -> None:
    executor = Executor(ALL_NODES)
    first = executor.run(graph())["2"]
    assert first[0] and first[1]
    assert "2" in executor.executed
    for _ in range(3):
        again = executor.run(graph())["2"]
        assert again == first
        assert "2" not in executor.executed and "3" not in executor.executed
    assert stream_ids(client) == [first[0]]
    stream = client.get_stream(first[0])
    assert stream["name"] == "test"
    assert stream["pipeline_config"]["params"]["prompt"] == "sunset"
    assert stream["settings"]["frame_rate"] == 24
    assert summaries(toasts).count("Stream Started") == 1


def test_start_makes_a_new_stream_when_its_stream_is_gone(client: RelayClient) -> None:
    executor = Executor(ALL_NODES)
    old = executor.run(graph())["2"][0]
    client.delete_stream(old)
    new = executor.run(graph())["2"][0]
    assert "2" in executor.executed and "3" in executor.executed
    assert new and new != old
    assert client.get_stream(new)["id"] == new
    assert executor.run(graph())["2"][0] == new
    assert executor.executed == []  # the replacement is cached: no further PATCH


def test_a_prompt_change_updates_the_stream_in_place(client: RelayClient, toasts: list) -> None:
    executor = Executor(ALL_NODES)
    first = executor.run(graph(prompt="sunset"))["2"][0]
    second = executor.run(graph(prompt="cyberpunk"))["2"][0]
    assert second == first
    assert client.get_stream(first)["pipeline_config"]["params"]["prompt"] == "cyberpunk"
    accepted = [data for _, data in toasts if data["summary"] == "Update Accepted (local)"]
    assert accepted and "passes video through unchanged" in accepted[0]["detail"]
    assert "Pipeline Updated" not in summaries(toasts), "the local backend changes no picture"


def test_a_reload_level_change_patches_the_stream_and_says_it_reloads(
    client: RelayClient, toasts: list
) -> None:
    executor = Executor(ALL_NODES)
    first = executor.run(graph(width=512))["2"][0]
    second = executor.run(graph(width=768))["2"][0]
    # The relay, not the node, decides what a running stream takes live: a new size reloads
    # the pipeline of the same stream.
    assert second == first
    assert stream_ids(client) == [first]
    assert client.get_stream(first)["pipeline_config"]["params"]["width"] == 768
    reloading = [data for _, data in toasts if data["summary"] == "Pipeline Reloading"]
    assert len(reloading) == 1 and f"Stream {first}: width changed" in reloading[0]["detail"]
    executor.run(graph(width=768, prompt="cyberpunk"))
    assert len([t for t in summaries(toasts) if t == "Pipeline Reloading"]) == 1


def test_update_runs_only_when_config_or_seed_change(client: RelayClient, toasts: list) -> None:
    executor = Executor(ALL_NODES)
    results = executor.run(graph(seed=1))
    assert results["3"] == (True, "updated (local backend: video passes through unchanged)")
    stream_id = results["2"][0]
    assert client.get_stream(stream_id)["pipeline_config"]["params"]["seed"] == 1
    executor.run(graph(seed=1))
    assert "3" not in executor.executed
    executor.run(graph(seed=2))
    assert "3" in executor.executed
    assert client.get_stream(stream_id)["pipeline_config"]["params"]["seed"] == 2
    executor.run(graph(seed=2, prompt="cyberpunk"))
    assert "3" in executor.executed
    assert summaries(toasts).count("Update Accepted (local)") >= 3


def test_on_the_daydream_backend_an_update_says_it_was_applied(
    client: RelayClient, toasts: list
) -> None:
    # The relay's own stand-in reached through its Daydream client, as the cloud would be.
    client.call(
        "PUT",
        "/v1/credentials",
        {
            "api_key": "sk_test_update_toast",
            "api_url": client.endpoint.url + "/local",
            "backend": "daydream",
        },
    )
    results = Executor(ALL_NODES).run(graph(seed=3))
    assert client.get_stream(results["2"][0])["backend"] == "daydream"
    assert results["3"] == (True, "updated")
    assert "Pipeline Updated" in summaries(toasts)
    assert "Update Accepted (local)" not in summaries(toasts)


def test_update_of_an_unknown_stream_reports_failure(client: RelayClient, toasts: list) -> None:
    config = {"pipeline": "streamdiffusion", "params": {"model_id": "stabilityai/sd-turbo"}}
    updated, status = UpdateStream.execute("str_doesnotexist", config, 5).args
    assert updated is False and status.startswith("failed:")
    assert summaries(toasts) == ["No Active Stream"]
    assert UpdateStream.execute("", config, 5).args == (False, "skipped: no stream_id")


def test_frame_input_without_a_browser_tab_says_so(client: RelayClient) -> None:
    stream_id = Executor(ALL_NODES).run(graph())["2"][0]
    with pytest.raises(StreamNodeError, match="no browser tab is publishing stream"):
        FrameInput.execute(np.zeros((1, 64, 64, 3), np.float32), True, stream_id)


def test_frame_input_on_a_deleted_stream_says_it_is_gone(client: RelayClient) -> None:
    stream_id = Executor(ALL_NODES).run(graph())["2"][0]
    client.delete_stream(stream_id)
    with pytest.raises(StreamNodeError, match=f"stream {stream_id} is gone"):
        FrameInput.execute(np.zeros((1, 64, 64, 3), np.float32), True, stream_id)


def test_frame_input_sends_every_frame_of_the_batch(client: RelayClient, agent: Agent) -> None:
    stream_id = Executor(ALL_NODES).run(graph())["2"][0]
    agent.wait_lease(stream_id)
    batch = np.zeros((3, 48, 64, 3), np.float32)
    for index in range(3):
        batch[index, ..., 0] = index / 4.0
    assert FrameInput.execute(batch, True, stream_id).args == (3,)
    agent.wait_for(lambda: len(agent.frames) >= 3)
    sizes = {(f.width, f.height, len(f.pixels)) for f in agent.frames}
    assert sizes == {(64, 48, 64 * 48 * 4)} or sizes == {(64, 48, 64 * 48 * 3)}
    reds = [f.pixels[0] for f in agent.frames[:3]]
    assert reds == [0, 64, 128]


def test_frame_output_returns_the_processed_frame(client: RelayClient, agent: Agent) -> None:
    stream_id = Executor(ALL_NODES).run(graph())["2"][0]
    agent.wait_lease(stream_id)
    image = np.full((1, 32, 32, 3), 0.25, np.float32)
    FrameInput.execute(image, True, stream_id)
    FrameOutput.hidden = None
    out, whep = FrameOutput.execute("passthrough-url", stream_id, True, 10_000).args
    array = np.asarray(out)
    assert array.shape == (1, 32, 32, 3) and array.dtype == np.float32
    assert np.allclose(array, 1.0 - 64 / 255.0, atol=1 / 255.0)  # inverted by the agent
    assert whep == "passthrough-url"
    # Nothing newer arrives: after the timeout the last frame is returned again.
    again = np.asarray(FrameOutput.execute("", stream_id, True, 50).args[0])
    assert np.array_equal(again, array)


def test_frame_output_with_no_frame_at_all_is_a_clear_error(client: RelayClient) -> None:
    stream_id = Executor(ALL_NODES).run(graph())["2"][0]
    FrameOutput.hidden = None
    with pytest.raises(StreamNodeError, match=f"no processed frame from stream {stream_id}"):
        FrameOutput.execute("", stream_id, True, 50)


def test_status_reports_the_stream(client: RelayClient) -> None:
    stream_id = Executor(ALL_NODES).run(graph())["2"][0]
    outputs = StreamStatus.execute(stream_id, 0.0).args
    running, sid, playback_id, whip_url, _whep, sent, depth, text = outputs
    assert running is True and sid == stream_id and playback_id and whip_url
    assert (sent, depth) == (0, 0)
    assert json.loads(text)["id"] == stream_id
    # No id: the relay's current stream.
    assert StreamStatus.execute("", 0.0).args[1] == stream_id


def test_status_without_a_stream_is_not_running(client: RelayClient) -> None:
    running, *_, text = StreamStatus.execute("str_missing", 0.0).args
    assert running is False
    assert "str_missing" in json.loads(text)["error"]


def test_nodes_report_a_relay_that_cannot_start(tmp_path) -> None:
    broken = RelaySupervisor(
        SupervisorOptions(state_dir=tmp_path / "state", port=0),
        credentials=Credentials,
        binary_finder=lambda: (None, ["/nowhere/rtc-relay"]),
    )
    runtime.use_supervisor(broken)
    try:
        with pytest.raises(StreamNodeError, match="RTC relay is not running: rtc-relay binary"):
            FrameInput.execute(np.zeros((1, 8, 8, 3), np.float32), True, "str_x")
        running, *_, text = StreamStatus.execute("", 0.0).args
        assert running is False and "binary not found" in json.loads(text)["error"]
    finally:
        runtime.use_supervisor(None)


def test_the_streaming_example_runs_end_to_end(client: RelayClient, agent: Agent) -> None:
    workflow = json.loads((EXAMPLES / "rtc_stream_in_out_workflow.json").read_text())
    prompt = to_api_prompt(workflow)
    executor = Executor(ALL_NODES)
    PreviewImage.shown.clear()
    # The first run may reach Frame Input before the agent holds the new stream's lease;
    # Start's result is cached by then, so the second run reuses the stream.
    results: dict[str, Any] = {}
    for _ in range(2):
        try:
            results = executor.run(prompt)
            break
        except StreamNodeError:
            agent.wait_for(lambda: bool(agent.leases))
    assert results, "example workflow did not run"
    shown = np.asarray(PreviewImage.shown[-1])
    assert shown.shape == (1, 512, 512, 3)
    expected = 1.0 - np.array([0xFF, 0x80, 0x00], np.float32) / 255.0
    assert np.allclose(shown[0, 0, 0], expected, atol=1 / 255.0)


def test_relay_errors_keep_their_code(client: RelayClient) -> None:
    with pytest.raises(RelayError) as caught:
        client.get_stream("str_missing")
    assert caught.value.status == 404 and caught.value.code
