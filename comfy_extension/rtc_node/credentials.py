"""Daydream credentials for the relay child: the environment, else a `.env` in the pack folder.

The key only ever travels in the child's environment. Keys set from the UI are stored by the
relay itself (`PUT /v1/credentials`), so they never pass through ComfyUI settings or workflows.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

KEY_VARIABLE = "DAYDREAM_API_KEY"
URL_VARIABLE = "DAYDREAM_API_URL"


@dataclass(frozen=True)
class Credentials:
    api_key: str | None = field(default=None, repr=False)
    api_url: str | None = None
    source: str = "none"

    def child_environment(self) -> dict[str, str]:
        """Variables to add to the relay's environment."""
        env = {}
        if self.api_key:
            env[KEY_VARIABLE] = self.api_key
        if self.api_url:
            env[URL_VARIABLE] = self.api_url
        return env


def parse_dotenv(text: str) -> dict[str, str]:
    """``KEY=value`` lines; ``#`` comments, ``export`` prefixes and matching quotes allowed."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[name.strip()] = value
    return values


def resolve(environ: Mapping[str, str], dotenv_path: Path) -> Credentials:
    """The environment wins over the pack's `.env`, variable by variable."""
    file_values: dict[str, str] = {}
    if dotenv_path.is_file():
        file_values = parse_dotenv(dotenv_path.read_text(encoding="utf-8"))
    key = environ.get(KEY_VARIABLE) or None
    source = "env" if key else "none"
    if not key and file_values.get(KEY_VARIABLE):
        key, source = file_values[KEY_VARIABLE], "dotenv"
    url = environ.get(URL_VARIABLE) or file_values.get(URL_VARIABLE) or None
    return Credentials(api_key=key, api_url=url, source=source)


def from_process(pack_dir: Path) -> Credentials:
    return resolve(os.environ, pack_dir / ".env")
