"""Where the relay listens and its token, for calling its API by hand (`scripts/relay-info.sh`).

A relay that ComfyUI started is found through the supervisor's state file; otherwise the
standalone relay is looked for where it would listen and its token read where it stores it,
from the same environment variables the relay reads. Prints shell assignments for ``eval``.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from .runtime import state_dir
from .supervisor import DEFAULT_PORT, STATE_FILE, accepts_token, healthy


@dataclass(frozen=True)
class RelayInfo:
    url: str
    token: str
    source: str


class RelayNotFound(RuntimeError):
    """No relay answers with a known token; the message says what to do."""


def _from_supervisor(folder: Path) -> RelayInfo | None:
    path = folder / STATE_FILE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        url, token = str(state["url"]), str(state["token"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if healthy(url) and accepts_token(url, token):
        return RelayInfo(url, token, f"the relay ComfyUI started ({path})")
    return None


def _standalone(folder: Path) -> RelayInfo:
    addr = os.environ.get("RTC_RELAY_ADDR") or f"127.0.0.1:{DEFAULT_PORT}"
    url = f"http://{addr}"
    if not healthy(url):
        raise RelayNotFound(
            f"no relay answers at {url}/healthz: start one with `cargo run -p rtc-relay` "
            "or start ComfyUI with the pack (set RTC_RELAY_ADDR if it listens elsewhere)"
        )
    token = os.environ.get("RTC_RELAY_TOKEN", "").strip()
    where = "RTC_RELAY_TOKEN"
    if not token:
        token_file = folder / "token"
        where = str(token_file)
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise RelayNotFound(f"the relay at {url} answers, but {token_file}: {error}") from error
    if not accepts_token(url, token):
        raise RelayNotFound(
            f"the relay at {url} refuses the token from {where}: it was started with another "
            "RTC_RELAY_TOKEN or RTC_RELAY_STATE_DIR"
        )
    return RelayInfo(url, token, f"the standalone relay (token from {where})")


def find() -> RelayInfo:
    """ComfyUI's relay when one runs, else the standalone one."""
    folder = state_dir()
    return _from_supervisor(folder) or _standalone(folder)


def main() -> int:
    try:
        info = find()
    except RelayNotFound as error:
        sys.stderr.write(f"relay-info: {error}\n")
        return 1
    sys.stderr.write(f"# {info.source}\n")
    sys.stdout.write(f"RELAY={shlex.quote(info.url)}\nTOKEN={shlex.quote(info.token)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
