"""Shared fixtures: a real rtc-relay process on a free loopback port."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
# Stand-ins for ComfyUI's `comfy_api` and `server` modules, which the pack imports.
sys.path.insert(0, str(Path(__file__).resolve().parent / "comfy_stub"))
# A stream without a tab means "no publisher" in these tests, not a browser started by the
# pack: the tests of the headless agent turn it on themselves.
os.environ["RTC_HEADLESS_AGENT"] = "off"


def relay_binary() -> Path:
    explicit = os.environ.get("RTC_RELAY_BIN")
    if explicit:
        return Path(explicit)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return target / "debug" / "rtc-relay"


class RelayProcess:
    """A relay child process; ``url`` is known once it has logged its listening line."""

    def __init__(self, env: dict[str, str], args: list[str]) -> None:
        self.proc = subprocess.Popen(
            [str(relay_binary()), "--addr", "127.0.0.1:0", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.log: list[str] = []
        self._ready = threading.Event()
        self.url: str | None = None
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)
            match = re.search(r"listening on (http://[\d.:]+)", line)
            if match and self.url is None:
                self.url = match.group(1)
                self._ready.set()
        self._ready.set()

    def wait_ready(self, timeout: float = 20.0) -> str:
        if not self._ready.wait(timeout) or self.url is None:
            raise RuntimeError("relay did not start:\n" + "".join(self.log))
        return self.url

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="session")
def relay_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The relay wheel, built once per run (scripts/build-wheel.sh, dev profile)."""
    from pack_install import build_wheel

    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture
def relay_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAYDREAM_", "RTC_"))}
    env["RTC_RELAY_STATE_DIR"] = str(tmp_path / "state")
    return env


@pytest.fixture
def relay(relay_env: dict[str, str]) -> Iterator[RelayProcess]:
    process = RelayProcess(relay_env, [])
    process.wait_ready()
    yield process
    process.stop()


@pytest.fixture
def pack_relay(tmp_path: Path) -> Iterator[object]:
    """The pack's own supervisor running the real relay binary on a free port.

    Node code reaches it through ``rtc_node.runtime`` exactly as inside ComfyUI.
    """
    from comfy_extension.rtc_node import runtime
    from comfy_extension.rtc_node.credentials import Credentials
    from comfy_extension.rtc_node.supervisor import RelaySupervisor, SupervisorOptions

    supervisor = RelaySupervisor(
        SupervisorOptions(state_dir=tmp_path / "state", binary=relay_binary(), port=0),
        credentials=Credentials,
        binary_finder=lambda: (relay_binary(), []),
    )
    runtime.use_supervisor(supervisor)
    supervisor.endpoint()
    yield supervisor
    supervisor.stop()
    runtime.use_supervisor(None)


@pytest.fixture
def toasts() -> Iterator[list]:
    """Messages the nodes send during the test, as ``(event, data, client id)``."""
    from server import PromptServer

    PromptServer.instance.messages.clear()
    PromptServer.instance.client_id = None
    yield PromptServer.instance.messages
    PromptServer.instance.messages.clear()
    PromptServer.instance.client_id = None
