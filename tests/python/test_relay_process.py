"""The relay binary as the ComfyUI pack will run it: a child process on loopback."""

from __future__ import annotations

import json
import subprocess
import urllib.request

from conftest import RelayProcess, relay_binary


def test_healthz_answers_without_a_token(relay: RelayProcess) -> None:
    with urllib.request.urlopen(f"{relay.url}/healthz", timeout=5) as response:
        body = json.load(response)
    assert body["ok"] is True
    assert body["backend"] == "local"


def test_refuses_a_public_bind_with_a_clear_message(relay_env: dict[str, str]) -> None:
    result = subprocess.run(
        [str(relay_binary()), "--addr", "0.0.0.0:0"],
        env=relay_env,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode != 0
    assert "--allow-remote" in result.stderr
