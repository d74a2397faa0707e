"""Soak: does the relay's memory or file-descriptor count grow under steady load?

Starts the relay on the local backend, creates STREAMS streams, connects one agent per stream
(each takes a publish lease, receives the stream's frames and sends every frame back as the
processed output, as the browser agent does with the decoded WHEP video), pushes SIZE² rgb8
frames into every stream at FPS through the HTTP frame route (Frame Input's path) and reads
the processed output with long polls (Frame Output's path). Every INTERVAL seconds the relay's
RSS and open file descriptors are sampled; at the end the least-squares slopes (after a
warm-up, --warmup) are printed.

  .venv/bin/python tests/bench/soak.py [--duration 1800] [--out soak.json] [--csv soak.csv]

The relay binary is $RTC_RELAY_BIN, else $CARGO_TARGET_DIR/debug/rtc-relay (see --binary).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import re
import secrets
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HEADER = struct.Struct("<4sBB2xIQQII")


@dataclass
class Sample:
    seconds: float
    rss_kb: int
    fds: int
    pushed: int
    delivered: int
    returned: int


@dataclass
class Counters:
    pushed: int = 0
    push_errors: int = 0
    delivered: int = 0
    returned: int = 0
    outputs: int = 0
    leases: set[str] = field(default_factory=set)


def default_binary() -> Path:
    explicit = os.environ.get("RTC_RELAY_BIN")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / "rtc-relay"


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def slope_per_minute(samples: list[Sample], value: str) -> float:
    """Least-squares slope of ``value`` against time, per minute."""
    if len(samples) < 2:
        return 0.0
    xs = [s.seconds / 60 for s in samples]
    ys = [float(getattr(s, value)) for s in samples]
    n = len(xs)
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread


def start_relay(
    binary: Path, state_dir: Path, token: str, log: Path
) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAYDREAM_", "RTC_"))}
    env |= {"RTC_RELAY_STATE_DIR": str(state_dir), "RTC_RELAY_TOKEN": token}
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [str(binary), "--addr", "127.0.0.1:0"],
            env=env,
            stdout=sink,
            stderr=sink,
            # Ctrl-C reaches the soak only, which then stops the relay after the last sample.
            start_new_session=True,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = re.search(r"listening on (http://[\d.:]+)", log.read_text())
        if found:
            return proc, found.group(1)
        if proc.poll() is not None:
            raise RuntimeError(f"relay exited with {proc.returncode}:\n{log.read_text()}")
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("relay did not report its address within 30 s")


async def agent(
    session: Any, url: str, token: str, counters: Counters, stop: asyncio.Event
) -> None:
    """One agent: takes leases, reports them live and returns every frame it is given."""
    import aiohttp

    ws_url = url.replace("http://", "ws://") + "/v1/agent"
    headers = {"Authorization": f"Bearer {token}"}
    async with session.ws_connect(ws_url, headers=headers, max_msg_size=64 << 20) as ws:
        await ws.send_json({"type": "hello", "protocol": 1, "label": "soak"})
        reader = asyncio.ensure_future(ws.receive())
        stopping = asyncio.ensure_future(stop.wait())
        while True:
            done, _ = await asyncio.wait({reader, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if stopping in done:
                reader.cancel()
                return
            message = reader.result()
            if message.type == aiohttp.WSMsgType.TEXT:
                body = json.loads(message.data)
                if body.get("type") == "publish":
                    counters.leases.add(body["stream_id"])
                    live = {"stream_id": body["stream_id"], "role": "publisher", "state": "live"}
                    await ws.send_json({"type": "state", **live})
            elif message.type == aiohttp.WSMsgType.BINARY:
                counters.delivered += 1
                await ws.send_bytes(message.data)
                counters.returned += 1
            else:
                raise RuntimeError(f"agent socket ended: {message.type}")
            reader = asyncio.ensure_future(ws.receive())


async def pusher(
    session: Any,
    url: str,
    stream: str,
    size: int,
    fps: float,
    counters: Counters,
    stop: asyncio.Event,
) -> None:
    pixels = bytes(range(256)) * (size * size * 3 // 256 + 1)
    pixels = pixels[: size * size * 3]
    headers = {
        "Content-Type": "application/octet-stream",
        "X-Frame-Width": str(size),
        "X-Frame-Height": str(size),
        "X-Frame-Format": "rgb8",
    }
    period = 1 / fps
    due = time.monotonic()
    while not stop.is_set():
        async with session.post(
            f"{url}/v1/streams/{stream}/frames", data=pixels, headers=headers
        ) as r:
            await r.read()
            if r.status < 300:
                counters.pushed += 1
            else:
                counters.push_errors += 1
        due += period
        # Pacing, not synchronisation: the frame clock of a 10 fps source.
        await asyncio.sleep(max(0.0, due - time.monotonic()))


async def output_reader(
    session: Any, url: str, stream: str, counters: Counters, stop: asyncio.Event
) -> None:
    after = 0
    while not stop.is_set():
        query = f"after={after}&wait_ms=1000&format=rgb8"
        async with session.get(f"{url}/v1/streams/{stream}/output?{query}") as r:
            await r.read()
            if r.status == 200:
                after = int(r.headers.get("X-Frame-Sequence", after))
                counters.outputs += 1


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp

    token = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="rtc-soak-") as scratch:
        proc, url = start_relay(
            args.binary, Path(scratch) / "state", token, Path(scratch) / "relay.log"
        )
        headers = {"Authorization": f"Bearer {token}"}
        counters = Counters()
        stop = asyncio.Event()
        # Ctrl-C or SIGTERM ends the soak early, with the samples taken so far.
        interrupted = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signum, interrupted.set)
        samples: list[Sample] = []
        csv_file = args.csv.open("w", newline="") if args.csv else None
        writer = csv.writer(csv_file) if csv_file else None
        if writer:
            writer.writerow(Sample.__dataclass_fields__.keys())
        try:
            timeout = aiohttp.ClientTimeout(total=30)
            async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
                streams = []
                for i in range(args.streams):
                    body = {
                        "name": f"soak-{i}",
                        "width": args.size,
                        "height": args.size,
                        "frame_rate": int(args.fps),
                    }
                    async with session.post(f"{url}/v1/streams", json=body) as r:
                        if r.status >= 300:
                            raise RuntimeError(f"create stream: HTTP {r.status} {await r.text()}")
                        streams.append((await r.json())["id"])
                tasks = [
                    asyncio.ensure_future(agent(session, url, token, counters, stop))
                    for _ in streams
                ]
                deadline = time.monotonic() + 30
                while len(counters.leases) < len(streams):
                    if time.monotonic() > deadline:
                        raise RuntimeError(
                            f"only {len(counters.leases)} of {len(streams)} leases taken"
                        )
                    await asyncio.sleep(0.05)
                for stream in streams:
                    tasks.append(
                        asyncio.ensure_future(
                            pusher(session, url, stream, args.size, args.fps, counters, stop)
                        )
                    )
                    tasks.append(
                        asyncio.ensure_future(output_reader(session, url, stream, counters, stop))
                    )
                started = time.monotonic()
                while True:
                    elapsed = time.monotonic() - started
                    sample = Sample(
                        round(elapsed, 1),
                        rss_kb(proc.pid),
                        open_fds(proc.pid),
                        counters.pushed,
                        counters.delivered,
                        counters.returned,
                    )
                    samples.append(sample)
                    if writer and csv_file:
                        writer.writerow(asdict(sample).values())
                        csv_file.flush()
                    sys.stderr.write(json.dumps(asdict(sample)) + "\n")
                    for task in tasks:
                        if task.done():
                            task.result()  # a failed load task ends the soak with its error
                    if elapsed >= args.duration or interrupted.is_set():
                        break
                    pause = min(args.interval, max(0.0, args.duration - elapsed))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(interrupted.wait(), pause)
                stop.set()
                await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
                for stream in streams:
                    async with session.delete(f"{url}/v1/streams/{stream}") as r:
                        await r.read()
        finally:
            if csv_file:
                csv_file.close()
            proc.send_signal(signal.SIGTERM)
            exit_code = proc.wait(timeout=30)
    # Buffers, pools and allocator arenas fill during the first minute; growth after that is
    # what would run a long session out of memory.
    steady = [s for s in samples if s.seconds >= args.warmup]
    first, last = samples[0], samples[-1]
    return {
        "duration_s": last.seconds,
        "streams": args.streams,
        "frame": f"{args.size}x{args.size} rgb8 @ {args.fps:g} fps",
        "frames_pushed": counters.pushed,
        "push_errors": counters.push_errors,
        "frames_to_agents": counters.delivered,
        "frames_returned": counters.returned,
        "outputs_read": counters.outputs,
        "rss_kb_first": first.rss_kb,
        "rss_kb_last": last.rss_kb,
        "rss_kb_max": max(s.rss_kb for s in samples),
        "fds_first": first.fds,
        "fds_last": last.fds,
        "warmup_s": args.warmup,
        "rss_slope_kb_per_min": round(slope_per_minute(steady, "rss_kb"), 2),
        "fds_slope_per_min": round(slope_per_minute(steady, "fds"), 4),
        "relay_exit_code": exit_code,
        "samples": [asdict(s) for s in samples],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--duration", type=float, default=1800.0, help="seconds of load (default 1800)"
    )
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--size", type=int, default=256, help="frame width and height")
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument(
        "--warmup", type=float, default=60.0, help="seconds left out of the slopes (default 60)"
    )
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--binary", type=Path, default=default_binary())
    parser.add_argument("--out", type=Path, help="write the result (with every sample) as JSON")
    parser.add_argument("--csv", type=Path, help="write the samples as CSV while running")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    summary = {k: v for k, v in result.items() if k != "samples"}
    json.dump(summary, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
