"""Opt-in: the pack inside a real ComfyUI (``COMFYUI_DIR``), on the relay's local backend.

Needs a ComfyUI checkout with its requirements installed (see TOOLCHAIN.md); the Python that
runs it is ``COMFYUI_PYTHON`` or ``$COMFYUI_DIR/.venv/bin/python``. The pack is installed as a
user installs it: cloned into ``custom_nodes/`` and the relay wheel into ComfyUI's Python.
Never part of CI.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agent import Agent
from pack_install import FOLDER, NODE_IDS, clone_layout, install_wheel
from workflow import EXAMPLES, Widget, WidgetNames, to_api_prompt

from comfy_extension.rtc_node.assets import required_relay_version

COMFYUI_DIR = os.environ.get("COMFYUI_DIR")
pytestmark = pytest.mark.skipif(
    not COMFYUI_DIR, reason="set COMFYUI_DIR to a ComfyUI checkout to run the real-ComfyUI test"
)
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}


def get_json(url: str, timeout: float = 10.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


def post_json(url: str, body: Any) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def comfyui(tmp_path_factory: pytest.TempPathFactory, relay_wheel: Path) -> Iterator[str]:
    base = tmp_path_factory.mktemp("comfyui")
    nodes_dir = base / "custom_nodes"
    clone_layout(nodes_dir)
    config = base / "extra_paths.yaml"
    config.write_text(f"rtc:\n  custom_nodes: {nodes_dir}\n")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    comfy = Path(str(COMFYUI_DIR))
    python = os.environ.get("COMFYUI_PYTHON", str(comfy / ".venv" / "bin" / "python"))
    install_wheel(Path(python), relay_wheel)
    env = {
        **os.environ,
        "RTC_RELAY_STATE_DIR": str(base / "relay-state"),
        "RTC_RELAY_PORT": "0",
    }
    # Only the wheel may provide the relay.
    for name in ("DAYDREAM_API_KEY", "RTC_RELAY_BIN", "CARGO_TARGET_DIR"):
        env.pop(name, None)
    log = (base / "comfyui.log").open("w")
    process = subprocess.Popen(
        [
            python,
            "main.py",
            "--cpu",
            "--listen",
            "127.0.0.1",
            "--port",
            str(port),
            "--extra-model-paths-config",
            str(config),
            "--base-directory",
            str(base),
        ],
        cwd=comfy,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        if process.poll() is not None:
            raise RuntimeError("ComfyUI exited:\n" + (base / "comfyui.log").read_text()[-4000:])
        try:
            get_json(f"{url}/object_info/StartRTCStream", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.5)
    yield url
    process.terminate()
    process.wait(timeout=30)
    log.close()


def test_all_nodes_are_listed_in_object_info(comfyui: str) -> None:
    info = get_json(f"{comfyui}/object_info")
    assert NODE_IDS <= set(info)
    for node_id in NODE_IDS:
        assert info[node_id]["category"] == "RTC Stream"
    update = info["UpdateRTCStream"]
    # The original's only widget first; stream_id optional (the current stream when unlinked).
    assert update["input_order"]["required"] == ["pipeline_config"]
    assert update["input_order"]["optional"] == ["stream_id", "enabled", "seed"]
    assert update["input"]["optional"]["seed"][1]["control_after_generate"] is True
    status_outputs = info["RTCStreamStatus"]["output_name"]
    assert status_outputs[:7] == [
        "running",
        "stream_id",
        "playback_id",
        "whep_url",
        "frames_sent",
        "queue_depth",
        "status_json",
    ]
    extensions = get_json(f"{comfyui}/extensions")
    assert f"/extensions/{FOLDER}/main.js" in extensions


def test_the_example_workflows_are_templates_without_missing_nodes(comfyui: str) -> None:
    templates = get_json(f"{comfyui}/workflow_templates")
    names = sorted(path.stem for path in EXAMPLES.glob("*.json"))
    assert sorted(templates[FOLDER]) == names
    known = set(get_json(f"{comfyui}/object_info"))
    for name in names:
        served = get_json(f"{comfyui}/api/workflow_templates/{FOLDER}/{name}.json")
        missing = {node["type"] for node in served["nodes"]} - known
        assert not missing, f"{name}: {missing}"


def test_the_proxy_reaches_the_relay(comfyui: str) -> None:
    health = get_json(f"{comfyui}/rtc/api/healthz")
    assert health["ok"] is True and health["backend"] == "local"
    assert health["version"] == required_relay_version()


def test_comfyui_serves_the_ui_files_and_the_relay_status(comfyui: str) -> None:
    """Through ComfyUI's own middlewares (caching, compression, origin checks)."""
    for path, content_type in (
        ("js/comfy.mjs", "text/javascript"),
        ("css/rtc.css", "text/css"),
        ("preview.html", "text/html"),
    ):
        with urllib.request.urlopen(f"{comfyui}/rtc/ui/{path}", timeout=10) as response:
            assert response.headers.get_content_type() == content_type, path
            assert response.headers["Cache-Control"] == "no-cache", path
    # The proxy waits for the relay to be up; the status then says so.
    get_json(f"{comfyui}/rtc/api/healthz")
    assert get_json(f"{comfyui}/rtc/relay")["state"] == "running"


def widgets_from(info: dict[str, Any]) -> WidgetNames:
    """The frontend's widget list for a node type, from ``/object_info``."""

    def widgets(node_type: str) -> list[Widget]:
        node = info[node_type]
        found: list[Widget] = []
        for section in ("required", "optional"):
            for name in node.get("input_order", {}).get(section, []):
                kind, *rest = node["input"][section][name]
                options = rest[0] if rest else {}
                choices = kind if isinstance(kind, list) else options.get("options")
                widget = isinstance(kind, list) or kind in WIDGET_TYPES or kind == "COMBO"
                default = options.get("default", choices[0] if choices else None)
                force = bool(options.get("forceInput"))
                if widget or force:
                    control = bool(options.get("control_after_generate"))
                    found.append((name, control, default, force))
        return found

    return widgets


def example_prompt(comfyui: str) -> dict[str, dict[str, Any]]:
    info = get_json(f"{comfyui}/object_info")
    workflow = json.loads((EXAMPLES / "rtc_stream_in_out_workflow.json").read_text())
    return to_api_prompt(workflow, widgets_from(info))


def queue(comfyui: str, prompt: dict[str, Any]) -> dict[str, Any]:
    """Queues a prompt as a tab would and returns its history entry once it finished."""
    queued = post_json(f"{comfyui}/prompt", {"prompt": prompt, "client_id": "test-tab"})
    deadline = time.monotonic() + 120
    history: dict[str, Any] = {}
    while queued["prompt_id"] not in history:
        assert time.monotonic() < deadline, "prompt did not finish"
        time.sleep(0.2)  # ComfyUI's history has no long poll: poll it with a deadline
        history = get_json(f"{comfyui}/history/{queued['prompt_id']}")
    return history[queued["prompt_id"]]


def expect_success(entry: dict[str, Any]) -> None:
    status = entry["status"]
    errors = [data for kind, data in status["messages"] if kind == "execution_error"]
    assert status["status_str"] == "success", [
        (e.get("node_type"), e.get("exception_message")) for e in errors
    ] or status


def cached_nodes(entry: dict[str, Any]) -> list[str]:
    return next(
        data["nodes"] for kind, data in entry["status"]["messages"] if kind == "execution_cached"
    )


def preview_pixel(comfyui: str, entry: dict[str, Any], node_id: str) -> tuple[int, int, int]:
    from PIL import Image

    (image,) = entry["outputs"][node_id]["images"]
    query = urllib.parse.urlencode(
        {"filename": image["filename"], "subfolder": image["subfolder"], "type": image["type"]}
    )
    with urllib.request.urlopen(f"{comfyui}/view?{query}", timeout=10) as response:
        picture = Image.open(io.BytesIO(response.read())).convert("RGB")
    return picture.getpixel((0, 0))


@pytest.fixture
def agent(comfyui: str) -> Iterator[Agent]:
    # The browser agent goes through ComfyUI's proxy, as the page does.
    browser = Agent(f"{comfyui}/rtc/api", token="unused-behind-the-proxy")
    browser.wait_for(lambda: any(m.get("type") == "welcome" for m in browser.messages))
    yield browser
    browser.close()


def test_the_streaming_example_runs_on_the_local_backend(comfyui: str, agent: Agent) -> None:
    entry = queue(comfyui, example_prompt(comfyui))
    expect_success(entry)
    assert any("images" in output for output in entry["outputs"].values())


def test_an_identical_requeue_runs_the_frame_nodes_again(comfyui: str, agent: Agent) -> None:
    prompt = example_prompt(comfyui)
    frame_nodes = {
        node_id
        for node_id, node in prompt.items()
        if node["class_type"] in ("RTCStreamFrameInput", "RTCStreamFrameOutput")
    }
    for queued in range(1, 4):
        before = len(agent.frames)
        entry = queue(comfyui, prompt)
        expect_success(entry)
        assert not frame_nodes & set(cached_nodes(entry)), (queued, cached_nodes(entry))
        agent.wait_for(lambda before=before: len(agent.frames) > before)


def test_an_identical_requeue_follows_a_changed_input(comfyui: str, agent: Agent) -> None:
    """Frames from outside the graph (the sidebar's camera, another workflow) change, the
    prompt does not: every queue must show the newest processed frame."""
    prompt = example_prompt(comfyui)
    for node_id, node in list(prompt.items()):
        if node["class_type"] in ("EmptyImage", "RTCStreamFrameInput"):
            del prompt[node_id]
    output_id = next(n for n, v in prompt.items() if v["class_type"] == "RTCStreamFrameOutput")
    preview_id = next(n for n, v in prompt.items() if v["class_type"] == "PreviewImage")
    prompt[output_id]["inputs"].pop("frames_sent")
    entry = queue(comfyui, prompt)  # starts the stream; nothing was sent yet
    expect_success(entry)
    stream_id = get_json(f"{comfyui}/rtc/api/v1/streams")["current"]
    agent.wait_lease(stream_id)
    deadline = time.monotonic() + 15
    while not get_json(f"{comfyui}/rtc/api/v1/streams/{stream_id}")["lease"]:
        assert time.monotonic() < deadline, "the relay never recorded the agent's lease"
        time.sleep(0.1)  # the lease shows in the stream's state; no event to wait on
    for value in (40, 120, 200):
        frame = urllib.request.Request(
            f"{comfyui}/rtc/api/v1/streams/{stream_id}/frames",
            data=bytes([value]) * (64 * 64 * 3),
            headers={
                "Content-Type": "application/octet-stream",
                "X-Frame-Width": "64",
                "X-Frame-Height": "64",
                "X-Frame-Format": "rgb8",
            },
        )
        urllib.request.urlopen(frame, timeout=10).close()
        entry = queue(comfyui, prompt)
        expect_success(entry)
        assert output_id not in cached_nodes(entry)
        # PreviewImage truncates float → 8 bit, so a value may come back one lower.
        pixel = preview_pixel(comfyui, entry, preview_id)
        assert all(abs(channel - (255 - value)) <= 1 for channel in pixel), (value, pixel)


def test_the_preview_hands_a_linked_stream_id_to_the_frontend(comfyui: str) -> None:
    prompt = {
        "1": {"class_type": "PrimitiveString", "inputs": {"value": "str_linked"}},
        "2": {"class_type": "RTCStreamUIPreview", "inputs": {"stream_id": ["1", 0]}},
    }
    entry = queue(comfyui, prompt)
    expect_success(entry)
    assert entry["outputs"]["2"] == {"rtc_stream": ["str_linked"]}
