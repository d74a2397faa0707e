"""The headless agent: a Chromium, Chrome or Edge found on the machine, started without a
window on the pack's agent page when a stream has nobody to publish it (a workflow queued
through ComfyUI's API, with no tab open), and stopped once tabs publish every stream again.

Its agent says `hello` as a *fallback* candidate, so the relay gives it a stream only while no
tab may take it and hands the stream to a tab as soon as one connects. There is never more
than one such browser. It is started on demand (Frame Input or Start RTC Stream found a stream
without a publisher); while it runs, the relay's stream list is read once a second to know
when it is no longer needed.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .browser import BROWSER_ENV, browser_command, find_browser, spawn

log = logging.getLogger("rtc_node.headless")

MODE_ENV = "RTC_HEADLESS_AGENT"
SETTING_NAME = "RTC Node → Browser agent → Headless browser when no tab is open"
SETTING_FILE = "headless.json"
MODES = ("off", "auto")
# The browser's last stderr lines kept for the status and the errors.
TAIL_LINES = 8


def mode_from(environ: Mapping[str, str], stored: bool | None) -> tuple[str, str]:
    """(`off`|`auto`, where it comes from: `env`, `setting` or `default`). On by default:
    the agent is needed exactly when nobody is at a browser to turn it on."""
    value = environ.get(MODE_ENV, "").strip().lower()
    if value in MODES:
        return value, "env"
    if value:
        log.warning("%s=%r is not one of %s; using the setting", MODE_ENV, value, "|".join(MODES))
    if stored is not None:
        return ("auto" if stored else "off"), "setting"
    return "auto", "default"


@dataclass(frozen=True)
class HeadlessOptions:
    state_dir: Path
    # How long the browser stays once no stream needs it, so a tab reloading or a workflow
    # queued again right away does not start a new one.
    idle_grace: float = 10.0
    # How long the browser gets to take a stream before it counts as failed.
    start_timeout: float = 30.0
    # Before a failed start is tried again.
    retry_after: float = 30.0
    poll_interval: float = 1.0


class HeadlessAgent:
    """Owns the one headless browser. ``streams`` lists the relay's streams (``None`` while
    the relay does not answer); ``page_url`` is the agent page on ComfyUI's own address."""

    def __init__(
        self,
        options: HeadlessOptions,
        streams: Callable[[], list[dict[str, Any]] | None],
        page_url: Callable[[], str | None],
        environ: Mapping[str, str] = os.environ,
        finder: Callable[[], tuple[Path | None, list[str]]] | None = None,
    ) -> None:
        self.options = options
        self._streams = streams
        self._page_url = page_url
        self._environ = environ
        self._find = finder or (lambda: find_browser(self._environ))
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        # One look at a time: a node's demand and the watcher must not both start a browser.
        self._tick_lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._pipe: int | None = None
        self._profile: Path | None = None
        self._browser: Path | None = None
        self._state = "idle"
        self._reason: str | None = None
        self._failed_at: float | None = None
        self._started_at = 0.0
        self._needed_at = 0.0
        self._demanded = False
        self._closed = False
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._thread: threading.Thread | None = None
        atexit.register(self.close)

    # Public API ----------------------------------------------------------------------------

    def mode(self) -> tuple[str, str]:
        return mode_from(self._environ, self._stored_setting())

    def set_enabled(self, enabled: bool) -> dict[str, Any]:
        """The user's setting, kept in the pack's state folder so it holds with no tab open;
        `RTC_HEADLESS_AGENT` in the environment wins over it."""
        path = self.options.state_dir / SETTING_FILE
        if self._stored_setting() != enabled:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"enabled": enabled}), encoding="utf-8")
            log.info("headless agent setting: %s", "on" if enabled else "off")
        self.wake()
        return self.status()

    def status(self) -> dict[str, Any]:
        """For the sidebar and the nodes: ``state`` is ``off``, ``idle``, ``starting``,
        ``running`` or ``failed`` (``reason`` says why and what to do)."""
        mode, source = self.mode()
        with self._lock:
            state = "off" if mode == "off" and self._process is None else self._state
            return {
                "state": state,
                "reason": self._reason if state == "failed" else None,
                "mode": mode,
                "mode_source": source,
                "browser": str(self._browser) if self._browser else None,
                "pid": self._process.pid if self._process else None,
                "log_tail": list(self._tail) if state == "failed" else [],
            }

    def demand(self) -> dict[str, Any]:
        """A node found a stream without a publisher: start the browser now if the setting
        allows it (it does not wait); returns the status."""
        with self._lock:
            self._demanded = True
        self.tick()
        # After the look, so that the watcher finds the browser it started and stays.
        self._ensure_thread()
        return self.status()

    def wake(self) -> None:
        with self._lock:
            self._changed.notify_all()
        self._ensure_thread()

    def close(self) -> None:
        """Stops the browser for good (ComfyUI exits)."""
        with self._lock:
            self._closed = True
            self._changed.notify_all()
        self._stop_browser("ComfyUI is stopping")

    def tick(self) -> None:
        """One look at the relay's streams; starts or stops the browser accordingly."""
        with self._tick_lock:
            self._tick()

    def _tick(self) -> None:
        mode, _ = self.mode()
        if mode == "off":
            with self._lock:
                self._demanded = False
            if self._process is not None:
                self._stop_browser("the setting turned it off")
            self._set_state("idle", None)
            return
        self._check_exit()
        streams = self._streams()
        now = time.monotonic()
        if streams is None:
            return
        unserved = [s for s in streams if _unserved(s)]
        with self._lock:
            demanded, self._demanded = self._demanded, False
            if unserved or demanded:
                self._needed_at = now
            running = self._process is not None
            state, failed_at = self._state, self._failed_at
        if running:
            if any(s.get("lease_fallback") for s in streams):
                self._set_state("running", None)
            elif (
                state == "starting"
                and any(not s.get("lease") for s in unserved)
                and now - self._started_at > self.options.start_timeout
            ):
                self._stop_browser("it did not take a stream in time")
                self._fail(
                    f"the headless browser started but its agent took no stream within "
                    f"{self.options.start_timeout:g} s" + self._tail_text()
                )
                return
            if not unserved and now - self._needed_at > self.options.idle_grace:
                self._stop_browser("browser tabs publish every stream")
                self._set_state("idle", None)
            return
        if not (unserved or demanded):
            if state != "failed":
                self._set_state("idle", None)
            return
        if (
            state == "failed"
            and failed_at is not None
            and now - failed_at < self.options.retry_after
        ):
            return
        self._start_browser()

    # The browser ---------------------------------------------------------------------------

    def _start_browser(self) -> None:
        browser, looked = self._find()
        if browser is None:
            self._fail(
                "no Chromium, Chrome or Edge found (looked for "
                + ", ".join(looked)
                + f"): install one, or set {BROWSER_ENV} to its executable; "
                f"or keep a ComfyUI tab open, and turn this off with {MODE_ENV}=off or the "
                f'setting "{SETTING_NAME}"'
            )
            return
        page = self._page_url()
        if page is None:
            self._fail("ComfyUI's address is not known yet, so the agent page cannot be opened")
            return
        profile = Path(tempfile.mkdtemp(prefix="rtc-headless-"))
        as_root = hasattr(os, "geteuid") and os.geteuid() == 0
        command = browser_command(browser, page, profile, as_root)
        try:
            process, pipe = spawn(command)
        except OSError as error:
            shutil.rmtree(profile, ignore_errors=True)
            self._fail(f"cannot run {browser}: {error}; set {BROWSER_ENV} to another browser")
            return
        with self._lock:
            self._process, self._pipe, self._profile = process, pipe, profile
            self._browser = browser
            self._started_at = time.monotonic()
            self._tail.clear()
        threading.Thread(
            target=self._pump_log, args=(process,), name="rtc-headless-log", daemon=True
        ).start()
        self._set_state("starting", None)
        log.info("headless agent starting: %s (pid %d)", browser, process.pid)

    def _pump_log(self, process: subprocess.Popen[str]) -> None:
        assert process.stderr is not None
        for line in process.stderr:
            line = line.rstrip()
            # Servers and containers have no session bus; Chromium says so at every start.
            if line and "dbus" not in line:
                self._tail.append(line)
                log.debug("browser: %s", line)

    def _check_exit(self) -> None:
        with self._lock:
            process = self._process
        if process is None or process.poll() is None:
            return
        self._release(process)
        self._fail(
            f"the headless browser exited with status {process.returncode}" + self._tail_text()
        )

    def _stop_browser(self, why: str) -> None:
        with self._lock:
            process = self._process
        if process is None:
            return
        log.info("headless agent stopping: %s", why)
        with self._lock:
            pipe, self._pipe = self._pipe, None
        if pipe is not None:
            # Closing its command pipe makes the browser quit by itself.
            with contextlib.suppress(OSError):
                os.close(pipe)
        else:
            process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        self._release(process)

    def _release(self, process: subprocess.Popen[str]) -> None:
        with self._lock:
            if self._process is not process:
                return
            self._process = None
            pipe, self._pipe = self._pipe, None
            profile, self._profile = self._profile, None
        if pipe is not None:
            with contextlib.suppress(OSError):
                os.close(pipe)
        if profile is not None:
            shutil.rmtree(profile, ignore_errors=True)

    # State ---------------------------------------------------------------------------------

    def _set_state(self, state: str, reason: str | None) -> None:
        with self._lock:
            if (self._state, self._reason) == (state, reason):
                return
            self._state, self._reason = state, reason
            if state != "failed":
                self._failed_at = None
            pid = self._process.pid if self._process else None
            browser = self._browser
        # Starting, stopping (which leads to idle) and failures have lines of their own.
        if state == "running":
            log.info("headless agent running: %s (pid %s)", browser, pid)

    def _fail(self, reason: str) -> None:
        with self._lock:
            changed = (self._state, self._reason) != ("failed", reason)
            self._state, self._reason = "failed", reason
            self._failed_at = time.monotonic()
        if changed:
            log.warning("headless agent failed: %s", reason)

    def _tail_text(self) -> str:
        lines = list(self._tail)
        return (": " + " | ".join(lines[-3:])) if lines else ""

    def _stored_setting(self) -> bool | None:
        try:
            value = json.loads((self.options.state_dir / SETTING_FILE).read_text("utf-8"))
        except (OSError, ValueError):
            return None
        enabled = value.get("enabled") if isinstance(value, dict) else None
        return enabled if isinstance(enabled, bool) else None

    # The watcher ---------------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._closed or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(target=self._watch, name="rtc-headless", daemon=True)
            self._thread.start()

    def _watch(self) -> None:
        """Looks at the streams once a second while the browser runs or was asked for; ends
        when neither, so an idle pack reads nothing."""
        while True:
            with self._lock:
                if self._closed:
                    return
                engaged = self._process is not None or self._demanded
                if not engaged:
                    self._thread = None
                    return
                self._changed.wait(self.options.poll_interval)
                if self._closed:
                    return
            try:
                self.tick()
            except Exception:
                log.exception("headless agent check failed")


def describe(status: Mapping[str, Any]) -> str:
    """The headless agent's part in a node's "no publisher" error."""
    state = status.get("state")
    if state == "off":
        if status.get("mode_source") == "env":
            return f" The headless agent is off ({MODE_ENV}=off in ComfyUI's environment)."
        return (
            f' The headless agent is off: turn on "{SETTING_NAME}" in ComfyUI\'s settings '
            f"(or set {MODE_ENV}=auto) to publish without a tab."
        )
    if state == "failed":
        return f" The headless agent could not stand in: {status.get('reason')}"
    if state in ("starting", "running"):
        return " The headless agent's browser did not take it in time."
    return ""


def _unserved(stream: Mapping[str, Any]) -> bool:
    """A stream nobody but the headless agent could publish: no lease holder, or the
    headless agent itself. A provisional entry (its create still running) gets its lease
    when it is registered, from a tab if one is open."""
    if stream.get("provisional") or stream.get("state") in ("stopping", "error"):
        return False
    return not stream.get("lease") or bool(stream.get("lease_fallback"))
