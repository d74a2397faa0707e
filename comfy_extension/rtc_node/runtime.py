"""The process-wide relay supervisor and client the nodes and the proxy share."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from . import credentials, reach
from .assets import PACK_DIR, ROOT_DIR, WWW_DIR, relay_wheel, required_relay_version, wasm_dir
from .headless import HeadlessAgent, HeadlessOptions
from .relay_client import RelayClient, RelayError
from .supervisor import RelaySupervisor, SupervisorOptions, find_binary

_lock = threading.Lock()
_supervisor: RelaySupervisor | None = None
_client: RelayClient | None = None
_headless: HeadlessAgent | None = None


def state_dir() -> Path:
    explicit = os.environ.get("RTC_RELAY_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "rtc-node"


def _static_dirs() -> dict[str, str]:
    """Lets the relay serve the standalone pages (the studio at its root) and the wasm
    package, wherever the install put them; the relay serves no pages unless told where."""
    env = {}
    if WWW_DIR.is_dir():
        env["RTC_RELAY_WWW_DIR"] = str(WWW_DIR)
        package = wasm_dir()
        if package is not None:
            env["RTC_RELAY_PKG_DIR"] = str(package)
    return env


def supervisor() -> RelaySupervisor:
    global _supervisor
    with _lock:
        if _supervisor is None:
            port = int(os.environ.get("RTC_RELAY_PORT", "8895"))
            version = required_relay_version()
            extra_env = {
                **_static_dirs(),
                **reach.media_environment(reach.comfy_listen(), os.environ),
            }
            options = SupervisorOptions(
                state_dir=state_dir(), port=port, extra_env=extra_env, relay_version=version
            )
            _supervisor = RelaySupervisor(
                options,
                credentials=lambda: credentials.from_process(PACK_DIR),
                binary_finder=lambda: find_binary(os.environ, ROOT_DIR, relay_wheel(), version),
            )
        return _supervisor


def use_supervisor(instance: RelaySupervisor | None) -> None:
    """Replaces the shared supervisor (embedding and tests); drops the cached client."""
    global _supervisor, _client
    with _lock:
        _supervisor, _client = instance, None


def client() -> RelayClient:
    """A client for the running relay; starts the relay on first use."""
    global _client
    endpoint = supervisor().endpoint()
    with _lock:
        if _client is None or _client.endpoint != endpoint:
            _client = RelayClient(endpoint)
        return _client


def _listed_streams() -> list[dict[str, Any]] | None:
    """The relay's streams, or ``None`` while it is not running (never starts it)."""
    if not supervisor().status().get("running"):
        return None
    try:
        return list(client().list_streams().get("streams", []))
    except RelayError:
        return None


def agent_page_url() -> str | None:
    """The agent page on ComfyUI's own address, reached over loopback when ComfyUI listens
    on every interface, so the headless browser goes through the pack's proxy like a tab."""
    from server import PromptServer

    server = PromptServer.instance
    port = getattr(server, "port", None)
    if not port:
        return None
    address = str(getattr(server, "address", "") or "127.0.0.1").split(",")[0].strip()
    if address in ("", "0.0.0.0", "localhost"):
        address = "127.0.0.1"
    elif address == "::":
        address = "::1"
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:{port}/rtc/ui/agent.html?fallback=1"


def headless() -> HeadlessAgent:
    """The process-wide headless agent manager."""
    global _headless
    with _lock:
        if _headless is None:
            _headless = HeadlessAgent(
                HeadlessOptions(state_dir=state_dir()), _listed_streams, agent_page_url
            )
        return _headless


def use_headless(instance: HeadlessAgent | None) -> None:
    """Replaces the shared headless agent manager (tests)."""
    global _headless
    with _lock:
        _headless = instance
