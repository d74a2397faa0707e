"""The browser behind the headless agent: where a Chromium, Chrome or Edge is installed, the
command line it runs with, and starting it so that it ends with ComfyUI."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

BROWSER_ENV = "RTC_BROWSER"
# Names on PATH, in order of preference.
BROWSER_NAMES = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "chrome",
    "msedge",
    "microsoft-edge",
)
MAC_APPS = (
    "Google Chrome.app/Contents/MacOS/Google Chrome",
    "Chromium.app/Contents/MacOS/Chromium",
    "Microsoft Edge.app/Contents/MacOS/Microsoft Edge",
)
WINDOWS_APPS = (
    ("Google", "Chrome", "Application", "chrome.exe"),
    ("Microsoft", "Edge", "Application", "msedge.exe"),
    ("Chromium", "Application", "chrome.exe"),
)
# The POSIX way to tie the browser's life to ComfyUI's: with --remote-debugging-pipe it reads
# commands from fd 3 and exits when that pipe closes, which the OS does however ComfyUI ends.
PIPE_FDS = (3, 4)
TRAMPOLINE = (
    "import os, sys\n"
    f"os.dup2(int(sys.argv[1]), {PIPE_FDS[0]})\n"
    f"os.dup2(int(sys.argv[2]), {PIPE_FDS[1]})\n"
    "os.execv(sys.argv[3], sys.argv[3:])\n"
)


def find_browser(
    environ: Mapping[str, str],
    system: str | None = None,
    which: Callable[[str], str | None] = shutil.which,
) -> tuple[Path | None, list[str]]:
    """`RTC_BROWSER`, else a Chromium-based browser on PATH, else one in the standard install
    folders of macOS and Windows; with the places looked in, for the error."""
    explicit = environ.get(BROWSER_ENV)
    if explicit:
        path = Path(explicit)
        return (path if path.is_file() else None), [f"{BROWSER_ENV}={explicit}"]
    looked = [f"{name} on PATH" for name in BROWSER_NAMES]
    for name in BROWSER_NAMES:
        found = which(name)
        if found:
            return Path(found), looked
    system = system or platform.system()
    candidates: list[Path] = []
    if system == "Darwin":
        for base in (Path("/Applications"), Path.home() / "Applications"):
            candidates += [base / app for app in MAC_APPS]
    elif system == "Windows":
        for variable in ("PROGRAMFILES", "PROGRAMFILES(X86)", "LOCALAPPDATA"):
            base = environ.get(variable)
            if base:
                candidates += [Path(base).joinpath(*parts) for parts in WINDOWS_APPS]
    for path in candidates:
        looked.append(str(path))
        if path.is_file():
            return path, looked
    return None, looked


def browser_command(browser: Path, page: str, profile: Path, as_root: bool) -> list[str]:
    """The command line: headless, a profile of its own, nothing that phones home or asks
    for a gesture, and the WebRTC flags a loopback-only media server needs."""
    args = [
        str(browser),
        "--headless=new",
        f"--user-data-dir={profile}",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-gpu",
        "--mute-audio",
        # The page's console messages, for the status when its agent never connects.
        "--enable-logging=stderr",
        "--autoplay-policy=no-user-gesture-required",
        # A background page must keep its timers and media running at full rate.
        "--disable-background-timer-throttling",
        "--disable-renderer-backgrounding",
        "--disable-backgrounding-occluded-windows",
        # The local backend's media server answers on loopback only.
        "--allow-loopback-in-peer-connection",
        # Chromium gathers ICE candidates on every interface (instead of one mDNS name) only
        # for pages with media permission; this grants it with no camera opened. Should
        # anything ask for a camera, it gets a generated one, never the user's.
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
    ]
    if as_root:
        # Chromium refuses to start as root with its sandbox (containers, servers).
        args.append("--no-sandbox")
    if os.name == "posix":
        args.append("--remote-debugging-pipe")
    args.append(page)
    return args


def spawn(command: list[str]) -> tuple[subprocess.Popen[str], int | None]:
    """Starts the browser; on POSIX with its DevTools pipe on fds 3 and 4, and returns the
    write end of its command pipe, whose closing ends it. There a small Python moves the pipe
    onto fds 3 and 4 and execs the browser, so nothing runs in the forked child before exec
    (and a shell cannot: dash takes only one-digit fds)."""
    pipe = kept = None
    if os.name == "posix":
        commands_read, pipe = os.pipe()
        answers_read, answers_write = os.pipe()
        os.close(answers_read)
        # Above 4, so that moving one onto fd 3 or 4 never overwrites the other.
        kept = (_above_pipe_fds(commands_read), _above_pipe_fds(answers_write))
        command = [sys.executable, "-c", TRAMPOLINE, *map(str, kept), *command]
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            pass_fds=kept or (),
        )
    except OSError:
        if pipe is not None:
            os.close(pipe)
        raise
    finally:
        for fd in kept or ():
            os.close(fd)
    return process, pipe


def _above_pipe_fds(fd: int) -> int:
    import fcntl

    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high
