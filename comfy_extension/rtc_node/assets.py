"""Where the pack's files and the relay are, whichever way the pack was installed.

The repository root is the pack (git clone, Registry archive); `comfy_extension/` holds its
Python package and ComfyUI entry module. The pages and UI modules live in `www/` at the root;
the built wasm package in `www/pkg/` when it was built there, else in the relay wheel
(`rtc-node-relay`), which `requirements.txt` pins to the pack's own version.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

PACK_DIR = Path(__file__).resolve().parent.parent
ROOT_DIR = PACK_DIR.parent
WWW_DIR = ROOT_DIR / "www"
REQUIREMENTS = ROOT_DIR / "requirements.txt"

RELAY_DISTRIBUTION = "rtc-node-relay"
RELAY_EXECUTABLE = "rtc-relay.exe" if os.name == "nt" else "rtc-relay"
WASM_FILE = "rtc_client_bg.wasm"
# Where the wheel's data folder puts the wasm package, below the environment's prefix.
WHEEL_WASM_PARTS = ("share", RELAY_DISTRIBUTION, "pkg")
_PIN = re.compile(rf"^\s*{re.escape(RELAY_DISTRIBUTION)}\s*==\s*([\w.+-]+)", re.MULTILINE)


@dataclass(frozen=True)
class RelayWheel:
    """The installed `rtc-node-relay` distribution; a path is None when its file is absent."""

    version: str
    binary: Path | None
    wasm_dir: Path | None


def relay_wheel() -> RelayWheel | None:
    """The installed relay wheel, found through its RECORD whatever the install scheme."""
    from importlib import metadata

    try:
        distribution = metadata.distribution(RELAY_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None
    binary: Path | None = None
    wasm: Path | None = None
    for file in distribution.files or []:
        if file.name == RELAY_EXECUTABLE:
            binary = Path(str(distribution.locate_file(file))).resolve()
        elif file.name == WASM_FILE and tuple(file.parts[-4:-1]) == WHEEL_WASM_PARTS:
            wasm = Path(str(distribution.locate_file(file))).resolve().parent
    return RelayWheel(
        version=distribution.version,
        binary=binary if binary is not None and binary.is_file() else None,
        wasm_dir=wasm if wasm is not None and (wasm / WASM_FILE).is_file() else None,
    )


def required_relay_version() -> str | None:
    """The relay version the pack was released with: its pin in `requirements.txt`."""
    try:
        match = _PIN.search(REQUIREMENTS.read_text(encoding="utf-8"))
    except OSError:
        return None
    return match.group(1) if match else None


def wasm_dir() -> Path | None:
    """The folder holding `rtc_client.js` and `rtc_client_bg.wasm`, or None when absent.

    A package built in the checkout wins over the wheel's: it is the one being worked on.
    """
    built = WWW_DIR / "pkg"
    if (built / WASM_FILE).is_file():
        return built
    wheel = relay_wheel()
    return wheel.wasm_dir if wheel is not None else None
