"""P4: start-to-healthy time and idle RSS of a server process.

Usage: startup.py RUNS -- COMMAND...   ("{port}" in COMMAND and $BENCH_PORT give the port)
Prints one JSON object: {"first_start_ms": ..., "start_ms": [...], "rss_mb": [...]}, where
the first start (page cache and dynamic loader cold for a just-installed binary) is kept out
of the samples.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

# How long the process sits idle before its resident memory is read.
IDLE_SECONDS = 1.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def one_run(command: list[str]) -> tuple[float, float]:
    port = free_port()
    env = {**os.environ, "BENCH_PORT": str(port)}
    url = f"http://127.0.0.1:{port}/healthz"
    started = time.perf_counter()
    argv = [arg.replace("{port}", str(port)) for arg in command]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = started + 30
        while not healthy(url):
            if proc.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with {proc.returncode}")
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{command[0]} not healthy after 30 s")
            time.sleep(0.0005)
        start_ms = (time.perf_counter() - started) * 1000
        time.sleep(IDLE_SECONDS)
        return start_ms, rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    runs = int(sys.argv[1])
    command = sys.argv[sys.argv.index("--") + 1 :]
    first_start_ms, _ = one_run(command)
    samples = [one_run(command) for _ in range(runs)]
    json.dump(
        {
            "first_start_ms": first_start_ms,
            "start_ms": [s[0] for s in samples],
            "rss_mb": [s[1] for s in samples],
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
