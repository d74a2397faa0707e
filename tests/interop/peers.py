"""An aiortc_peer.py process inside the namespace, negotiated by the test through a server's
WHIP/WHEP routes."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from conftest import Namespace


class Signalling(Protocol):
    """Where offers go: the media server or the relay."""

    def request(
        self, method: str, path: str, body: str | None = None
    ) -> tuple[int, dict[str, str], str]: ...


PEER = Path(__file__).with_name("aiortc_peer.py")


class AiortcPeer:
    """An aiortc_peer.py process inside the namespace, negotiated through our server."""

    def __init__(self, netns: Namespace, server: Signalling, role: str, url: str) -> None:
        self.proc = subprocess.Popen(
            netns.command(sys.executable, str(PEER), role),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        offer = self.next(lambda m: "offer" in m)["offer"]
        status, headers, answer = server.request("POST", url, offer)
        assert status == 201, f"{url}: {status} {answer}"
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.location = self.headers["location"]
        self._send({"answer": answer})

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def _send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def next(self, want: Any, timeout: float = 20.0) -> dict[str, Any]:
        """The next message matching ``want``, skipping others."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, "timed out waiting for the aiortc peer"
            message = self.lines.get(timeout=remaining)
            if want(message):
                return message

    def stop(self) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
