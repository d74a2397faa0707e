"""The pack installed the ways users install it, for the tests that run it installed.

- ``build_wheel``: the relay wheel (dev profile: the test build's dependencies are reused).
- ``install_wheel``: into the environment of a given Python, as `pip install -r
  requirements.txt` would, replacing an earlier build of the same version.
- ``clone_layout``: what `git clone` gives in ``custom_nodes/``: the files git tracks, so no
  ``target/`` and no built ``www/pkg``.
- ``registry_layout``: the unpacked Registry archive (scripts/registry_archive.py).

As a command, for the JS suite: ``python pack_install.py CUSTOM_NODES PYTHON`` builds the
wheel, installs it for PYTHON, lays the clone out in CUSTOM_NODES and prints its folder.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDER = "rtc-node"
# The node ids an installed pack must register.
NODE_IDS = {
    "RTCStreamPipelineConfig",
    "RTCStreamControlNet",
    "StartRTCStream",
    "UpdateRTCStream",
    "RTCStreamFrameInput",
    "RTCStreamFrameOutput",
    "RTCStreamStatus",
    "RTCStreamUIPreview",
}


def build_wheel(out: Path) -> Path:
    subprocess.run(
        [str(ROOT / "scripts" / "build-wheel.sh"), str(out), "--profile", "dev"],
        check=True,
        cwd=ROOT,
        stdout=sys.stderr,
    )
    (built,) = out.glob("rtc_node_relay-*.whl")
    return built


def install_wheel(python: Path, wheel: Path) -> None:
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "--force-reinstall", "--no-deps", str(wheel)], check=True, stdout=sys.stderr
    )


def clone_layout(base: Path) -> Path:
    pack = base / FOLDER
    tracked = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z"], check=True, capture_output=True, text=True
    ).stdout
    for name in filter(None, tracked.split("\0")):
        source = ROOT / name
        if source.is_file():
            (pack / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, pack / name)
    return pack


def registry_layout(base: Path) -> Path:
    archive = base / "node.zip"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "registry_archive.py"), str(archive)], check=True
    )
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(base / FOLDER)
    return base / FOLDER


def main() -> None:
    custom_nodes, python = Path(sys.argv[1]), Path(sys.argv[2])
    with tempfile.TemporaryDirectory() as out:
        install_wheel(python, build_wheel(Path(out)))
    sys.stdout.write(f"{clone_layout(custom_nodes)}\n")


if __name__ == "__main__":
    main()
