"""Writes the archive the Comfy Registry gets for this pack, as `comfy node pack` builds it.

The rule (comfy-cli's `zip_files`): every file git tracks, less those matching a pattern in
`.comfyignore` (gitignore syntax), plus every file under each `[tool.comfy] includes` path of
`pyproject.toml` whether tracked or not. Paths are relative to the repository root.

    python scripts/registry_archive.py OUT.zip
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent


def git_files(*options: str) -> set[str]:
    listing = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", *options],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {name for name in listing.split("\0") if name}


def archive_files() -> list[str]:
    tracked = git_files()
    ignored = git_files("--cached", "--ignored", "--exclude-from=.comfyignore")
    files = {name for name in tracked - ignored if (ROOT / name).is_file()}
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    for include in config["tool"]["comfy"].get("includes", []):
        base = ROOT / include
        if not base.is_dir():
            sys.exit(f"{include} (from [tool.comfy] includes) is missing: build it first")
        files |= {path.relative_to(ROOT).as_posix() for path in base.rglob("*") if path.is_file()}
    return sorted(files)


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = Path(sys.argv[1])
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in archive_files():
            archive.write(ROOT / name, name)


if __name__ == "__main__":
    main()
