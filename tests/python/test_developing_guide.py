"""docs/DEVELOPING.md's commands, run exactly as printed: against a real relay found with
`scripts/relay-info.sh`, and through the pack's own proxy as ComfyUI serves it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent import Agent
from conftest import ROOT, RelayProcess

GUIDE = ROOT / "docs" / "DEVELOPING.md"
MARKED = re.compile(r"<!-- run: ([\w-]+) -->\n```bash\n(.*?)```", re.S)
BASH_BLOCK = re.compile(r"```bash\n(.*?)```", re.S)


def blocks(name: str) -> str:
    found = [
        body for marker, body in MARKED.findall(GUIDE.read_text(encoding="utf-8")) if marker == name
    ]
    assert found, f"no `<!-- run: {name} -->` blocks in {GUIDE}"
    return "\n".join(found)


def run_bash(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def api(url: str, token: str, path: str) -> object:
    request = urllib.request.Request(url + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def relay_token(relay_env: dict[str, str]) -> str:
    return (Path(relay_env["RTC_RELAY_STATE_DIR"]) / "token").read_text(encoding="utf-8").strip()


def test_every_curl_example_is_run_by_this_suite() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    marked = {body for _, body in MARKED.findall(text)}
    unmarked = [body for body in BASH_BLOCK.findall(text) if "curl" in body and body not in marked]
    assert unmarked == [], "curl examples without a `<!-- run: … -->` marker"
    assert {name for name, _ in MARKED.findall(text)} == {"relay", "comfyui", "stream-file"}


def test_the_standalone_examples_work_as_printed(
    relay: RelayProcess, relay_env: dict[str, str]
) -> None:
    url = relay.wait_ready()
    token = relay_token(relay_env)
    # The guide asks for a browser tab that publishes; this stand-in speaks the same protocol.
    agent = Agent(url, token)
    try:
        agent.wait_for(lambda: any(m.get("type") == "welcome" for m in agent.messages))
        env = {**relay_env, "RTC_RELAY_ADDR": url.removeprefix("http://")}
        out = run_bash(blocks("relay"), env).stdout
        assert '{"ok":true' in out
        assert out.count('"accepted":true') == 2, out
        # The stand-in plays each frame back: the output route returns a whole 512 x 512 frame.
        assert "200 786432 bytes" in out
        assert any((f.width, f.height) == (512, 512) for f in agent.frames)
    finally:
        agent.close()
    assert '"prompt":"cyberpunk cityscape at night"' in out
    assert '"connection_state":' in out
    saved = Path(relay_env["RTC_RELAY_STATE_DIR"]) / "runtime_config.json"
    assert json.loads(saved.read_text(encoding="utf-8")) == {
        "frame_rate": 24,
        "width": 640,
        "height": 384,
    }
    assert api(url, token, "/v1/config") == {"frame_rate": 24, "width": 640, "height": 384}
    assert api(url, token, "/v1/streams")["streams"] == [], "the examples stop what they start"


@pytest.fixture
def pack_proxy(relay: RelayProcess, relay_env: dict[str, str]) -> Iterator[str]:
    """tests/e2e/pack_proxy.py: the pack's proxy module on its own aiohttp server."""
    env = {
        **relay_env,
        "RTC_PROXY_RELAY_URL": relay.wait_ready(),
        "RTC_PROXY_RELAY_TOKEN": relay_token(relay_env),
    }
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "e2e" / "pack_proxy.py")],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"listening on (http://[\d.:]+)", line)
    assert match, f"the proxy did not start: {line!r}"
    yield match.group(1)
    assert process.stdin is not None
    process.stdin.close()
    process.wait(timeout=10)


def test_the_comfyui_examples_work_as_printed(
    pack_proxy: str, relay: RelayProcess, relay_env: dict[str, str]
) -> None:
    out = run_bash(blocks("comfyui"), {**relay_env, "COMFY": pack_proxy}).stdout
    assert '"name":"through-comfyui"' in out
    assert '"running":true' in out and '"running":false' in out
    token = relay_token(relay_env)
    assert api(relay.wait_ready(), token, "/v1/streams")["streams"] == []


def test_relay_info_prefers_the_relay_comfyui_started(pack_relay: object, tmp_path: Path) -> None:
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "RTC_RELAY_STATE_DIR": str(tmp_path / "state"),
    }
    script = (
        'eval "$(scripts/relay-info.sh)"; echo "$RELAY"; '
        'curl -fsS "$RELAY/v1/streams" -H "Authorization: Bearer $TOKEN"'
    )
    result = subprocess.run(
        ["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    relay_url, listed = result.stdout.splitlines()
    assert relay_url == pack_relay.status()["url"]  # type: ignore[attr-defined]
    assert json.loads(listed)["streams"] == []
    assert "the relay ComfyUI started" in result.stderr


def test_relay_info_says_why_it_finds_no_relay(
    relay: RelayProcess, relay_env: dict[str, str]
) -> None:
    url = relay.wait_ready()
    script = [str(ROOT / "scripts" / "relay-info.sh")]
    # Nothing listens on the address.
    missing = subprocess.run(
        script, env={**relay_env, "RTC_RELAY_ADDR": "127.0.0.1:9"}, capture_output=True, text=True
    )
    assert missing.returncode == 1
    assert missing.stdout == ""
    assert "no relay answers at http://127.0.0.1:9/healthz" in missing.stderr
    # A relay answers, but not with the token in this environment.
    wrong = subprocess.run(
        script,
        env={**relay_env, "RTC_RELAY_ADDR": url.removeprefix("http://"), "RTC_RELAY_TOKEN": "nope"},
        capture_output=True,
        text=True,
    )
    assert wrong.returncode == 1
    assert f"the relay at {url} refuses the token from RTC_RELAY_TOKEN" in wrong.stderr
    assert "nope" not in wrong.stdout
