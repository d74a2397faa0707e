"""What the headless agent costs: time from queueing the README's in-and-out workflow (no page
open) to its processed frame, cold (the browser not running) and warm, and the CPU and memory
of the browser's whole process tree while it publishes.

Usage: headless.py [--seconds N] [--fps F]   (RTC_RELAY_BIN names the relay, else target/debug)

Runs the stand-in ComfyUI (tests/python/comfy_stub/main.py) with this checkout as the pack and
Chromium found on PATH, and prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "python"), str(ROOT / "tests/python/comfy_stub")]

from workflow import EXAMPLES, to_api_prompt  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def relay_binary() -> str:
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return os.environ.get("RTC_RELAY_BIN") or str(target / "debug" / "rtc-relay")


class ComfyStandIn:
    def __init__(self, home: Path) -> None:
        env = {
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"]),
            "HOME": str(home),
            "RTC_RELAY_STATE_DIR": str(home / "relay-state"),
            "RTC_RELAY_PORT": "0",
            "RTC_RELAY_BIN": relay_binary(),
            "RTC_HEADLESS_AGENT": "auto",
        }
        main = ROOT / "tests" / "python" / "comfy_stub" / "main.py"
        self.process = subprocess.Popen(
            [sys.executable, str(main), str(ROOT)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        match = re.match(r"listening on (http://\S+)", self.process.stdout.readline())
        assert match, "the stand-in ComfyUI did not start"
        self.url = match.group(1)

    def call(self, path: str, body: bytes | None = None, headers: dict[str, str] | None = None):
        request = urllib.request.Request(self.url + path, data=body, headers=headers or {})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)

    def run(self, prompt: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        started = time.monotonic()
        body = json.dumps({"prompt": prompt}).encode()
        queued = self.call("/prompt", body, {"Content-Type": "application/json"})
        while not (done := self.call(f"/history/{queued['prompt_id']}")):
            time.sleep(0.02)  # the stand-in's history has no wait: poll it
        return time.monotonic() - started, done[queued["prompt_id"]]

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


def tree(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def memory_mb(pids: list[int]) -> dict[str, float]:
    """RSS summed (counts shared pages once per process) and PSS summed (shares them out)."""
    rss = pss = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        rss += int(re.search(r"^Rss:\s+(\d+)", text, re.M).group(1))  # type: ignore[union-attr]
        pss += int(re.search(r"^Pss:\s+(\d+)", text, re.M).group(1))  # type: ignore[union-attr]
    return {"rss_mb": round(rss / 1024, 1), "pss_mb": round(pss / 1024, 1)}


def load(stand_in: ComfyStandIn, pid: int, stream: str, seconds: float, fps: float) -> dict:
    """CPU (% of one core) and memory of the browser's tree while frames are posted at ``fps``
    (0: none, the browser only holds the stream)."""
    pixels = bytes([200, 120, 40]) * (512 * 512)
    headers = {
        "Content-Type": "application/octet-stream",
        "X-Frame-Width": "512",
        "X-Frame-Height": "512",
        "X-Frame-Format": "rgb8",
    }
    pids = tree(pid)
    before, started = cpu_seconds(pids), time.monotonic()
    sent = 0
    while (elapsed := time.monotonic() - started) < seconds:
        if fps and sent < elapsed * fps:
            stand_in.call(f"/rtc/api/v1/streams/{stream}/frames", pixels, headers)
            sent += 1
        time.sleep(0.005 if fps else 0.5)  # pacing the posts
    pids = tree(pid)
    used = cpu_seconds(pids) - before
    return {
        "fps": fps,
        "seconds": seconds,
        "processes": len(pids),
        "cpu_percent_of_a_core": round(100 * used / seconds, 1),
        **memory_mb(pids),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--fps", type=float, default=24.0)
    parser.add_argument("--warm-runs", type=int, default=5)
    options = parser.parse_args()
    prompt = to_api_prompt(json.loads((EXAMPLES / "rtc_stream_in_out_workflow.json").read_text()))
    with tempfile.TemporaryDirectory() as home:
        stand_in = ComfyStandIn(Path(home))
        try:
            cold, history = stand_in.run(prompt)
            assert history["outputs"]["5"][2] is True, history
            warm = []
            for _ in range(options.warm_runs):
                took, history = stand_in.run(prompt)
                assert history["outputs"]["5"][2] is True, history
                warm.append(took)
            headless = stand_in.call("/rtc/relay")["headless"]
            (stream,) = stand_in.call("/rtc/api/v1/streams")["streams"]
            result = {
                "browser": headless["browser"],
                "queue_to_frame_cold_s": round(cold, 2),
                "queue_to_frame_warm_s": {
                    "median": round(statistics.median(warm), 3),
                    "min": round(min(warm), 3),
                    "max": round(max(warm), 3),
                },
                "holding": load(stand_in, headless["pid"], stream["id"], options.seconds, 0),
                "publishing": load(
                    stand_in, headless["pid"], stream["id"], options.seconds, options.fps
                ),
            }
        finally:
            stand_in.stop()
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
