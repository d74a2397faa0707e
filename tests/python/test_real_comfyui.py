"""Opt-in: the pack inside a real ComfyUI (``COMFYUI_DIR``), on the relay's local backend.

Needs a ComfyUI checkout with its requirements installed (see TOOLCHAIN.md); the Python that
runs it is ``COMFYUI_PYTHON`` or ``$COMFYUI_DIR/.venv/bin/python``. Never part of CI.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agent import Agent
from conftest import ROOT, relay_binary
from workflow import EXAMPLES, to_api_prompt

COMFYUI_DIR = os.environ.get("COMFYUI_DIR")
pytestmark = pytest.mark.skipif(
    not COMFYUI_DIR, reason="set COMFYUI_DIR to a ComfyUI checkout to run the real-ComfyUI test"
)
NODE_IDS = {
    "RTCStreamPipelineConfig",
    "RTCStreamControlNet",
    "StartRTCStream",
    "UpdateRTCStream",
    "RTCStreamFrameInput",
    "RTCStreamFrameOutput",
    "RTCStreamStatus",
    "RTCStreamUIPreview",
}
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
def comfyui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = tmp_path_factory.mktemp("comfyui")
    nodes_dir = base / "custom_nodes"
    nodes_dir.mkdir()
    (nodes_dir / "rtc-node").symlink_to(ROOT / "comfy_extension")
    config = base / "extra_paths.yaml"
    config.write_text(f"rtc:\n  custom_nodes: {nodes_dir}\n")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    comfy = Path(str(COMFYUI_DIR))
    python = os.environ.get("COMFYUI_PYTHON", str(comfy / ".venv" / "bin" / "python"))
    env = {
        **os.environ,
        "RTC_RELAY_BIN": str(relay_binary()),
        "RTC_RELAY_STATE_DIR": str(base / "relay-state"),
        "RTC_RELAY_PORT": "0",
    }
    env.pop("DAYDREAM_API_KEY", None)
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
    seed = info["UpdateRTCStream"]["input"]["required"]["seed"]
    assert seed[1]["control_after_generate"] is True
    extensions = get_json(f"{comfyui}/extensions")
    assert any(path.endswith("/main.js") and "rtc-node" in path for path in extensions)


def test_the_proxy_reaches_the_relay(comfyui: str) -> None:
    health = get_json(f"{comfyui}/rtc/api/healthz")
    assert health["ok"] is True and health["backend"] == "local"


def widgets_from(info: dict[str, Any]):
    def widgets(node_type: str) -> list[tuple[str, bool]]:
        node = info[node_type]
        found = []
        for section in ("required", "optional"):
            for name in node.get("input_order", {}).get(section, []):
                kind, *rest = node["input"][section][name]
                options = rest[0] if rest else {}
                widget = isinstance(kind, list) or kind in WIDGET_TYPES
                if widget and not options.get("forceInput"):
                    found.append((name, bool(options.get("control_after_generate"))))
        return found

    return widgets


def run_prompt(comfyui: str, prompt: dict[str, Any]) -> dict[str, Any]:
    """Queues `prompt`; returns its history entry once it finished."""
    queued = post_json(f"{comfyui}/prompt", {"prompt": prompt})
    deadline = time.monotonic() + 120
    history: dict[str, Any] = {}
    while queued["prompt_id"] not in history:
        assert time.monotonic() < deadline, "prompt did not finish"
        time.sleep(0.2)
        history = get_json(f"{comfyui}/history/{queued['prompt_id']}")
    return history[queued["prompt_id"]]


def test_the_preview_hands_a_linked_stream_id_to_the_frontend(comfyui: str) -> None:
    prompt = {
        "1": {"class_type": "PrimitiveString", "inputs": {"value": "str_linked"}},
        "2": {"class_type": "RTCStreamUIPreview", "inputs": {"stream_id": ["1", 0]}},
    }
    entry = run_prompt(comfyui, prompt)
    assert entry["status"]["status_str"] == "success", entry["status"]
    assert entry["outputs"]["2"] == {"rtc_stream": ["str_linked"]}


def test_the_streaming_example_runs_on_the_local_backend(comfyui: str) -> None:
    info = get_json(f"{comfyui}/object_info")
    prompt = to_api_prompt(
        json.loads((EXAMPLES / "rtc_stream_in_out_workflow.json").read_text()), widgets_from(info)
    )
    # The browser agent goes through ComfyUI's proxy, as the page does.
    agent = Agent(f"{comfyui}/rtc/api", token="unused-behind-the-proxy")
    try:
        for _ in range(3):
            entry = run_prompt(comfyui, prompt)
            status = entry["status"]
            if status["status_str"] == "success":
                break
            agent.wait_for(lambda: bool(agent.leases))
        errors = [data for kind, data in status["messages"] if kind == "execution_error"]
        assert status["status_str"] == "success", [
            (e.get("node_type"), e.get("exception_message")) for e in errors
        ] or status
        outputs = entry["outputs"]
        assert any("images" in output for output in outputs.values())
    finally:
        agent.close()
