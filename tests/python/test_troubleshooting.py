"""The README's Troubleshooting section quotes what the product prints: each case is brought
about (a missing binary, a busy port, no publishing tab, a key Daydream refuses, …) and every
quoted line must match what the sidebar, the relay log, the answers and `GET /healthz` said.

Quoted lines are `where: message` in the section's `text` blocks; `…` stands for what varies.
"""

from __future__ import annotations

import http.server
import json
import re
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent import Agent
from conftest import ROOT, RelayProcess, relay_binary

README = ROOT / "README.md"
# Lines that no test brings about (Daydream offering a private media address); they must at
# least be the relay's own words.
FROM_SOURCE_ONLY = {("relay log", "refused a media URL from upstream")}
# A 16 x 16 PNG, as the original's /frames took it.
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAAAFklEQVR42mM4EaBBEmIY1TCq"
    "YfhqAAC/xkAQBZlNgAAAAABJRU5ErkJggg=="
)


def quoted_lines() -> list[tuple[str, str]]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("\n## Troubleshooting\n") :]
    following = section.find("\n## ", 1)
    section = section if following < 0 else section[:following]
    lines = []
    for block in re.findall(r"```text\n(.*?)```", section, re.S):
        for line in block.splitlines():
            where, _, message = line.partition(": ")
            lines.append((where, message))
    return lines


def pattern(message: str) -> re.Pattern[str]:
    return re.compile(".*?".join(re.escape(part) for part in message.split("…")))


def request(url: str, path: str, token: str, body: object = None) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url + path, data=data, headers=headers), timeout=30
        ) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def relay_token(env: dict[str, str]) -> str:
    return (Path(env["RTC_RELAY_STATE_DIR"]) / "token").read_text(encoding="utf-8").strip()


def run_relay(env: dict[str, str], *args: str) -> str:
    """A relay that is expected to refuse to start: its exit status and standard error."""
    result = subprocess.run(
        [str(relay_binary()), *args], env=env, capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 1, result.stderr
    return result.stderr


@pytest.fixture
def refusing_daydream() -> Iterator[str]:
    """A Daydream stand-in that refuses every key with 401."""

    class Refuse(http.server.BaseHTTPRequestHandler):
        def _refuse(self) -> None:
            body = b'{"error": "invalid api key"}'
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = do_PATCH = _refuse

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def said_by_the_product(
    relay: RelayProcess, relay_env: dict[str, str], tmp_path: Path, refusing_daydream: str
) -> dict[str, list[str]]:
    """Brings each case about and collects what the product printed, by where it shows."""
    from comfy_extension.rtc_node.assets import RelayWheel, required_relay_version
    from comfy_extension.rtc_node.credentials import Credentials
    from comfy_extension.rtc_node.nodes.common import explain
    from comfy_extension.rtc_node.relay_client import RelayError
    from comfy_extension.rtc_node.supervisor import (
        RelayStartError,
        RelaySupervisor,
        SupervisorOptions,
        find_binary,
    )

    said: dict[str, list[str]] = {}

    def record(where: str, text: str) -> None:
        said.setdefault(where, []).append(text)

    url = relay.wait_ready()
    token = relay_token(relay_env)
    address = url.removeprefix("http://")

    # The relay does not start: what the pack's supervisor reports in the ComfyUI console.
    version = required_relay_version()
    missing = RelaySupervisor(
        SupervisorOptions(state_dir=tmp_path / "pack", start_timeout=10, relay_version=version),
        credentials=Credentials,
        binary_finder=lambda: find_binary({}, tmp_path, None, version),
    )
    old_wheel = RelayWheel("0.0.1", relay_binary(), None)
    other_version = RelaySupervisor(
        SupervisorOptions(state_dir=tmp_path / "pack", start_timeout=10, relay_version=version),
        credentials=Credentials,
        binary_finder=lambda: find_binary({}, tmp_path, old_wheel, version),
    )
    exits = RelaySupervisor(
        SupervisorOptions(
            state_dir=tmp_path / "pack",
            binary=relay_binary(),
            port=0,
            start_timeout=10,
            extra_env={"DAYDREAM_API_URL": "ftp://nowhere"},
        ),
        credentials=Credentials,
        binary_finder=lambda: (relay_binary(), []),
    )
    for supervisor in (missing, other_version, exits):
        with pytest.raises(RelayStartError) as error:
            supervisor.endpoint(timeout=15)
        record("ComfyUI console", str(error.value))
        supervisor.stop()

    # …and what a relay run by hand prints before it exits.
    record("relay log", run_relay(relay_env, "--addr", address))
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    record(
        "relay log",
        run_relay(
            {**relay_env, "RTC_RELAY_STATE_DIR": str(blocked / "state")}, "--addr", "127.0.0.1:0"
        ),
    )
    bad_url = {**relay_env, "DAYDREAM_API_URL": "ftp://nowhere", "DAYDREAM_API_KEY": "k"}
    record("relay log", run_relay(bad_url, "--addr", "127.0.0.1:0"))
    record("relay log", run_relay(relay_env, "--addr", "0.0.0.0:8895"))
    record("GET /healthz", request(url, "/healthz", token)[1])

    # A key Daydream refuses, and a Daydream that cannot be reached.
    for api_url in (refusing_daydream, "http://127.0.0.1:9"):
        env = {**relay_env, "DAYDREAM_API_URL": api_url, "DAYDREAM_API_KEY": "refused"}
        env["RTC_RELAY_STATE_DIR"] = str(tmp_path / f"daydream-{len(said['relay log'])}")
        env["RTC_UPSTREAM_ATTEMPTS"] = "1"
        daydream = RelayProcess(env, [])
        try:
            daydream_url = daydream.wait_ready()
            status, body = request(daydream_url, "/v1/streams", relay_token(env), {})
            assert status in (502, 503), body
            record("answer", body)
        finally:
            daydream.stop()

    # No frames are sent: a stream with no tab to publish it.
    status, started = request(url, "/start", token, {"stream_name": "no tab"})
    assert status == 200, started
    stream_id = json.loads(started)["stream_id"]
    record("GET /status", request(url, "/status", token)[1])
    record("GET /whep/status", request(url, "/whep/status", token)[1])
    status, refused = request(url, "/frames", token, {"frame_b64": PNG})
    assert status == 409, refused
    record("answer", refused)
    message = json.loads(refused)["error"]["message"]
    record("Frame Input", str(explain(RelayError(409, "no_publisher", message), stream_id)))
    # A tab arrives and takes the stream.
    agent = Agent(url, token)
    try:
        agent.wait_lease(stream_id)
    finally:
        agent.close()
    record("relay log", "".join(relay.log))
    return said


def sidebar_sources() -> tuple[set[str], str]:
    status = (ROOT / "www" / "js" / "status.mjs").read_text(encoding="utf-8")
    labels = set(re.findall(r'label: "([^"]+)"', status))
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "www" / "js").glob("*.mjs"))
    return labels, sources


def test_every_quoted_message_is_what_the_product_prints(
    relay: RelayProcess, relay_env: dict[str, str], tmp_path: Path, refusing_daydream: str
) -> None:
    quoted = quoted_lines()
    assert len(quoted) >= 20, "the section's text blocks were found"
    said = said_by_the_product(relay, relay_env, tmp_path, refusing_daydream)
    labels, page_sources = sidebar_sources()
    relay_sources = "\n".join(
        p.read_text(encoding="utf-8") for p in (ROOT / "relay" / "src").rglob("*.rs")
    )
    unmatched = []
    for where, message in quoted:
        if where == "sidebar":
            label, _, detail = message.partition(" · ")
            # The detail is matched against the pages' source, where a variable part is `${…}`.
            found = label in labels and pattern(detail).search(page_sources) is not None
        elif (where, message) in FROM_SOURCE_ONLY:
            found = f'"{message}"' in relay_sources
        else:
            found = any(pattern(message).search(text) for text in said.get(where, []))
        if not found:
            unmatched.append(f"{where}: {message}")
    assert unmatched == [], "quoted but not printed:\n" + "\n".join(unmatched)
    assert {where for where, _ in quoted} >= {
        "sidebar",
        "ComfyUI console",
        "relay log",
        "answer",
        "GET /healthz",
        "GET /status",
        "GET /whep/status",
        "Frame Input",
    }
