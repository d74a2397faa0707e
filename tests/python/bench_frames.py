"""Benchmark of the pack's frame path (P1 handoff into the relay, P3 output to a tensor).

Run: ``.venv/bin/python tests/python/bench_frames.py`` (needs the relay binary; see conftest).
A stand-in agent holds the publish lease and plays every frame back, so the relay accepts
frames and has output to serve. Prints medians and rates; asserts nothing (not a test).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import conftest
from agent import Agent

from comfy_extension.rtc_node import tensors
from comfy_extension.rtc_node.credentials import Credentials
from comfy_extension.rtc_node.supervisor import RelaySupervisor, SupervisorOptions


def timed(function, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return samples


def report(name: str, samples: list[float]) -> None:
    p50 = statistics.median(samples) * 1000
    p95 = sorted(samples)[int(len(samples) * 0.95) - 1] * 1000
    print(f"{name:46s} p50 {p50:7.2f} ms  p95 {p95:7.2f} ms  ({1000 / p50:7.1f}/s)")  # noqa: T201


def main() -> None:
    for width, height in ((512, 512), (1280, 720)):
        image = np.random.default_rng(1).random((1, height, width, 3), dtype=np.float32)
        report(f"IMAGE→rgb8 {width}x{height}", timed(lambda i=image: tensors.to_rgb8_frames(i), 50))
        pixels = tensors.to_rgb8_frames(image)[0][2]
        report(
            f"rgb8→IMAGE {width}x{height}",
            timed(lambda p=pixels, w=width, h=height: tensors.from_rgb8(p, w, h), 50),
        )
    with tempfile.TemporaryDirectory() as state:
        supervisor = RelaySupervisor(
            SupervisorOptions(state_dir=Path(state), binary=conftest.relay_binary(), port=0),
            credentials=Credentials,
            binary_finder=lambda: (conftest.relay_binary(), []),
        )
        started = time.perf_counter()
        endpoint = supervisor.endpoint()
        elapsed = 1000 * (time.perf_counter() - started)
        print(f"relay start to healthy (supervisor)  {elapsed:.1f} ms")  # noqa: T201
        from comfy_extension.rtc_node.relay_client import RelayClient

        client = RelayClient(endpoint)
        agent = Agent(endpoint.url, endpoint.token)
        try:
            stream = client.create_stream({"name": "bench"})
            agent.wait_lease(stream["id"])
            for width, height in ((512, 512), (1280, 720)):
                image = np.random.default_rng(2).random((1, height, width, 3), dtype=np.float32)

                def push(i=image) -> None:
                    for w, h, p in tensors.to_rgb8_frames(i):
                        client.push_frame(stream["id"], p, w, h)

                report(f"node → relay (convert + POST) {width}x{height}", timed(push, 100))

                def pull() -> None:
                    frame = client.fetch_output(stream["id"], after=0, wait_ms=0)
                    assert frame is not None
                    tensors.from_rgb8(frame.pixels, frame.width, frame.height)

                push()
                agent.wait_for(lambda: bool(agent.frames))
                report(f"relay → tensor (GET + convert) {width}x{height}", timed(pull, 100))
        finally:
            agent.close()
            supervisor.stop()


if __name__ == "__main__":
    main()
