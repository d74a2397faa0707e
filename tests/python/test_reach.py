"""The local backend's media reaches as far as ComfyUI listens: ``--listen`` decides the media
bind the supervisor gives the real relay, which announces the matching addresses."""

from __future__ import annotations

import ipaddress
import json
import logging
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from conftest import relay_binary

from comfy_extension.rtc_node import reach
from comfy_extension.rtc_node.credentials import Credentials
from comfy_extension.rtc_node.supervisor import RelaySupervisor, SupervisorOptions

STUB = Path(__file__).resolve().parent / "comfy_stub"


@pytest.mark.parametrize(
    ("listen", "bind"),
    [
        (None, None),
        ("127.0.0.1", None),
        ("localhost", None),
        ("::1", None),
        ("127.0.0.1,::1", None),
        ("0.0.0.0,::", "0.0.0.0"),
        ("0.0.0.0", "0.0.0.0"),
        ("::", "0.0.0.0"),
        ("192.168.1.5", "192.168.1.5"),
        ("127.0.0.1, 192.168.1.5", "192.168.1.5"),
        ("192.168.1.5,10.0.0.2", "0.0.0.0"),
        ("2001:db8::5", "0.0.0.0"),
        ("comfy.lan", "0.0.0.0"),
    ],
)
def test_listen_decides_the_media_bind(listen: str | None, bind: str | None) -> None:
    expected = {} if bind is None else {"RTC_LOCAL_MEDIA_BIND": bind}
    assert reach.media_environment(listen, {}) == expected


def test_media_settings_the_user_made_win() -> None:
    assert reach.media_environment("0.0.0.0", {"RTC_LOCAL_MEDIA_BIND": "10.1.2.3"}) == {}
    assert reach.media_environment("0.0.0.0", {"RTC_LOCAL_MEDIA_ANNOUNCE": "203.0.113.7"}) == {}
    assert reach.media_environment("0.0.0.0", {"RTC_LOCAL_MEDIA_BIND": ""}) == {
        "RTC_LOCAL_MEDIA_BIND": "0.0.0.0"
    }


@pytest.mark.parametrize(
    ("argv", "listen"),
    [([], "127.0.0.1"), (["--listen"], "0.0.0.0,::"), (["--listen", "10.77.0.1"], "10.77.0.1")],
)
def test_listen_is_read_from_comfyuis_arguments(argv: list[str], listen: str) -> None:
    # A fresh interpreter: ComfyUI parses its command line once, at import.
    code = "from comfy_extension.rtc_node import reach; print(reach.comfy_listen())"
    root = str(Path(__file__).resolve().parents[2])
    result = subprocess.run(
        [sys.executable, "-c", code, *argv],
        env={"PYTHONPATH": f"{STUB}:{root}"},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert result.stdout.strip() == listen


def test_outside_comfyui_nothing_is_implied() -> None:
    code = "from comfy_extension.rtc_node import reach; print(reach.comfy_listen())"
    root = str(Path(__file__).resolve().parents[2])
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": root},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert result.stdout.strip() == "None"


def test_a_comfyui_listening_everywhere_gets_media_on_every_interface(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    supervisor = RelaySupervisor(
        SupervisorOptions(
            state_dir=tmp_path / "state",
            binary=relay_binary(),
            port=0,
            extra_env=reach.media_environment("0.0.0.0,::", {}),
        ),
        credentials=Credentials,
        binary_finder=lambda: (relay_binary(), []),
    )
    try:
        with caplog.at_level(logging.INFO, logger="rtc_node.supervisor"):
            endpoint = supervisor.endpoint()
        with urllib.request.urlopen(f"{endpoint.url}/healthz", timeout=5) as response:
            media = json.load(response)["media"]
    finally:
        supervisor.stop()
    hosts = [ipaddress.ip_address(address.rsplit(":", 1)[0]) for address in media]
    assert hosts[0].is_loopback, media
    assert len({address.rsplit(":", 1)[1] for address in media}) == 1, "one UDP port"
    interfaces = [h for h in hosts if not h.is_loopback]
    assert interfaces, f"a host with a network interface announces it: {media}"
    lines = [r.getMessage() for r in caplog.records if "media listens on UDP" in r.getMessage()]
    assert len(lines) == 1, lines
    assert ", ".join(media) in lines[0]
    # HTTP stays on loopback whatever media does.
    assert endpoint.url.startswith("http://127.0.0.1:")
