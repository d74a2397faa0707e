"""The GitHub Actions workflows: valid for actionlint, and the release builds what it should."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"


def test_actionlint_finds_nothing_to_report() -> None:
    actionlint = Path(sys.executable).parent / "actionlint"
    assert actionlint.is_file(), (
        "actionlint is installed by scripts/setup.sh (tests/requirements.txt)"
    )
    files = sorted(str(path) for path in WORKFLOWS.glob("*.y*ml"))
    assert files
    result = subprocess.run(
        [str(actionlint), "-no-color", *files], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_release_builds_every_platform_and_linux_with_the_package_script() -> None:
    release = (WORKFLOWS / "release.yml").read_text(encoding="utf-8")
    assert "run: scripts/package.sh\n" in release
    assert "run: scripts/package.sh aarch64-unknown-linux-gnu\n" in release
    for target in ("aarch64-apple-darwin", "x86_64-apple-darwin", "x86_64-pc-windows-msvc"):
        assert f"target: {target} }}" in release
    assert "PyO3/maturin-action@v1" in release
    assert "pypa/gh-action-pypi-publish" in release
    assert "Comfy-Org/publish-node-action" in release
