"""The pack installed the ways users install it, on a machine without Rust.

The relay wheel is built once (dev profile, reusing the test build) and installed into a fresh
venv, the stand-in for ComfyUI's Python. The pack is laid out in ``custom_nodes/`` as a git
clone (the files git tracks: no ``target/``, no built ``www/pkg``) and as the unpacked Registry
archive (scripts/registry_archive.py). The stand-in ComfyUI (comfy_stub/main.py) runs with no
cargo on PATH, no ``CARGO_TARGET_DIR`` and no ``RTC_RELAY_BIN``: the relay can only come from
the wheel.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent import Agent
from conftest import ROOT
from pack_install import FOLDER, NODE_IDS, clone_layout, install_wheel, registry_layout

from comfy_extension.rtc_node import assets

STUB_MAIN = Path(__file__).resolve().parent / "comfy_stub" / "main.py"


def toml_value(text: str, key: str) -> str:
    match = re.search(rf'^{key} = "(.+)"$', text, re.MULTILINE)
    assert match, key
    return match.group(1)


PACK_VERSION = toml_value((ROOT / "pyproject.toml").read_text(encoding="utf-8"), "version")


def test_the_wheel_holds_the_relay_and_the_wasm_package(relay_wheel: Path) -> None:
    names = zipfile.ZipFile(relay_wheel).namelist()
    assert f"rtc_node_relay-{PACK_VERSION}.data/scripts/rtc-relay" in names
    assert any(name.endswith("share/rtc-node-relay/pkg/rtc_client_bg.wasm") for name in names)


def test_pack_wheel_and_requirements_agree_on_the_version() -> None:
    cargo = toml_value((ROOT / "Cargo.toml").read_text(encoding="utf-8"), "version")
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert cargo == PACK_VERSION
    assert assets.required_relay_version() == PACK_VERSION
    assert f'dependencies = ["rtc-node-relay=={PACK_VERSION}"]' in pyproject


def fake_distribution(site: Path, version: str, files: dict[str, bytes]) -> None:
    """An installed rtc-node-relay as pip leaves it: files outside site-packages are listed
    in RECORD relative to it."""
    info = site / f"rtc_node_relay-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: rtc-node-relay\nVersion: {version}\n"
    )
    for name, content in files.items():
        path = (site / name).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    (info / "RECORD").write_text("".join(f"{name},,\n" for name in files))


def test_the_wheel_is_found_through_its_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "lib" / "python3" / "site-packages"
    fake_distribution(
        site,
        "7.7.7",
        {
            f"../../../bin/{assets.RELAY_EXECUTABLE}": b"binary",
            "../../../share/rtc-node-relay/pkg/rtc_client_bg.wasm": b"wasm",
            "../../../share/rtc-node-relay/pkg/rtc_client.js": b"js",
        },
    )
    monkeypatch.setattr(sys, "path", [str(site), *sys.path])
    monkeypatch.setattr(assets, "WWW_DIR", tmp_path / "no-www")
    wheel = assets.relay_wheel()
    assert wheel == assets.RelayWheel(
        version="7.7.7",
        binary=(tmp_path / "bin" / assets.RELAY_EXECUTABLE).resolve(),
        wasm_dir=(tmp_path / "share" / "rtc-node-relay" / "pkg").resolve(),
    )
    # With no package built in the checkout, the pages get the wheel's.
    assert assets.wasm_dir() == wheel.wasm_dir


def test_a_wheel_missing_its_files_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site-packages"
    fake_distribution(site, "7.7.7", {})
    monkeypatch.setattr(sys, "path", [str(site), *sys.path])
    assert assets.relay_wheel() == assets.RelayWheel("7.7.7", None, None)


# The installed pack --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def comfy_python(relay_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with what ComfyUI brings that the pack uses (aiohttp) and the wheel."""
    venv = tmp_path_factory.mktemp("comfy-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "aiohttp"], check=True)
    install_wheel(python, relay_wheel)
    return python


LAYOUTS = {"git clone": clone_layout, "Registry archive": registry_layout}


class StandIn:
    """The stand-in ComfyUI serving the installed pack."""

    def __init__(
        self, python: Path, pack: Path, state: Path, extra_env: dict[str, str] | None = None
    ) -> None:
        bin_dir = str(python.parent)
        env = {
            # No cargo, no target dir, no explicit relay: only what a user's machine has.
            "PATH": os.pathsep.join([bin_dir, "/usr/bin", "/bin"]),
            "HOME": str(state),
            "RTC_RELAY_STATE_DIR": str(state / "relay-state"),
            "RTC_RELAY_PORT": "0",
            **(extra_env or {}),
        }
        self.process = subprocess.Popen(
            [str(python), str(STUB_MAIN), str(pack)],
            env=env,
            cwd=state,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        self.log: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        line = self.process.stdout.readline()
        match = re.match(r"listening on (http://\S+)", line)
        if not match:
            self.process.wait(timeout=10)
            raise AssertionError("the stand-in ComfyUI did not start:\n" + "".join(self.log))
        self.url = match.group(1)

    def _pump(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.log.append(line)

    def get(self, path: str, timeout: float = 30.0) -> tuple[int, bytes, str]:
        try:
            with urllib.request.urlopen(f"{self.url}{path}", timeout=timeout) as response:
                return response.status, response.read(), response.headers["Content-Type"] or ""
        except urllib.error.HTTPError as error:
            return error.code, error.read(), error.headers["Content-Type"] or ""

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> dict:
        request = urllib.request.Request(f"{self.url}{path}", data=body, headers=headers)
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)

    def relay_executable(self) -> Path:
        """The executable of the relay this process started (its only child)."""

        def children() -> list[str]:
            found = []
            for stat in Path("/proc").glob("[0-9]*/stat"):
                try:
                    # "pid (comm) state ppid ...": comm may hold spaces, so split after it.
                    fields = stat.read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if fields[1] == str(self.process.pid):
                    found.append(stat.parent.name)
            return found

        deadline = time.monotonic() + 20
        while not (found := children()):
            assert time.monotonic() < deadline, "no relay child:\n" + "".join(self.log)
            time.sleep(0.05)  # /proc has no change notification: poll with a deadline
        (pid,) = found
        return Path(os.readlink(f"/proc/{pid}/exe"))

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module", params=list(LAYOUTS))
def installed(
    request: pytest.FixtureRequest, comfy_python: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[StandIn, Path]]:
    base = tmp_path_factory.mktemp("custom_nodes")
    pack = LAYOUTS[request.param](base)
    assert not (pack / "target").exists()
    stand_in = StandIn(comfy_python, pack, tmp_path_factory.mktemp("home"))
    yield stand_in, pack
    stand_in.stop()


def test_the_layouts_are_what_users_get(tmp_path: Path) -> None:
    clone = clone_layout(tmp_path / "clone")
    registry = registry_layout(tmp_path / "registry")
    for pack in (clone, registry):
        for name in ("__init__.py", "requirements.txt", "pyproject.toml", "www/js/comfy.mjs"):
            assert (pack / name).is_file(), (pack, name)
    # A clone has no built wasm (it comes from the wheel); the archive carries it.
    assert not (clone / "www" / "pkg").exists()
    assert (registry / "www" / "pkg" / "rtc_client_bg.wasm").is_file()
    # The archive leaves out what builds and tests the pack.
    for name in ("relay", "wasm-client", "tests", "scripts", "Cargo.toml", "package.json"):
        assert (clone / name).exists() and not (registry / name).exists(), name


def test_the_nodes_and_the_frontend_load(installed: tuple[StandIn, Path]) -> None:
    stand_in, _ = installed
    status, body, _ = stand_in.get("/object_info")
    assert status == 200 and set(json.loads(body)) == NODE_IDS
    status, body, _ = stand_in.get(f"/extensions/{FOLDER}/main.js")
    assert status == 200 and b"registerExtension" in body


def test_the_relay_starts_from_the_wheel(
    installed: tuple[StandIn, Path], comfy_python: Path
) -> None:
    stand_in, _ = installed
    status, body, _ = stand_in.get("/rtc/api/healthz")
    assert status == 200, body
    health = json.loads(body)
    media = health.pop("media")
    assert health == {"ok": True, "version": PACK_VERSION, "backend": "local"}
    # ComfyUI listens on loopback here, so the local backend announces loopback only.
    assert len(media) == 1 and media[0].startswith("127.0.0.1:"), media
    assert stand_in.relay_executable() == (comfy_python.parent / "rtc-relay").resolve()


def test_the_ui_modules_and_the_wasm_come_from_comfyuis_origin(
    installed: tuple[StandIn, Path],
) -> None:
    stand_in, _ = installed
    status, body, kind = stand_in.get("/rtc/ui/pkg/rtc_client_bg.wasm")
    assert status == 200 and body[:4] == b"\0asm" and kind == "application/wasm"
    status, body, kind = stand_in.get("/rtc/ui/js/comfy.mjs")
    assert status == 200 and kind.startswith(("application/javascript", "text/javascript"))


def test_a_stream_runs_on_the_local_backend(installed: tuple[StandIn, Path]) -> None:
    stand_in, _ = installed
    created = stand_in.post(
        "/rtc/api/v1/streams",
        json.dumps({"name": "installed"}).encode(),
        {"Content-Type": "application/json"},
    )
    # The browser agent goes through ComfyUI's proxy, as the sidebar does.
    agent = Agent(f"{stand_in.url}/rtc/api", token="unused-behind-the-proxy")
    try:
        agent.wait_lease(created["id"])
        stand_in.post(
            f"/rtc/api/v1/streams/{created['id']}/frames",
            bytes([40]) * (16 * 16 * 3),
            {
                "Content-Type": "application/octet-stream",
                "X-Frame-Width": "16",
                "X-Frame-Height": "16",
                "X-Frame-Format": "rgb8",
            },
        )
        agent.wait_for(lambda: len(agent.frames) >= 1)
        status, body, _ = stand_in.get(
            f"/rtc/api/v1/streams/{created['id']}/output?after=0&wait_ms=10000&format=rgb8"
        )
        # The agent played the frame back inverted: the processed video.
        assert status == 200 and body == bytes([255 - 40]) * (16 * 16 * 3)
    finally:
        agent.close()
