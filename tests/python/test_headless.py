"""The headless agent: browser discovery, its command line and setting, the manager's states
with a stand-in browser, and the whole path with the real Chromium: the README's in-and-out
workflow queued through `/prompt` of the stand-in ComfyUI with no page open returns processed
frames, and a tab that connects afterwards takes the stream while the headless browser exits.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from agent import Agent
from conftest import ROOT, relay_binary
from test_install import StandIn
from workflow import EXAMPLES, to_api_prompt

from comfy_extension.rtc_node.browser import BROWSER_ENV, browser_command, find_browser
from comfy_extension.rtc_node.headless import (
    MODE_ENV,
    HeadlessAgent,
    HeadlessOptions,
    describe,
    mode_from,
)

CHROMIUM = Path("/usr/bin/chromium")


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"{what} not met in time"
        time.sleep(0.05)  # processes and the relay have no change notification: poll
    return value


# Discovery, command line, setting ----------------------------------------------------------


def test_rtc_browser_wins_and_a_wrong_one_is_named(tmp_path: Path) -> None:
    browser = tmp_path / "my-chrome"
    browser.write_text("")
    found, looked = find_browser({BROWSER_ENV: str(browser)}, which=lambda _: "/usr/bin/chromium")
    assert found == browser
    found, looked = find_browser({BROWSER_ENV: str(tmp_path / "nothing")})
    assert found is None and looked == [f"{BROWSER_ENV}={tmp_path / 'nothing'}"]


def test_browsers_on_path_in_order_then_the_windows_install_folders(tmp_path: Path) -> None:
    on_path = {"google-chrome": "/opt/google/chrome/google-chrome", "msedge": "/usr/bin/msedge"}
    found, _ = find_browser({}, system="Linux", which=on_path.get)
    assert found == Path("/opt/google/chrome/google-chrome")
    found, looked = find_browser({}, system="Linux", which=lambda _: None)
    assert found is None and "chromium on PATH" in looked
    edge = tmp_path / "x86" / "Microsoft" / "Edge" / "Application" / "msedge.exe"
    edge.parent.mkdir(parents=True)
    edge.write_text("")
    environ = {"PROGRAMFILES": str(tmp_path / "pf"), "PROGRAMFILES(X86)": str(tmp_path / "x86")}
    found, looked = find_browser(environ, system="Windows", which=lambda _: None)
    assert found is not None and found.name == "msedge.exe"
    assert str(tmp_path / "pf" / "Google" / "Chrome" / "Application" / "chrome.exe") in looked


def test_the_command_line_is_headless_private_and_sandboxed_unless_root(tmp_path: Path) -> None:
    page = "http://127.0.0.1:8188/rtc/ui/agent.html?fallback=1"
    command = browser_command(CHROMIUM, page, tmp_path, as_root=False)
    assert command[0] == str(CHROMIUM) and command[-1] == page
    for flag in (
        "--headless=new",
        f"--user-data-dir={tmp_path}",
        "--no-first-run",
        "--disable-background-networking",
        "--autoplay-policy=no-user-gesture-required",
        "--use-fake-device-for-media-stream",
    ):
        assert flag in command
    assert "--no-sandbox" not in command
    assert "--no-sandbox" in browser_command(CHROMIUM, page, tmp_path, as_root=True)


def test_the_environment_wins_over_the_setting_which_wins_over_the_default() -> None:
    assert mode_from({}, None) == ("auto", "default")
    assert mode_from({}, False) == ("off", "setting")
    assert mode_from({MODE_ENV: "auto"}, False) == ("auto", "env")
    assert mode_from({MODE_ENV: "OFF"}, True) == ("off", "env")
    assert mode_from({MODE_ENV: "sometimes"}, False) == ("off", "setting")


# The manager, with a stand-in browser -------------------------------------------------------


def fake_browser(tmp_path: Path, body: str) -> Path:
    """An executable that records its arguments, then runs ``body`` (sh)."""
    script = tmp_path / "fake-browser"
    script.write_text(f'#!/bin/sh\necho "$@" > "{tmp_path}/args"\n{body}\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


class Relay:
    """What the manager reads: the relay's stream list, set by the test."""

    def __init__(self) -> None:
        self.streams: list[dict[str, Any]] | None = []

    def __call__(self) -> list[dict[str, Any]] | None:
        return self.streams


@pytest.fixture
def manager_for(tmp_path: Path) -> Iterator[Callable[..., HeadlessAgent]]:
    made: list[HeadlessAgent] = []

    def make(browser: Path | None, relay: Relay, **options: Any) -> HeadlessAgent:
        environ = {MODE_ENV: options.pop("mode")} if "mode" in options else {}
        manager = HeadlessAgent(
            HeadlessOptions(state_dir=tmp_path / "state", poll_interval=0.05, **options),
            relay,
            lambda: "http://127.0.0.1:1/rtc/ui/agent.html?fallback=1",
            environ=environ,
            finder=lambda: (browser, ["chromium on PATH"]),
        )
        made.append(manager)
        return manager

    yield make
    for manager in made:
        manager.close()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; only its parent has not collected it yet.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(sys.platform == "win32", reason="the stand-in browser is a shell script")
def test_it_starts_on_demand_runs_while_needed_and_stops_when_tabs_publish(
    tmp_path: Path, manager_for: Callable[..., HeadlessAgent]
) -> None:
    # The stand-in browser quits when its command pipe closes, as Chromium does.
    browser = fake_browser(tmp_path, "cat <&3 >/dev/null")
    relay = Relay()
    manager = manager_for(browser, relay, idle_grace=0.2)
    assert manager.status()["state"] == "idle"
    relay.streams = [{"id": "s", "state": "waiting_for_publisher", "lease": None}]
    status = manager.demand()
    assert status["state"] == "starting" and status["browser"] == str(browser)
    pid = status["pid"]
    args = wait_for(lambda: (tmp_path / "args").is_file() and (tmp_path / "args").read_text())
    assert "--headless=new" in args and args.strip().endswith("fallback=1")
    profile = Path(next(a for a in args.split() if a.startswith("--user-data-dir=")).split("=")[1])
    assert profile.is_dir()
    # Never a second browser, however often it is asked.
    assert manager.demand()["pid"] == pid
    relay.streams = [{"id": "s", "state": "live", "lease": "agt_h", "lease_fallback": True}]
    wait_for(lambda: manager.status()["state"] == "running", what="running")
    # A tab takes the stream: after the grace the browser is stopped and its profile removed.
    relay.streams = [{"id": "s", "state": "live", "lease": "agt_tab", "lease_fallback": False}]
    wait_for(lambda: manager.status()["state"] == "idle", what="idle")
    assert manager.status()["pid"] is None
    wait_for(lambda: not alive(pid), what="browser exit")
    assert not profile.exists()


@pytest.mark.skipif(sys.platform == "win32", reason="the stand-in browser is a shell script")
def test_a_browser_that_exits_is_reported_and_retried_only_after_a_pause(
    tmp_path: Path, manager_for: Callable[..., HeadlessAgent]
) -> None:
    browser = fake_browser(tmp_path, 'echo "cannot open display" >&2; exit 3')
    relay = Relay()
    relay.streams = [{"id": "s", "state": "waiting_for_publisher", "lease": None}]
    manager = manager_for(browser, relay, retry_after=3600.0)
    manager.demand()
    failed = wait_for(lambda: (s := manager.status())["state"] == "failed" and s, what="failed")
    assert "exited with status 3" in failed["reason"]
    assert "cannot open display" in failed["reason"]
    assert failed["log_tail"] == ["cannot open display"]
    (tmp_path / "args").unlink()
    assert manager.demand()["state"] == "failed"
    assert not (tmp_path / "args").exists(), "retried before the pause"
    assert describe(manager.status()).startswith(" The headless agent could not stand in: ")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipes")
def test_the_browser_does_not_outlive_comfyui_even_when_it_is_killed(tmp_path: Path) -> None:
    browser = fake_browser(tmp_path, "cat <&3 >/dev/null")
    comfyui = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            f"sys.path.insert(0, {str(ROOT)!r})\n"
            "from pathlib import Path\n"
            "from comfy_extension.rtc_node.headless import HeadlessAgent, HeadlessOptions\n"
            "manager = HeadlessAgent(\n"
            f"    HeadlessOptions(state_dir=Path({str(tmp_path)!r})),\n"
            "    lambda: [{'id': 's', 'state': 'live', 'lease': None}],\n"
            "    lambda: 'http://127.0.0.1:1/rtc/ui/agent.html?fallback=1',\n"
            "    environ={},\n"
            f"    finder=lambda: (Path({str(browser)!r}), []),\n"
            ")\n"
            "print(manager.demand()['pid'], flush=True)\n"
            "time.sleep(600)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert comfyui.stdout is not None
    pid = int(comfyui.stdout.readline())
    wait_for(lambda: (tmp_path / "args").is_file(), what="browser started")
    assert alive(pid)
    comfyui.kill()  # no atexit, no cleanup: only the OS closing the pipe
    comfyui.wait(timeout=10)
    wait_for(lambda: not alive(pid), 10, "browser exit")


def test_no_browser_and_a_browser_that_takes_nothing_fail_with_what_to_do(
    tmp_path: Path, manager_for: Callable[..., HeadlessAgent]
) -> None:
    relay = Relay()
    relay.streams = [{"id": "s", "state": "waiting_for_publisher", "lease": None}]
    missing = manager_for(None, relay).demand()
    assert missing["state"] == "failed"
    assert BROWSER_ENV in missing["reason"] and MODE_ENV in missing["reason"]
    browser = fake_browser(tmp_path, "cat <&3 >/dev/null")
    silent = manager_for(browser, relay, start_timeout=0.0)
    pid = silent.demand()["pid"]
    failed = wait_for(lambda: (s := silent.status())["state"] == "failed" and s, what="failed")
    assert "took no stream within 0 s" in failed["reason"]
    wait_for(lambda: not alive(pid), what="browser exit")


def test_the_setting_is_kept_and_off_stops_a_running_browser(
    tmp_path: Path, manager_for: Callable[..., HeadlessAgent]
) -> None:
    browser = fake_browser(tmp_path, "cat <&3 >/dev/null")
    relay = Relay()
    relay.streams = [{"id": "s", "state": "waiting_for_publisher", "lease": None}]
    manager = manager_for(browser, relay)
    pid = manager.demand()["pid"]
    off = manager.set_enabled(False)
    assert off["mode"] == "off" and off["mode_source"] == "setting"
    wait_for(lambda: manager.status()["state"] == "off", what="off")
    wait_for(lambda: not alive(pid), what="browser exit")
    assert "turn on" in describe(manager.status())
    # Kept in the state folder for the next ComfyUI; the environment still wins.
    assert json.loads((tmp_path / "state" / "headless.json").read_text()) == {"enabled": False}
    assert manager_for(browser, relay).demand()["state"] == "off"
    forced = manager_for(browser, relay, mode="auto").demand()
    assert forced["state"] == "starting" and forced["mode_source"] == "env"


# The real browser behind the stand-in ComfyUI ------------------------------------------------


def queue(stand_in: StandIn, prompt: dict[str, Any], timeout: float = 90.0) -> dict[str, Any]:
    """Queues through `/prompt` as an API script does (no client id); the prompt's history."""
    body = json.dumps({"prompt": prompt}).encode()
    queued = stand_in.post("/prompt", body, {"Content-Type": "application/json"})

    def finished() -> dict[str, Any] | None:
        status, answer, _ = stand_in.get(f"/history/{queued['prompt_id']}")
        assert status == 200
        return json.loads(answer).get(queued["prompt_id"])

    return wait_for(finished, timeout, "prompt finished")


def headless_status(stand_in: StandIn) -> dict[str, Any]:
    status, body, _ = stand_in.get("/rtc/relay")
    assert status == 200
    return json.loads(body)["headless"]


@pytest.mark.skipif(not CHROMIUM.is_file(), reason="needs Debian's /usr/bin/chromium")
def test_a_workflow_queued_with_no_tab_open_gets_frames_from_the_headless_browser(
    tmp_path: Path,
) -> None:
    assert (ROOT / "www" / "pkg" / "rtc_client_bg.wasm").is_file(), "run scripts/build-wasm.sh"
    stand_in = StandIn(
        Path(sys.executable),
        ROOT,
        tmp_path,
        # Chromium is found on PATH (/usr/bin), as on a user's machine.
        {"RTC_RELAY_BIN": str(relay_binary()), MODE_ENV: "auto"},
    )
    try:
        assert headless_status(stand_in)["state"] == "idle"
        workflow = json.loads((EXAMPLES / "rtc_stream_in_out_workflow.json").read_text())
        prompt = to_api_prompt(workflow)
        started = time.monotonic()
        history = queue(stand_in, prompt)
        took = time.monotonic() - started
        assert history["status"]["status_str"] == "success", history
        # Frame Output: (image, whep_url, fresh). The example sends one orange (#FF8000) frame,
        # which the local backend's effect recolours: a lit picture came back, not a black one.
        image, _, fresh = history["outputs"]["5"]
        assert fresh is True, history["outputs"]
        assert image["shape"] == [1, 512, 512, 3]
        assert 0.1 < image["mean"] < 0.9, image
        # The watcher sees the lease the headless agent holds within its next look.
        running = wait_for(
            lambda: (h := headless_status(stand_in))["state"] == "running" and h, 10, "running"
        )
        assert running["browser"] == str(CHROMIUM), running
        pid = running["pid"]
        assert alive(pid)
        status, body, _ = stand_in.get("/rtc/api/v1/streams")
        (stream,) = json.loads(body)["streams"]
        assert stream["lease_fallback"] is True
        sys.stdout.write(f"\nheadless: queue to first processed frame {took:.1f} s\n")

        # A tab opens: it takes the stream at once, and the headless browser goes.
        tab = Agent(f"{stand_in.url}/rtc/api", token="unused-behind-the-proxy")
        try:
            tab.wait_lease(stream["id"])
            status, body, _ = stand_in.get(f"/rtc/api/v1/streams/{stream['id']}")
            assert status == 200 and json.loads(body)["lease_fallback"] is False
            wait_for(lambda: headless_status(stand_in)["state"] == "idle", 60, "headless idle")
            wait_for(lambda: not alive(pid), 10, "chromium exit")
        finally:
            tab.close()
    finally:
        stand_in.stop()
