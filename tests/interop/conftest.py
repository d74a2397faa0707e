"""Fixtures for interop tests: a private network namespace joined to this one by a veth
pair, the local media server (the `local_media` example) with streams to test on, and the
full relay bound to the veth so its signalling routes and media are reachable from there."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

import netns as netns_helper  # noqa: E402
from netns import Namespace  # noqa: E402


def target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))


def media_server_binary() -> Path:
    explicit = os.environ.get("LOCAL_MEDIA_BIN")
    if explicit:
        return Path(explicit)
    return target_dir() / "debug" / "examples" / "local_media"


def relay_binary() -> Path:
    explicit = os.environ.get("RTC_RELAY_BIN")
    if explicit:
        return Path(explicit)
    return target_dir() / "debug" / "rtc-relay"


def http(
    method: str, url: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, dict[str, str], str]:
    """One HTTP request; error statuses are returned, not raised."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


@pytest.fixture(scope="module")
def netns() -> Iterator[Namespace]:
    """A namespace with one veth link to this namespace; removed afterwards."""
    try:
        ns = netns_helper.create()
    except netns_helper.NamespaceError as error:
        pytest.fail(f"interop tests need a network namespace: {error}")
    try:
        yield ns
    finally:
        netns_helper.remove(ns.name)


class MediaServer:
    """The media server process; started after the namespace so it announces the veth."""

    def __init__(self) -> None:
        binary = media_server_binary()
        if not binary.exists():
            pytest.fail(f"{binary} is missing: run cargo build -p rtc-relay --example local_media")
        self.proc = subprocess.Popen(
            [str(binary), "--media-any"], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        match = re.search(r"listening on (http://[\d.:]+)", line)
        if not match:
            self.proc.kill()
            raise RuntimeError(f"media server did not start: {line!r}")
        self.url = match.group(1)
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def request(
        self, method: str, path: str, body: str | None = None
    ) -> tuple[int, dict[str, str], str]:
        if body is None:
            return http(method, self.url + path, None, {})
        return http(method, self.url + path, body.encode(), {"content-type": "application/sdp"})

    def open_stream(self, key: str) -> None:
        # Frame-number checks need the input back unchanged: no effect stage.
        params = json.dumps({"skip_diffusion": True}).encode()
        status, _, _ = http(
            "PUT", f"{self.url}/streams/{key}", params, {"content-type": "application/json"}
        )
        assert status == 204

    def status(self, key: str) -> dict[str, object]:
        status, _, body = self.request("GET", f"/streams/{key}")
        assert status == 200
        return json.loads(body)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def media_server(netns: Namespace) -> Iterator[MediaServer]:
    server = MediaServer()
    yield server
    server.stop()


class Relay:
    """The rtc-relay binary on the local backend, listening on the veth's host address so
    that the media it announces is reachable from the namespace."""

    def __init__(self, netns: Namespace, state_dir: Path) -> None:
        binary = relay_binary()
        if not binary.exists():
            pytest.fail(f"{binary} is missing: run cargo build -p rtc-relay --bins")
        self.token = secrets.token_hex(16)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RTC_", "DAYDREAM_"))}
        env |= {
            "RTC_RELAY_TOKEN": self.token,
            "RTC_RELAY_STATE_DIR": str(state_dir),
            "RTC_BACKEND": "local",
        }
        self.proc = subprocess.Popen(
            [str(binary), "--addr", f"{netns.host_ip}:0", "--allow-remote"],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stderr is not None
        self.log: list[str] = []
        for line in self.proc.stderr:
            self.log.append(line)
            match = re.search(r"listening on (http://[\d.:]+)", line)
            if match:
                self.url = match.group(1)
                break
        else:
            raise RuntimeError(f"relay exited before listening: {''.join(self.log)}")
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)

    def request(
        self, method: str, path: str, body: str | None = None
    ) -> tuple[int, dict[str, str], str]:
        """A call with the relay token; a body is an SDP offer."""
        headers = {"authorization": f"Bearer {self.token}"}
        if body is None:
            return http(method, self.url + path, None, headers)
        headers["content-type"] = "application/sdp"
        return http(method, self.url + path, body.encode(), headers)

    def json(self, method: str, path: str, body: object | None = None) -> dict[str, object]:
        headers = {"authorization": f"Bearer {self.token}", "content-type": "application/json"}
        data = json.dumps(body).encode() if body is not None else None
        status, _, text = http(method, self.url + path, data, headers)
        assert 200 <= status < 300, f"{method} {path}: {status} {text}"
        return json.loads(text)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def relay(netns: Namespace, tmp_path: Path) -> Iterator[Relay]:
    server = Relay(netns, tmp_path)
    yield server
    server.stop()
