"""The supervisor with the real relay binary: start, secrets, early failures, restart, stop."""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import stat
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, relay_binary

from comfy_extension.rtc_node import supervisor as supervisor_module
from comfy_extension.rtc_node.assets import RelayWheel
from comfy_extension.rtc_node.credentials import Credentials
from comfy_extension.rtc_node.supervisor import (
    RelayStartError,
    RelaySupervisor,
    SupervisorOptions,
    find_binary,
    health,
    healthy,
)

WORKSPACE_VERSION = re.search(
    r'^version = "(.+)"$', (ROOT / "Cargo.toml").read_text(encoding="utf-8"), re.MULTILINE
).group(1)

SECRET = "dd-test-key-0123456789"


def make(tmp_path: Path, binary: Path | None, port: int = 0, **options) -> RelaySupervisor:
    return RelaySupervisor(
        SupervisorOptions(state_dir=tmp_path / "state", binary=binary, port=port, **options),
        credentials=lambda: Credentials(api_key=SECRET, source="env"),
        binary_finder=lambda: (None, ["/nowhere/rtc-relay"]),
    )


def script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "fake-relay"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def wait_until(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_starts_the_relay_with_token_and_key_in_the_environment_only(tmp_path: Path) -> None:
    supervisor = make(tmp_path, relay_binary())
    try:
        endpoint = supervisor.endpoint()
        assert healthy(endpoint.url)
        pid = supervisor.status()["pid"]
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert SECRET.encode() not in cmdline and endpoint.token.encode() not in cmdline
        assert b"DAYDREAM_API_KEY=" + SECRET.encode() in environ
        assert f"RTC_RELAY_TOKEN={endpoint.token}".encode() in environ
        assert SECRET not in "\n".join(supervisor.log_tail)
        state = tmp_path / "state" / "pack-relay.json"
        assert stat.S_IMODE(state.stat().st_mode) == 0o600
        assert endpoint.token not in repr(endpoint)
    finally:
        supervisor.stop()
    assert supervisor.status()["running"] is False
    assert not Path(f"/proc/{pid}").exists() or b"Z" in Path(f"/proc/{pid}/stat").read_bytes()


def test_a_missing_binary_is_reported_at_once(tmp_path: Path) -> None:
    supervisor = make(tmp_path, None)
    with pytest.raises(RelayStartError) as caught:
        supervisor.endpoint(timeout=600)  # raised by the failed start, not by this timeout
    assert "rtc-relay binary not found" in str(caught.value)
    assert "/nowhere/rtc-relay" in str(caught.value)
    assert "RTC_RELAY_BIN" in str(caught.value)


def test_an_early_exit_is_reported_at_once_with_the_relay_output(tmp_path: Path) -> None:
    fake = script(tmp_path, "echo 'error: cannot open state dir' >&2\nexit 3\n")
    supervisor = make(tmp_path, fake, start_timeout=600.0)
    with pytest.raises(RelayStartError) as caught:
        supervisor.endpoint()
    # The exit is noticed, not the 600 s start timeout waited out.
    assert "exited at start-up with status 3" in str(caught.value)
    assert "cannot open state dir" in str(caught.value)


def test_a_silent_child_is_given_up_after_the_start_timeout(tmp_path: Path) -> None:
    fake = script(tmp_path, "exec sleep 30\n")
    supervisor = make(tmp_path, fake, start_timeout=0.5)
    with pytest.raises(RelayStartError, match="did not report its address within"):
        supervisor.endpoint()


def test_the_key_is_redacted_if_the_relay_ever_logs_it(tmp_path: Path) -> None:
    fake = script(tmp_path, 'echo "using key $DAYDREAM_API_KEY" >&2\nexit 1\n')
    supervisor = make(tmp_path, fake)
    with pytest.raises(RelayStartError) as caught:
        supervisor.endpoint()
    assert SECRET not in str(caught.value)
    assert "using key [redacted]" in str(caught.value)


def test_a_crashed_relay_is_restarted(tmp_path: Path) -> None:
    supervisor = make(tmp_path, relay_binary(), health_interval=0.2)
    try:
        first = supervisor.endpoint()
        pid = supervisor.status()["pid"]
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: supervisor.status()["restarts"] >= 1 and supervisor.status()["running"])
        second = supervisor.endpoint()
        assert supervisor.status()["pid"] != pid
        assert healthy(second.url)
        assert second.token != first.token
    finally:
        supervisor.stop()


def test_the_status_says_what_the_relay_is_doing_and_why_it_restarted(tmp_path: Path) -> None:
    supervisor = make(tmp_path, relay_binary(), health_interval=0.2)
    try:
        assert supervisor.status()["state"] == "stopped"
        supervisor.endpoint()
        assert supervisor.status()["state"] == "running"
        assert supervisor.status()["reason"] is None
        os.kill(supervisor.status()["pid"], signal.SIGKILL)
        seen: list[dict[str, object]] = []

        def restarted() -> bool:
            seen.append(supervisor.status())
            return seen[-1]["state"] == "running" and seen[-1]["restarts"] == 1

        wait_until(restarted)
        restarting = [status for status in seen if status["state"] == "restarting"]
        # The backoff before the new start is long enough to be seen.
        assert restarting, [status["state"] for status in seen]
        assert restarting[0]["reason"] == "rtc-relay exited with status -9"
        assert any("listening on" in line for line in restarting[0]["log_tail"])
        assert seen[-1]["reason"] is None
    finally:
        supervisor.stop()


def test_restart_replaces_the_running_relay(tmp_path: Path) -> None:
    supervisor = make(tmp_path, relay_binary())
    try:
        first = supervisor.endpoint()
        pid = supervisor.status()["pid"]
        supervisor.restart()
        second = supervisor.endpoint()
        assert supervisor.status()["state"] == "running"
        assert supervisor.status()["pid"] != pid
        assert second.token != first.token and healthy(second.url)
        # The first child was stopped and reaped, not left running beside the second.
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    finally:
        supervisor.stop()
    assert supervisor.status()["state"] == "stopped"


def test_a_busy_default_port_does_not_stop_the_relay(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        supervisor = make(tmp_path, relay_binary(), port=port)
        try:
            endpoint = supervisor.endpoint()
            assert not endpoint.url.endswith(f":{port}")
            assert healthy(endpoint.url)
        finally:
            supervisor.stop()


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_binary_lookup_order(tmp_path: Path) -> None:
    root = tmp_path / "pack"
    release = executable(root / "target" / "release" / "rtc-relay")
    debug = executable(root / "target" / "debug" / "rtc-relay")
    wheel = RelayWheel("0.1.0", executable(tmp_path / "venv" / "bin" / "rtc-relay"), None)
    explicit = executable(tmp_path / "built" / "rtc-relay")
    env = {"RTC_RELAY_BIN": str(explicit)}
    # The installed wheel wins over everything a developer may have around.
    assert find_binary(env, root, wheel, "0.1.0") == (wheel.binary, ["the rtc-node-relay wheel"])
    assert find_binary(env, root, None, "0.1.0")[0] == explicit
    assert find_binary({}, root, None, "0.1.0")[0] == release
    release.unlink()
    assert find_binary({}, root, None, "0.1.0")[0] == debug
    missing = find_binary({"RTC_RELAY_BIN": str(tmp_path / "missing")}, root, None, "0.1.0")
    assert missing == (
        None,
        ["the rtc-node-relay wheel (not installed)", f"RTC_RELAY_BIN={tmp_path / 'missing'}"],
    )


def test_windows_builds_are_found_by_their_exe_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(supervisor_module, "RELAY_EXECUTABLE", "rtc-relay.exe")
    executable(tmp_path / "target" / "release" / "rtc-relay")
    exe = executable(tmp_path / "target" / "debug" / "rtc-relay.exe")
    assert find_binary({}, tmp_path, None, None)[0] == exe


def test_a_wheel_of_another_version_names_the_one_to_install(tmp_path: Path) -> None:
    wheel = RelayWheel("0.0.9", executable(tmp_path / "bin" / "rtc-relay"), None)
    with pytest.raises(RelayStartError) as caught:
        find_binary({}, tmp_path, wheel, "0.1.0")
    assert "rtc-node-relay 0.0.9 is installed but this pack needs 0.1.0" in str(caught.value)
    assert "`pip install rtc-node-relay==0.1.0`" in str(caught.value)


def test_a_wheel_without_its_executable_asks_for_a_reinstall(tmp_path: Path) -> None:
    with pytest.raises(RelayStartError) as caught:
        find_binary({}, tmp_path, RelayWheel("0.1.0", None, None), "0.1.0")
    assert "installed without its rtc-relay executable" in str(caught.value)
    assert "`pip install rtc-node-relay==0.1.0`" in str(caught.value)
    assert "--force-reinstall" in str(caught.value)


def test_a_missing_relay_names_the_wheel_to_install(tmp_path: Path) -> None:
    supervisor = make(tmp_path, None, relay_version="0.1.0")
    with pytest.raises(RelayStartError) as caught:
        supervisor.endpoint(timeout=600)
    assert "`pip install rtc-node-relay==0.1.0`" in str(caught.value)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("echo 'rtc-relay 0.0.9'\n", "is rtc-relay 0.0.9 but this pack needs 0.1.0"),
        ("echo 'segfault' >&2\nexit 139\n", "is not a working rtc-relay (segfault)"),
        ("echo 'something else 1.0'\n", "is not a working rtc-relay"),
    ],
)
def test_a_relay_of_another_version_or_a_broken_one_is_not_started(
    tmp_path: Path, body: str, expected: str
) -> None:
    fake = script(tmp_path, body)
    supervisor = make(tmp_path, fake, relay_version="0.1.0")
    with pytest.raises(RelayStartError) as caught:
        supervisor.endpoint(timeout=600)
    assert expected in str(caught.value)
    assert "`pip install rtc-node-relay==0.1.0`" in str(caught.value)
    assert supervisor.status()["pid"] is None


def test_a_corrupt_binary_is_reported_not_raised(tmp_path: Path) -> None:
    corrupt = tmp_path / "rtc-relay"
    corrupt.write_bytes(b"\x7fELF\x02\x01\x01" + b"\x00" * 64)
    corrupt.chmod(0o755)
    supervisor = make(tmp_path, corrupt, relay_version="0.1.0")
    with pytest.raises(RelayStartError) as caught:
        supervisor.endpoint(timeout=600)
    assert f"{corrupt} is not a working rtc-relay (" in str(caught.value)
    assert "`pip install rtc-node-relay==0.1.0`" in str(caught.value)


def test_the_real_relay_reports_the_workspace_version(tmp_path: Path) -> None:
    supervisor = make(tmp_path, relay_binary(), relay_version=WORKSPACE_VERSION)
    try:
        endpoint = supervisor.endpoint()
        assert health(endpoint.url)["version"] == WORKSPACE_VERSION
    finally:
        supervisor.stop()


def test_a_running_relay_of_another_version_is_not_adopted(tmp_path: Path) -> None:
    owner = make(tmp_path, relay_binary())
    try:
        owner.endpoint()
        newer = make(tmp_path, relay_binary(), relay_version="9.9.9")
        with pytest.raises(RelayStartError) as caught:
            newer.endpoint(timeout=600)
        # Not adopted: it went on to check its own binary, which is not 9.9.9 either.
        assert f"is rtc-relay {WORKSPACE_VERSION} but this pack needs 9.9.9" in str(caught.value)
        assert newer.status()["adopted"] is False
    finally:
        owner.stop()


def test_a_healthy_relay_with_our_token_is_adopted_not_duplicated(tmp_path: Path) -> None:
    owner = make(tmp_path, relay_binary())
    try:
        endpoint = owner.endpoint()
        second = make(tmp_path, relay_binary())
        try:
            assert second.endpoint() == endpoint
            assert second.status()["adopted"] is True and second.status()["pid"] is None
        finally:
            second.stop()  # forgets an adopted relay, never stops it
        assert healthy(endpoint.url)
        # A token the relay does not accept is not adopted: the pack starts its own.
        state = tmp_path / "state" / "pack-relay.json"
        state.write_text(state.read_text().replace(endpoint.token, "wrong-token"))
        third = make(tmp_path, relay_binary())
        try:
            own = third.endpoint()
            assert own.url != endpoint.url and third.status()["adopted"] is False
        finally:
            third.stop()
    finally:
        owner.stop()


def test_the_relay_stops_when_the_comfyui_process_dies_without_cleanup(tmp_path: Path) -> None:
    """SIGTERM skips atexit and SIGKILL skips everything; the relay must not be left behind."""
    import subprocess
    import sys

    parent_code = f"""
import sys
from pathlib import Path
sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
from comfy_extension.rtc_node.credentials import Credentials
from comfy_extension.rtc_node.supervisor import RelaySupervisor, SupervisorOptions
supervisor = RelaySupervisor(
    SupervisorOptions(
        state_dir=Path({str(tmp_path / "state")!r}),
        binary=Path({str(relay_binary())!r}),
        port=0,
    ),
    credentials=lambda: Credentials(api_key=None, source="none"),
    binary_finder=lambda: (None, []),
)
endpoint = supervisor.endpoint()
print(supervisor.status()["pid"], endpoint.url, flush=True)
sys.stdin.read()
"""
    for how in (signal.SIGTERM, signal.SIGKILL):
        parent = subprocess.Popen(
            [sys.executable, "-c", parent_code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            pid_text, url = parent.stdout.readline().split()
            relay_pid = int(pid_text)
            assert healthy(url)
            parent.send_signal(how)
            parent.wait(timeout=10)

            def relay_gone(pid: int = relay_pid) -> bool:
                stat_file = Path(f"/proc/{pid}/stat")
                return not stat_file.exists() or ") Z " in stat_file.read_text()

            wait_until(relay_gone, timeout=15)
            assert not healthy(url), how
        finally:
            parent.kill()
            parent.wait()


def test_relay_warnings_and_errors_reach_the_log_at_their_level_redacted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="rtc_node.supervisor")
    fake = script(
        tmp_path,
        'echo "2026-01-01T00:00:00Z  WARN rtc_relay::streams: poll failed $DAYDREAM_API_KEY" >&2\n'
        'echo "2026-01-01T00:00:00Z ERROR rtc_relay::streams: stream gone" >&2\n'
        'echo "2026-01-01T00:00:00Z  INFO rtc_relay: all fine" >&2\n'
        "exit 1\n",
    )
    supervisor = make(tmp_path, fake)
    with pytest.raises(RelayStartError):
        supervisor.endpoint()

    def relayed(level: int) -> list[str]:
        return [
            r.getMessage()
            for r in caplog.records
            if r.levelno == level and r.getMessage().startswith("relay: ")
        ]

    wait_until(lambda: len(relayed(logging.DEBUG)) == 1)
    assert relayed(logging.WARNING) == [
        "relay: 2026-01-01T00:00:00Z  WARN rtc_relay::streams: poll failed [redacted]"
    ]
    assert relayed(logging.ERROR) == [
        "relay: 2026-01-01T00:00:00Z ERROR rtc_relay::streams: stream gone"
    ]
    assert "all fine" in relayed(logging.DEBUG)[0]
    assert SECRET not in caplog.text


FAKE_RELAY = """
import http.server, os, select, signal, sys, threading, time
events = open(os.environ["FAKE_EVENTS"], "a", buffering=1)
def on_term(*_):
    readable = select.select([0], [], [], 0)[0]
    closed = bool(readable) and os.read(0, 1) == b""
    events.write(f"term, stdin {'closed' if closed else 'open'}\\n")
    os._exit(0)
signal.signal(signal.SIGTERM, on_term)
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'{"ok": true}')
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
threading.Thread(target=server.serve_forever, daemon=True).start()
print(f"listening on http://127.0.0.1:{server.server_address[1]}", file=sys.stderr, flush=True)
sys.stdin.read()
events.write("stdin closed\\n")
time.sleep(1)  # the relay's shutdown work
events.write("exited\\n")
"""


@pytest.mark.parametrize("hard_terminate", [False, True])
def test_stop_closes_stdin_before_terminating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hard_terminate: bool
) -> None:
    monkeypatch.setattr(supervisor_module, "HARD_TERMINATE", hard_terminate)
    fake = tmp_path / "fake-relay"
    fake.write_text(f"#!{sys.executable}\n" + FAKE_RELAY)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    events = tmp_path / "events"
    supervisor = make(tmp_path, fake, extra_env={"FAKE_EVENTS": str(events)})
    supervisor.endpoint()
    supervisor.stop()
    lines = events.read_text().splitlines()
    if hard_terminate:
        # terminate() would be a hard kill: not sent, the closed stdin alone stops the relay.
        assert lines == ["stdin closed", "exited"]
    else:
        assert lines[-1] == "term, stdin closed", lines


LYING_RELAY = """
import http.server, sys, threading
if sys.argv[1:] == ["--version"]:
    print("rtc-relay 0.1.0")
    sys.exit(0)
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'{"ok": true, "version": "0.0.9", "backend": "local"}')
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
threading.Thread(target=server.serve_forever, daemon=True).start()
print(f"listening on http://127.0.0.1:{server.server_address[1]}", file=sys.stderr, flush=True)
sys.stdin.read()
"""


def test_a_relay_whose_health_reports_another_version_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "fake-relay"
    fake.write_text(f"#!{sys.executable}\n" + LYING_RELAY)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    supervisor = make(tmp_path, fake, relay_version="0.1.0")
    with pytest.raises(RelayStartError) as caught:
        supervisor.endpoint(timeout=600)
    assert "reports version 0.0.9 but this pack needs 0.1.0" in str(caught.value)
    assert "`pip install rtc-node-relay==0.1.0`" in str(caught.value)
    assert supervisor.status()["running"] is False
