"""P4: rtc-relay start-to-healthy time and idle RSS.

Launches the release binary several times on port 0 with a private state folder, measures
the time from spawn until `GET /healthz` answers 200, then the resident set size after one
second idle, and prints the medians against the budget (100 ms, 20 MB).

    cargo build --release -p rtc-relay
    python3 tests/bench/relay_startup.py [--runs 9] [--binary target/release/rtc-relay]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BUDGET_MS = 100.0
BUDGET_MB = 20.0
LISTENING = re.compile(r"listening on http://(\S+)")


def default_binary() -> Path:
    target = os.environ.get("CARGO_TARGET_DIR", str(Path(__file__).resolve().parents[2] / "target"))
    return Path(target) / "release" / "rtc-relay"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def healthy(addr: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{addr}/healthz", timeout=0.5) as response:
            return response.status == 200
    except OSError:
        return False


def one_run(binary: Path) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as state_dir:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "RTC_RELAY_ADDR": "127.0.0.1:0",
            "RTC_RELAY_STATE_DIR": state_dir,
            "RTC_RELAY_TOKEN": "bench-token",
            "RTC_LOG": "info",
            "NO_COLOR": "1",
        }
        started = time.perf_counter()
        child = subprocess.Popen(
            [str(binary)], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
        )
        try:
            addr = None
            assert child.stderr is not None
            for line in child.stderr:
                match = LISTENING.search(line)
                if match:
                    addr = match.group(1)
                    break
            if addr is None:
                raise RuntimeError("relay exited before listening")
            while not healthy(addr):
                if child.poll() is not None:
                    raise RuntimeError("relay exited")
            elapsed_ms = (time.perf_counter() - started) * 1000
            time.sleep(1.0)  # idle period before sampling memory, not synchronisation
            return elapsed_ms, rss_mb(child.pid)
        finally:
            child.terminate()
            child.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--binary", type=Path, default=default_binary())
    args = parser.parse_args()
    if not args.binary.exists():
        parser.error(f"{args.binary} not found; run cargo build --release -p rtc-relay")
    times, rss = zip(*(one_run(args.binary) for _ in range(args.runs)), strict=True)
    start_ms = statistics.median(times)
    idle_mb = statistics.median(rss)
    ok = start_ms <= BUDGET_MS and idle_mb <= BUDGET_MB
    sys.stdout.write(
        f"start to healthy: median {start_ms:.1f} ms over {args.runs} runs"
        f" (budget {BUDGET_MS:.0f} ms)\n"
        f"idle RSS:         median {idle_mb:.1f} MB (budget {BUDGET_MB:.0f} MB)\n"
        f"P4 {'within budget' if ok else 'OVER BUDGET'}\n"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
