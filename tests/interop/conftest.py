"""Fixtures for interop tests: a private network namespace joined to this one by a veth
pair, and the local media server (the `local_media` example) with streams to test on."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def media_server_binary() -> Path:
    explicit = os.environ.get("LOCAL_MEDIA_BIN")
    if explicit:
        return Path(explicit)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return target / "debug" / "examples" / "local_media"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass
class Namespace:
    name: str
    host_ip: str
    peer_ip: str

    def command(self, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *args]


def free_subnet() -> tuple[str, str]:
    """A /30 in 10.200.0.0/13 that no interface on this machine uses yet."""
    used = subprocess.run(
        ["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=True
    ).stdout
    for _ in range(100):
        base = (
            f"10.{random.randint(200, 207)}.{random.randint(0, 255)}.{random.randrange(0, 256, 4)}"
        )
        prefix = base.rsplit(".", 1)[0]
        last = int(base.rsplit(".", 1)[1])
        host, peer = f"{prefix}.{last + 1}", f"{prefix}.{last + 2}"
        if host not in used and peer not in used:
            return host, peer
    raise RuntimeError("no free 10.200.0.0/13 subnet for the test veth pair")


@pytest.fixture(scope="module")
def netns() -> Iterator[Namespace]:
    """A namespace with one veth link to this namespace; removed afterwards."""
    if os.geteuid() != 0:
        pytest.fail("interop tests create a network namespace and must run as root")
    tag = f"{os.getpid() % 100000}{random.randint(0, 999):03d}"
    name, host_if, peer_if = f"rtcm{tag}", f"rtcm{tag}h", f"rtcm{tag}p"
    host_ip, peer_ip = free_subnet()
    ip("netns", "add", name)
    try:
        ip("link", "add", host_if, "type", "veth", "peer", "name", peer_if)
        ip("link", "set", peer_if, "netns", name)
        ip("addr", "add", f"{host_ip}/30", "dev", host_if)
        ip("link", "set", host_if, "up")
        ip("netns", "exec", name, "ip", "addr", "add", f"{peer_ip}/30", "dev", peer_if)
        ip("netns", "exec", name, "ip", "link", "set", peer_if, "up")
        ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
        yield Namespace(name, host_ip, peer_ip)
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


class MediaServer:
    """The media server process; started after the namespace so it announces the veth."""

    def __init__(self) -> None:
        binary = media_server_binary()
        if not binary.exists():
            pytest.fail(f"{binary} is missing: run cargo build -p rtc-relay --example local_media")
        self.proc = subprocess.Popen([str(binary)], stdout=subprocess.PIPE, text=True)
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
        data = body.encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if body is not None:
            request.add_header("content-type", "application/sdp")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read().decode()

    def open_stream(self, key: str) -> None:
        status, _, _ = self.request("PUT", f"/streams/{key}")
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
