"""The nodes against a real relay (local backend) run by the pack's own supervisor.

Graphs are run by a small executor with ComfyUI's caching rules (``comfy_stub/executor.py``),
so these tests check what actually re-runs and what is served from the cache.
"""

from __future__ import annotations

import json
import math
import secrets
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
from agent import Agent
from comfy.model_management import InterruptProcessingException, interrupt_current_processing
from executor import Executor
from server import PromptServer
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
    frames._warned.clear()
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
    return [data["summary"] for event, data, _ in toasts if event == "rtc-stream-notification"]


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
    accepted = [data for _, data, _ in toasts if data["summary"] == "Update Accepted (local)"]
    assert accepted and "stand-in effect" in accepted[0]["detail"]
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
    reloading = [data for _, data, _ in toasts if data["summary"] == "Pipeline Reloading"]
    assert len(reloading) == 1 and f"Stream {first}: width changed" in reloading[0]["detail"]
    executor.run(graph(width=768, prompt="cyberpunk"))
    assert len([t for t in summaries(toasts) if t == "Pipeline Reloading"]) == 1


def test_update_runs_only_when_config_or_seed_change(client: RelayClient, toasts: list) -> None:
    executor = Executor(ALL_NODES)
    results = executor.run(graph(seed=1))
    assert results["3"] == (True, "updated (local backend: stand-in effect, not diffusion)")
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
            # Any key: the stand-in checks none. Made here so no key-like text is tracked.
            "api_key": secrets.token_urlsafe(16),
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
    PromptServer.instance.client_id = "tab-1"
    config = {"pipeline": "streamdiffusion", "params": {"model_id": "stabilityai/sd-turbo"}}
    updated, status = UpdateStream.execute(config, "str_doesnotexist", seed=5).args
    assert updated is False and status.startswith("failed:")
    assert summaries(toasts) == ["No Active Stream"]
    # Unlinked and no stream running: nothing to update, and the node says so.
    updated, status = UpdateStream.execute(config, seed=5).args
    assert updated is False and status.startswith("skipped: no RTC stream is running")
    assert summaries(toasts) == ["No Active Stream", "Update Skipped"]


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
    # Resized to the stream's 512x512, one frame at a time, in order.
    sizes = {(f.width, f.height, len(f.pixels)) for f in agent.frames}
    assert sizes == {(512, 512, 512 * 512 * 4)} or sizes == {(512, 512, 512 * 512 * 3)}
    reds = [f.pixels[0] for f in agent.frames[:3]]
    assert reds == [0, 64, 128]


def test_frame_output_returns_the_processed_frame(client: RelayClient, agent: Agent) -> None:
    stream_id = Executor(ALL_NODES).run(graph())["2"][0]
    agent.wait_lease(stream_id)
    image = np.full((1, 32, 32, 3), 0.25, np.float32)
    FrameInput.execute(image, True, stream_id)
    FrameOutput.hidden = None
    out, whep, fresh = FrameOutput.execute("passthrough-url", stream_id, True, 10_000).args
    array = np.asarray(out)
    assert array.shape == (1, 512, 512, 3) and array.dtype == np.float32
    assert np.allclose(array, 1.0 - 64 / 255.0, atol=1 / 255.0)  # inverted by the agent
    assert whep == "passthrough-url" and fresh is True
    # Nothing newer arrives: after the timeout the last frame is returned again, not fresh.
    again, _, fresh = FrameOutput.execute("", stream_id, True, 50).args
    assert np.array_equal(np.asarray(again), array) and fresh is False
    FrameInput.execute(np.full((1, 32, 32, 3), 0.5, np.float32), True, stream_id)
    newer, _, fresh = FrameOutput.execute("", stream_id, True, 10_000).args
    assert fresh is True and np.allclose(np.asarray(newer), 1.0 - 128 / 255.0, atol=1 / 255.0)


def test_frame_output_with_no_frame_at_all_says_so_and_returns_black(
    client: RelayClient, toasts: list
) -> None:
    stream_id = Executor(ALL_NODES).run(graph())["2"][0]
    FrameOutput.hidden = None
    image, _, fresh = FrameOutput.execute("", stream_id, True, 50).args
    assert fresh is False
    assert np.asarray(image).shape == (1, 512, 512, 3) and not np.asarray(image).any()
    warning = [d for _, d, _ in toasts if d["summary"] == "No Processed Frame"]
    assert warning and f"no processed frame from stream {stream_id}" in warning[0]["detail"]


def test_frame_output_says_why_when_the_browser_cannot_play_frames_back(
    client: RelayClient, agent: Agent, toasts: list
) -> None:
    stream_id = Executor(ALL_NODES).run(graph())["2"][0]
    agent.wait_lease(stream_id)
    agent.send_json(
        {
            "type": "state",
            "stream_id": stream_id,
            "role": "player",
            "state": "live",
            "error": "UNSUPPORTED: this browser cannot read video frames",
        }
    )
    deadline = time.monotonic() + 10
    while not (client.get_stream(stream_id).get("player") or {}).get("error"):
        assert time.monotonic() < deadline, "the relay never recorded the player's error"
        time.sleep(0.05)  # the report travels over the agent socket; poll the stream
    FrameOutput.hidden = None
    FrameOutput.execute("", stream_id, True, 50)
    warning = [d for _, d, _ in toasts if d["summary"] == "No Processed Frame"]
    assert warning and "UNSUPPORTED: this browser cannot read video frames" in warning[0]["detail"]


def test_frame_nodes_say_once_that_the_browser_cannot_reach_the_media_server(
    client: RelayClient, toasts: list
) -> None:
    # A tab whose media never connects: it plays nothing back.
    agent = Agent(client.endpoint.url, client.endpoint.token, play_back=False)
    try:
        agent.wait_for(lambda: any(m.get("type") == "welcome" for m in agent.messages))
        stream_id = Executor(ALL_NODES).run(graph())["2"][0]
        agent.wait_lease(stream_id)
        report = "MEDIA_UNREACHABLE: ICE did not connect"
        agent.send_json(
            {
                "type": "state",
                "stream_id": stream_id,
                "role": "publisher",
                "state": "reconnecting",
                "error": report,
            }
        )
        deadline = time.monotonic() + 10
        while not (client.get_stream(stream_id).get("publisher") or {}).get("error"):
            assert time.monotonic() < deadline, "the relay never recorded the publisher's error"
            time.sleep(0.05)  # the report travels over the agent socket; poll the stream
        stream = client.get_stream(stream_id)
        assert stream["state"] == "reconnecting"
        # The relay added the addresses tried and the fix.
        why = stream["publisher"]["error"]
        assert why.startswith(report) and "start ComfyUI with --listen" in why
        image = np.zeros((1, 32, 32, 3), np.float32)
        for _ in range(2):
            assert FrameInput.execute(image, True, stream_id).args == (1,)
        warnings = [d for _, d, _ in toasts if d["summary"] == "Frames Not Reaching The Backend"]
        assert len(warnings) == 1, "said once, not on every run"
        assert why in warnings[0]["detail"]
        FrameOutput.hidden = None
        FrameOutput.execute("", stream_id, True, 50)
        warning = [d for _, d, _ in toasts if d["summary"] == "No Processed Frame"]
        assert warning and why in warning[0]["detail"]
    finally:
        agent.close()


def test_frame_output_with_no_stream_warns_and_returns_black(
    client: RelayClient, toasts: list
) -> None:
    PromptServer.instance.client_id = "tab-1"
    FrameOutput.hidden = None
    image, whep, fresh = FrameOutput.execute("saved-url").args
    assert (np.asarray(image).shape, whep, fresh) == ((1, 512, 512, 3), "saved-url", False)
    assert summaries(toasts) == ["No Stream Running"]


def test_status_reports_the_stream(client: RelayClient) -> None:
    stream_id = Executor(ALL_NODES).run(graph())["2"][0]
    outputs = StreamStatus.execute(stream_id, 0.0).args
    running, sid, playback_id, _whep, sent, depth, text, whip_url = outputs
    assert running is True and sid == stream_id and playback_id
    # The relay's proxy route as ComfyUI's pages reach it, never the upstream URL.
    assert whip_url == f"/rtc/api/v1/streams/{stream_id}/whip"
    assert "stk_" not in text and "/local/live/" not in text
    assert (sent, depth) == (0, 0)
    assert json.loads(text)["id"] == stream_id
    # No id: the relay's current stream.
    assert StreamStatus.execute("", 0.0).args[1] == stream_id


def test_status_without_a_stream_is_not_running(client: RelayClient) -> None:
    running, sid, *_, text, whip_url = StreamStatus.execute("str_missing", 0.0).args
    assert running is False and sid == "str_missing" and whip_url == ""
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
        running, *_, text, _whip = StreamStatus.execute("", 0.0).args
        assert running is False and "binary not found" in json.loads(text)["error"]
    finally:
        runtime.use_supervisor(None)


def test_the_streaming_example_runs_end_to_end(client: RelayClient, agent: Agent) -> None:
    workflow = json.loads((EXAMPLES / "rtc_stream_in_out_workflow.json").read_text())
    prompt = to_api_prompt(workflow)
    executor = Executor(ALL_NODES)
    PreviewImage.shown.clear()
    # The first queue: Frame Input gives the new stream's agent a moment to take the lease.
    executor.run(prompt)
    shown = np.asarray(PreviewImage.shown[-1])
    assert shown.shape == (1, 512, 512, 3)
    expected = 1.0 - np.array([0xFF, 0x80, 0x00], np.float32) / 255.0
    assert np.allclose(shown[0, 0, 0], expected, atol=1 / 255.0)


def test_relay_errors_keep_their_code(client: RelayClient) -> None:
    with pytest.raises(RelayError) as caught:
        client.get_stream("str_missing")
    assert caught.value.status == 404 and caught.value.code


def frames_graph(color: int) -> dict:
    """Start, then a solid colour through Frame Input and Frame Output to a preview."""
    prompt = graph()
    del prompt["3"]
    prompt.update(
        {
            "4": {
                "class_type": "EmptyImage",
                "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": color},
            },
            "5": {
                "class_type": "RTCStreamFrameInput",
                "inputs": {"image": ["4", 0], "enabled": True, "stream_id": ["2", 0]},
            },
            "6": {
                "class_type": "RTCStreamFrameOutput",
                "inputs": {"stream_id": ["2", 0], "timeout_ms": 10_000, "frames_sent": ["5", 0]},
            },
            "7": {"class_type": "PreviewImage", "inputs": {"images": ["6", 0]}},
        }
    )
    return prompt


def shown_rgb() -> list[int]:
    return [round(float(v) * 255) for v in np.asarray(PreviewImage.shown[-1])[0, 0, 0]]


def test_an_identical_requeue_runs_the_frame_nodes_again(client: RelayClient, agent: Agent) -> None:
    executor = Executor(ALL_NODES)
    PreviewImage.shown.clear()
    prompt = frames_graph(0x204060)
    for queued in range(1, 4):
        executor.run(prompt)
        assert {"5", "6", "7"} <= set(executor.executed), executor.cached
        agent.wait_for(lambda queued=queued: len(agent.frames) >= queued)
    assert len(PreviewImage.shown) == 3
    assert shown_rgb() == [255 - 0x20, 255 - 0x40, 255 - 0x60]


def output_graph() -> dict:
    """Start, and Frame Output to a preview: the frames come from outside the graph."""
    prompt = graph()
    del prompt["3"]
    prompt["6"] = {
        "class_type": "RTCStreamFrameOutput",
        "inputs": {"stream_id": ["2", 0], "timeout_ms": 10_000},
    }
    prompt["7"] = {"class_type": "PreviewImage", "inputs": {"images": ["6", 0]}}
    return prompt


def test_an_identical_requeue_follows_a_changed_input(client: RelayClient, agent: Agent) -> None:
    """Frames from outside the graph (the sidebar's camera, another workflow) change, the
    prompt does not: every queue must show the newest processed frame."""
    executor = Executor(ALL_NODES)
    prompt = output_graph()
    stream_id = executor.run(prompt, outputs=["2"])["2"][0]
    agent.wait_lease(stream_id)
    PreviewImage.shown.clear()
    for value in (30, 90, 150):
        client.push_frame(stream_id, bytes([value, value, value]) * 64 * 64, 64, 64)
        executor.run(prompt)
        assert "6" in executor.executed
        assert shown_rgb() == [255 - value] * 3


def test_the_stand_in_fails_a_frame_node_that_returns_the_shared_nan(
    client: RelayClient, agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The regression the re-queue tests guard against, shown to be caught."""
    monkeypatch.setattr(FrameOutput, "fingerprint_inputs", classmethod(lambda cls, **_: math.nan))
    executor = Executor(ALL_NODES)
    prompt = output_graph()
    stream_id = executor.run(prompt, outputs=["2"])["2"][0]
    agent.wait_lease(stream_id)
    PreviewImage.shown.clear()
    for value in (30, 90):
        client.push_frame(stream_id, bytes([value, value, value]) * 64 * 64, 64, 64)
        executor.run(prompt)
    assert "6" in executor.cached and "6" not in executor.executed
    assert len(PreviewImage.shown) == 1 and shown_rgb() == [255 - 30] * 3  # stale


def test_status_with_refresh_zero_queries_on_every_queue(client: RelayClient) -> None:
    executor = Executor(ALL_NODES)
    prompt = graph()
    prompt["4"] = {
        "class_type": "RTCStreamStatus",
        "inputs": {"stream_id": ["2", 0], "refresh_interval": 0.0},
    }
    prompt["5"] = {"class_type": "PreviewAny", "inputs": {"source": ["4", 6]}}
    for _ in range(2):
        executor.run(prompt)
        assert "4" in executor.executed


def saved(workflow_id: str) -> dict:
    return {"extra_pnginfo": {"workflow": {"id": workflow_id, "nodes": [], "links": []}}}


def test_start_nodes_with_the_same_id_in_two_workflows_keep_their_own_streams(
    client: RelayClient, toasts: list
) -> None:
    executor = Executor(ALL_NODES)
    mine = executor.run(graph(prompt="mine"), extra_data=saved("wf-mine"))["2"][0]
    theirs = executor.run(graph(prompt="theirs"), extra_data=saved("wf-theirs"))["2"][0]
    assert theirs != mine
    assert client.get_stream(mine)["pipeline_config"]["params"]["prompt"] == "mine"
    # A reload-level change in the other workflow patches its stream, never mine.
    patched = executor.run(graph(prompt="theirs", width=768), extra_data=saved("wf-theirs"))
    assert patched["2"][0] == theirs
    assert client.get_stream(theirs)["pipeline_config"]["params"]["width"] == 768
    assert client.get_stream(mine)["state"] not in stream.GONE_STATES
    assert client.get_stream(mine)["pipeline_config"]["params"]["width"] == 512
    # Back in my workflow, Start finds its own stream again.
    assert executor.run(graph(prompt="mine"), extra_data=saved("wf-mine"))["2"][0] == mine


def test_stop_stream_stops_only_this_nodes_stream(client: RelayClient, toasts: list) -> None:
    executor = Executor(ALL_NODES)
    mine = executor.run(graph(name="mine"), extra_data=saved("wf-mine"))["2"][0]
    theirs = executor.run(graph(name="theirs"), extra_data=saved("wf-theirs"))["2"][0]
    stopping = graph(name="mine")
    stopping["2"]["inputs"]["stop_stream"] = True
    assert executor.run(stopping, extra_data=saved("wf-mine"))["2"] == ("", "", "", "")
    live = {s["id"]: s["state"] for s in client.list_streams()["streams"]}
    assert live.get(mine) in (None, "stopping")
    assert live[theirs] not in stream.GONE_STATES
    assert "Stream Stopped" in summaries(toasts)
    # While stop_stream stays on, queues start nothing.
    before = set(stream_ids(client))
    assert executor.run(stopping, extra_data=saved("wf-mine"))["2"] == ("", "", "", "")
    assert set(stream_ids(client)) <= before


def test_toasts_go_to_the_tab_that_queued_the_prompt(client: RelayClient, toasts: list) -> None:
    Executor(ALL_NODES, client_id="tab-A").run(graph(name="a"), extra_data=saved("a"))
    Executor(ALL_NODES, client_id="tab-B").run(graph(name="b"), extra_data=saved("b"))
    sent = [(data["summary"], sid) for event, data, sid in toasts]
    assert ("Stream Started", "tab-A") in sent and ("Stream Started", "tab-B") in sent
    assert all(sid in ("tab-A", "tab-B") for _, sid in sent), "no toast is broadcast"
    # A prompt queued without a client id (an API script) has no tab to show a toast to.
    toasts.clear()
    Executor(ALL_NODES).run(graph(name="c"), extra_data={"client_id": None, **saved("c")})
    assert toasts == []


def test_frame_input_with_no_stream_warns_and_sends_nothing(
    client: RelayClient, toasts: list
) -> None:
    PromptServer.instance.client_id = "tab-1"
    assert FrameInput.execute(np.zeros((1, 8, 8, 3), np.float32)).args == (0,)
    assert summaries(toasts) == ["No Stream Running"]


def test_cancel_interrupts_a_batch_between_frames(client: RelayClient, agent: Agent) -> None:
    stream_id = Executor(ALL_NODES).run(graph())["2"][0]
    agent.wait_lease(stream_id)
    outcome: list[BaseException | tuple] = []

    def send() -> None:
        try:
            outcome.append(FrameInput.execute(np.zeros((48, 64, 64, 3), np.float32)).args)
        except BaseException as error:  # handed over to the test's thread
            outcome.append(error)

    # 48 frames at 24 fps take two seconds; Cancel comes once the first frame is through.
    sender = threading.Thread(target=send)
    sender.start()
    agent.wait_for(lambda: len(agent.frames) >= 1)
    interrupt_current_processing(True)
    sender.join(timeout=10)
    assert not sender.is_alive()
    assert isinstance(outcome[0], InterruptProcessingException)
    assert len(agent.frames) < 48


def test_cancel_interrupts_frame_output_while_it_waits(client: RelayClient) -> None:
    stream_id = Executor(ALL_NODES).run(graph())["2"][0]
    FrameOutput.hidden = None
    interrupt_current_processing(True)
    started = time.monotonic()
    with pytest.raises(InterruptProcessingException):
        FrameOutput.execute("", stream_id, True, 20_000)
    assert time.monotonic() - started < 5


def test_frames_kept_for_deleted_streams_are_released(client: RelayClient, agent: Agent) -> None:
    executor = Executor(ALL_NODES)
    first = executor.run(graph(name="first"), extra_data=saved("one"))["2"][0]
    second = executor.run(graph(name="second"), extra_data=saved("two"))["2"][0]
    FrameOutput.hidden = None
    for stream_id in (first, second):
        agent.wait_lease(stream_id)
        FrameInput.execute(np.zeros((1, 8, 8, 3), np.float32), True, stream_id)
        FrameOutput.execute("", stream_id, True, 10_000)
    assert len(frames._last) == 2
    client.delete_stream(first)
    FrameOutput.execute("", second, False, 0)
    assert len(frames._last) == 1
