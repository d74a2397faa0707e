"""Runs `rtc-relay` as a child of ComfyUI: find, start, health-check, restart, stop.

Start-up never blocks ComfyUI's import: the first caller that needs the relay waits for it
(bounded), and a missing binary or a child that exits at once is reported straight away
with its last log lines instead of after a long timeout.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import re
import secrets
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .assets import RELAY_DISTRIBUTION, RELAY_EXECUTABLE, RelayWheel
from .credentials import KEY_VARIABLE, Credentials
from .relay_client import RelayEndpoint

log = logging.getLogger("rtc_node.supervisor")

DEFAULT_PORT = 8895
LISTENING = re.compile(r"listening on (http://[\w.\-\[\]:]+)")
# tracing's plain format: "<timestamp>  WARN target: message".
LEVEL = re.compile(r"^\S+\s+(WARN|ERROR)\s")
LEVELS = {"WARN": logging.WARNING, "ERROR": logging.ERROR}
# How long the relay gets to delete its streams and exit once asked to stop.
STOP_TIMEOUT = 5.0
# On Windows terminate() is TerminateProcess: no shutdown, streams left running.
HARD_TERMINATE = os.name == "nt"
STATE_FILE = "pack-relay.json"
VERSION_LINE = re.compile(r"rtc-relay (\S+)")
VERSION_TIMEOUT = 10.0
# How many of the relay's last log lines the status shows.
STATUS_LOG_LINES = 12


class RelayStartError(RuntimeError):
    """The relay could not be started; the message says what to do."""


@dataclass(frozen=True)
class SupervisorOptions:
    state_dir: Path
    binary: Path | None = None
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    start_timeout: float = 15.0
    health_interval: float = 5.0
    max_backoff: float = 30.0
    extra_env: Mapping[str, str] | None = None
    # The relay version this pack needs; a binary or running relay of another is refused.
    relay_version: str | None = None


def install_hint(version: str | None) -> str:
    """What the user runs, with ComfyUI's Python, to get the relay this pack needs."""
    if version is None:
        return "run `pip install -r requirements.txt` in the pack's folder"
    return f"run `pip install {RELAY_DISTRIBUTION}=={version}` in ComfyUI's Python environment"


def find_binary(
    environ: Mapping[str, str],
    root_dir: Path,
    wheel: RelayWheel | None,
    version: str | None,
) -> tuple[Path | None, list[str]]:
    """The installed relay wheel, then `RTC_RELAY_BIN`, then a development build (release
    first). A wheel of another version, or one without its executable, is an error rather
    than a reason to look further: the user installed it and expects it to be used."""
    if wheel is not None:
        if version is not None and wheel.version != version:
            raise RelayStartError(
                f"{RELAY_DISTRIBUTION} {wheel.version} is installed but this pack needs "
                f"{version}: {install_hint(version)}."
            )
        if wheel.binary is None:
            raise RelayStartError(
                f"{RELAY_DISTRIBUTION} {wheel.version} is installed without its "
                f"{RELAY_EXECUTABLE} executable: {install_hint(version)} "
                "with `--force-reinstall`."
            )
        return wheel.binary, [f"the {RELAY_DISTRIBUTION} wheel"]
    looked = [f"the {RELAY_DISTRIBUTION} wheel (not installed)"]
    explicit = environ.get("RTC_RELAY_BIN")
    if explicit:
        path = Path(explicit)
        return (path if path.is_file() else None), [*looked, f"RTC_RELAY_BIN={explicit}"]
    targets = [Path(environ["CARGO_TARGET_DIR"])] if environ.get("CARGO_TARGET_DIR") else []
    targets.append(root_dir / "target")
    for target in targets:
        for profile in ("release", "debug"):
            candidate = target / profile / RELAY_EXECUTABLE
            looked.append(str(candidate))
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate, looked
    return None, looked


def binary_version(binary: Path, version: str | None) -> str:
    """The version `binary --version` reports; a binary that cannot say is refused."""
    broken = f"{binary} is not a working rtc-relay"
    try:
        result = subprocess.run(
            [str(binary), "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=VERSION_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise RelayStartError(
            f"{broken} (`--version` did not answer): {install_hint(version)}."
        ) from error
    except OSError as error:
        raise RelayStartError(f"{broken} ({error}): {install_hint(version)}.") from error
    match = VERSION_LINE.fullmatch(result.stdout.strip())
    if result.returncode != 0 or match is None:
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or [
            f"exit status {result.returncode}"
        ]
        raise RelayStartError(f"{broken} ({detail[0]}): {install_hint(version)}.")
    return match.group(1)


def health(url: str, timeout: float = 1.0) -> dict[str, object] | None:
    """The relay's `/healthz` answer when it is up, else None."""
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=timeout) as response:
            body = json.load(response)
    except (OSError, ValueError):
        return None
    return (
        body
        if response.status == 200 and isinstance(body, dict) and body.get("ok") is True
        else None
    )


def healthy(url: str, timeout: float = 1.0) -> bool:
    return health(url, timeout) is not None


def accepts_token(url: str, token: str, timeout: float = 2.0) -> bool:
    request = urllib.request.Request(
        f"{url}/v1/streams", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status == 200
    except (OSError, ValueError):
        return False


class RelaySupervisor:
    """Owns one relay: a child it started, or a healthy one left by an earlier ComfyUI."""

    def __init__(
        self,
        options: SupervisorOptions,
        credentials: Callable[[], Credentials],
        binary_finder: Callable[[], tuple[Path | None, list[str]]],
    ) -> None:
        self.options = options
        self._credentials = credentials
        self._find_binary = binary_finder
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._endpoint: RelayEndpoint | None = None
        self._process: subprocess.Popen[str] | None = None
        self._adopted = False
        self._error: str | None = None
        # Why the relay is not running, kept until it runs again (``_error`` is handed to one
        # caller of ``endpoint()`` and cleared so the next one retries).
        self._reason: str | None = None
        self._starting = False
        self._stopping = False
        self._restarts = 0
        self.log_tail: deque[str] = deque(maxlen=40)
        self._watchdog: threading.Thread | None = None
        atexit.register(self.stop)

    # Public API ----------------------------------------------------------------------------

    def start_background(self) -> None:
        """Begins starting the relay without waiting; errors surface on ``endpoint()``."""
        with self._lock:
            watching = self._watchdog is not None and self._watchdog.is_alive()
            if self._endpoint or self._starting or self._stopping or watching:
                return
            self._starting = True
        threading.Thread(target=self._start_guarded, name="rtc-relay-start", daemon=True).start()

    def endpoint(self, timeout: float | None = None) -> RelayEndpoint:
        """The running relay, starting it if needed; raises ``RelayStartError`` promptly."""
        self.start_background()
        deadline = time.monotonic() + (timeout or self.options.start_timeout + 5.0)
        with self._lock:
            while self._endpoint is None:
                if self._error and not self._starting:
                    error = self._error
                    # The next caller retries (e.g. after the user built the binary).
                    self._error = None
                    raise RelayStartError(error)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RelayStartError("rtc-relay did not become ready in time" + self._tail())
                self._changed.wait(remaining)
            return self._endpoint

    def status(self) -> dict[str, object]:
        """What the relay is doing, for the UI: ``state`` is ``running``, ``starting`` (first
        start), ``restarting`` (after a failure or a crash), ``failed`` (``reason`` says why and
        what to do) or ``stopped`` (not started yet, or stopped)."""
        with self._lock:
            if self._endpoint is not None:
                state = "running"
            elif self._starting:
                state = "restarting" if self._reason or self._restarts else "starting"
            elif self._reason:
                state = "failed"
            else:
                state = "stopped"
            return {
                "state": state,
                "reason": None if state == "running" else self._reason,
                "log_tail": list(self.log_tail)[-STATUS_LOG_LINES:],
                "running": self._endpoint is not None,
                "url": self._endpoint.url if self._endpoint else None,
                "adopted": self._adopted,
                "pid": self._process.pid if self._process else None,
                "restarts": self._restarts,
                "error": self._error,
            }

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            process, self._process = self._process, None
            self._endpoint = None
            self._changed.notify_all()
        if process is None:
            return
        # A closed stdin asks the relay to shut down gracefully, deleting its streams; it is
        # the only polite way on Windows, where terminate() kills outright.
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        if process.poll() is not None:
            return
        try:
            if not HARD_TERMINATE:
                process.terminate()
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def restart(self, timeout: float = STOP_TIMEOUT + 10.0) -> None:
        """Stops the relay this supervisor started and starts it again in the background: the
        user's way back after fixing what stopped it (installing the binary, say). A relay
        adopted from an earlier ComfyUI is not ours to stop; it is adopted again if healthy."""
        self.stop()
        deadline = time.monotonic() + timeout
        watchdog = self._watchdog
        if watchdog is not None and watchdog is not threading.current_thread():
            watchdog.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            # A start under way ends soon: stop() killed its child or it sees ``_stopping``.
            while self._starting and time.monotonic() < deadline:
                self._changed.wait(max(0.0, deadline - time.monotonic()))
            if self._starting:
                raise RelayStartError("the relay is still starting; try again in a moment")
            self._stopping = False
            self._error = self._reason = None
            self._restarts += 1
        self.start_background()

    # Starting ------------------------------------------------------------------------------

    def _start_guarded(self) -> None:
        try:
            endpoint = self._adopt() or self._spawn()
            with self._lock:
                self._endpoint, self._error, self._reason = endpoint, None, None
        except RelayStartError as error:
            with self._lock:
                self._error = self._reason = str(error)
                stopping = self._stopping
            if not stopping:
                log.error("%s", error)
        finally:
            with self._lock:
                self._starting = False
                self._changed.notify_all()
        if self._endpoint is not None:
            self._ensure_watchdog()

    def _state_path(self) -> Path:
        return self.options.state_dir / STATE_FILE

    def _adopt(self) -> RelayEndpoint | None:
        """Reuses a healthy relay on our port whose token we wrote earlier."""
        try:
            state = json.loads(self._state_path().read_text(encoding="utf-8"))
            url, token = str(state["url"]), str(state["token"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        answer = health(url)
        if answer is None or not accepts_token(url, token):
            return None
        wanted = self.options.relay_version
        if wanted is not None and answer.get("version") != wanted:
            # Left by an earlier install of the pack: it keeps its port, ours starts elsewhere.
            log.info(
                "not using the rtc-relay %s at %s: this pack needs %s",
                answer.get("version"),
                url,
                wanted,
            )
            return None
        log.info("using the rtc-relay already running at %s", url)
        with self._lock:
            self._adopted = True
        return RelayEndpoint(url, token)

    def _port_free(self) -> bool:
        import socket

        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((self.options.host, self.options.port))
            except OSError:
                return False
        return True

    def _spawn(self) -> RelayEndpoint:
        binary = self.options.binary
        looked: list[str] = []
        if binary is None:
            binary, looked = self._find_binary()
        wanted = self.options.relay_version
        if binary is None or not binary.is_file():
            raise RelayStartError(
                "rtc-relay binary not found (looked in: "
                + ", ".join(looked or [str(binary)])
                + f"): {install_hint(wanted)}, or set RTC_RELAY_BIN to a relay you built."
            )
        if wanted is not None:
            found_version = binary_version(binary, wanted)
            if found_version != wanted:
                raise RelayStartError(
                    f"{binary} is rtc-relay {found_version} but this pack needs {wanted}: "
                    f"{install_hint(wanted)}."
                )
        # Another program on the default port: listen elsewhere rather than fail.
        port = self.options.port if self.options.port and self._port_free() else 0
        token = secrets.token_urlsafe(32)
        credentials = self._credentials()
        env = {k: v for k, v in os.environ.items() if k != KEY_VARIABLE}
        env.update(self.options.extra_env or {})
        env.update(credentials.child_environment())
        env["RTC_RELAY_TOKEN"] = token
        env["RTC_RELAY_EXIT_WITH_PARENT"] = "true"
        env["RTC_RELAY_STATE_DIR"] = str(self.options.state_dir)
        self.options.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            process = subprocess.Popen(
                [str(binary), "--addr", f"{self.options.host}:{port}"],
                env=env,
                # The relay exits when this pipe closes, which the OS does however this
                # process ends: SIGTERM skips atexit, and a kill skips everything.
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                errors="replace",
            )
        except OSError as error:
            raise RelayStartError(f"cannot run {binary}: {error}") from error
        with self._lock:
            # Known from the start so that stop() also ends a child that is still starting.
            self._process, self._adopted = process, False
            if self._stopping:
                process.kill()
        listening = threading.Event()
        found: list[str] = []
        threading.Thread(
            target=self._pump_log,
            args=(process, listening, found, (credentials.api_key, token)),
            name="rtc-relay-log",
            daemon=True,
        ).start()
        deadline = time.monotonic() + self.options.start_timeout
        # The log pump sets the event on the listening line and at end of stream, so an early
        # exit ends this wait at once.
        log_ended = listening.wait(self.options.start_timeout)
        if not found:
            if log_ended:
                try:
                    code = process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    code = None
            if not log_ended or code is None:
                process.kill()
                process.wait(timeout=5)
                raise RelayStartError(
                    f"rtc-relay did not report its address within "
                    f"{self.options.start_timeout:g} s" + self._tail()
                )
            raise RelayStartError(f"rtc-relay exited at start-up with status {code}" + self._tail())
        url = found[0]
        while (answer := health(url)) is None:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RelayStartError(f"rtc-relay at {url} is not healthy" + self._tail())
            time.sleep(0.05)
        if wanted is not None and answer.get("version") != wanted:
            process.kill()
            raise RelayStartError(
                f"rtc-relay at {url} reports version {answer.get('version')} but this pack "
                f"needs {wanted}: {install_hint(wanted)}."
            )
        self._write_state(url, token, process.pid)
        log.info("rtc-relay started at %s (pid %d)", url, process.pid)
        media = answer.get("media")
        if isinstance(media, list) and media:
            log.info(
                "rtc-relay local backend media listens on UDP, announced to browsers as %s",
                ", ".join(map(str, media)),
            )
        return RelayEndpoint(url, token)

    def _write_state(self, url: str, token: str, pid: int) -> None:
        path = self._state_path()
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump({"url": url, "token": token, "pid": pid}, file)
        temporary.replace(path)

    def _pump_log(
        self,
        process: subprocess.Popen[str],
        listening: threading.Event,
        found: list[str],
        secrets_in_env: tuple[str | None, ...],
    ) -> None:
        assert process.stderr is not None
        for raw in process.stderr:
            line = raw.rstrip()
            for secret in secrets_in_env:
                if secret and secret in line:
                    line = line.replace(secret, "[redacted]")
            self.log_tail.append(line)
            match = LISTENING.search(line)
            if match and not found:
                found.append(match.group(1))
                listening.set()
                continue
            # Warnings and errors belong in the ComfyUI console; the rest stays at debug.
            level = LEVEL.match(line)
            log.log(LEVELS[level.group(1)] if level else logging.DEBUG, "relay: %s", line)
        listening.set()

    def _tail(self) -> str:
        lines = list(self.log_tail)[-10:]
        return (":\n  " + "\n  ".join(lines)) if lines else ""

    # Watching ------------------------------------------------------------------------------

    def _ensure_watchdog(self) -> None:
        with self._lock:
            if self._watchdog is not None and self._watchdog.is_alive():
                return
            self._watchdog = threading.Thread(
                target=self._watch, name="rtc-relay-watchdog", daemon=True
            )
            self._watchdog.start()

    def _watch(self) -> None:
        """Restarts the relay when it dies or stops answering, with exponential backoff."""
        backoff = 0.5
        failures = 0
        while True:
            with self._lock:
                if self._stopping:
                    return
                process, endpoint = self._process, self._endpoint
            if process is not None:
                try:
                    process.wait(timeout=self.options.health_interval)
                except subprocess.TimeoutExpired:
                    pass
            else:
                with self._lock:
                    self._changed.wait(self.options.health_interval)
            with self._lock:
                if self._stopping:
                    return
            alive = endpoint is not None and (process is None or process.poll() is None)
            if alive and endpoint is not None and healthy(endpoint.url, timeout=2.0):
                failures, backoff = 0, 0.5
                continue
            failures += 1
            if alive and failures < 3:
                continue
            code = process.returncode if process is not None else None
            what = f"exited with status {code}" if code is not None else "stopped answering"
            log.warning("rtc-relay %s; restarting in %.1f s%s", what, backoff, self._tail())
            if process is not None and process.poll() is None:
                process.kill()
            with self._lock:
                self._reason = f"rtc-relay {what}"
                # Marked as starting so callers wait for this restart instead of racing it.
                self._endpoint, self._process, self._starting = None, None, True
                self._changed.wait(backoff)
                if self._stopping:
                    self._starting = False
                    return
                self._restarts += 1
            backoff = min(backoff * 2, self.options.max_backoff)
            try:
                endpoint = self._adopt() or self._spawn()
            except RelayStartError as error:
                with self._lock:
                    self._error = self._reason = str(error)
                    self._starting = False
                    self._changed.notify_all()
                log.error("%s", error)
                continue
            with self._lock:
                self._endpoint, self._error, self._starting = endpoint, None, False
                self._reason = None
                self._changed.notify_all()
            failures = 0
