"""Where the pack's files are, whichever way it was installed.

The repository root is the pack (git clone, Registry archive); `comfy_extension/` holds its
Python package and ComfyUI entry module. The pages and UI modules live in `www/` at the root;
the built wasm package in `www/pkg/` when it was built or shipped there.
"""

from __future__ import annotations

from pathlib import Path

PACK_DIR = Path(__file__).resolve().parent.parent
ROOT_DIR = PACK_DIR.parent
WWW_DIR = ROOT_DIR / "www"


def wasm_dir() -> Path | None:
    """The folder holding `rtc_client.js` and `rtc_client_bg.wasm`, or None when absent."""
    built = WWW_DIR / "pkg"
    if (built / "rtc_client_bg.wasm").is_file():
        return built
    return None
