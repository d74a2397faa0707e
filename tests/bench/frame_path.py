"""P1 and P3 with the pack's own code: the node-side conversion and relay client
(comfy_extension/rtc_node) against a running relay.

  frame_path.py push URL TOKEN STREAM WIDTH HEIGHT SECONDS
      Frame Input's path: IMAGE tensor → rgb8 → POST, as fast as the relay takes them.
      Prints {"posted_fps": ...}. The page side (frames turned into VideoFrames) is counted
      by the caller from the agent.
  frame_path.py output URL TOKEN WIDTH HEIGHT COUNT
      Frame Output's path: an agent (holding the stream's lease, as the browser does) sends a
      processed frame; the node's long poll wakes, and the pixels become a float32 tensor.
      Prints {"latency_ms": [...]} from the agent's send to the tensor.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "python")]

from agent import Agent, Frame, pack_frame  # noqa: E402
from p1_baseline import camera_like_frames  # noqa: E402

from comfy_extension.rtc_node import tensors  # noqa: E402
from comfy_extension.rtc_node.relay_client import RelayClient, RelayEndpoint  # noqa: E402

WARMUP = 5


def push(client: RelayClient, stream: str, width: int, height: int, seconds: float) -> None:
    images = [f[None, ...] for f in camera_like_frames(width, height, 4)]
    sent = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for w, h, pixels in tensors.to_rgb8_frames(images[sent % len(images)]):
            client.push_frame(stream, pixels, w, h)
        sent += 1
    json.dump({"posted_fps": sent / (time.perf_counter() - start)}, sys.stdout)


def output(client: RelayClient, url: str, token: str, width: int, height: int, count: int) -> None:
    stream = client.create_stream({"name": "bench-output", "width": width, "height": height})
    agent = Agent(url, token, play_back=False)
    try:
        grant = agent.wait_lease(stream["id"])
        pixels = (camera_like_frames(width, height, 1)[0] * 255).astype("uint8").tobytes()
        latencies: list[float] = []
        after = 0
        for i in range(WARMUP + count):
            result: dict[str, float] = {}

            def node(after: int = after, result: dict[str, float] = result) -> None:
                frame = client.fetch_output(stream["id"], after=after, wait_ms=5000)
                assert frame is not None
                image = tensors.from_rgb8(frame.pixels, frame.width, frame.height)
                assert image.shape == (1, height, width, 3)
                result["done"] = time.perf_counter()
                result["sequence"] = frame.sequence

            waiter = threading.Thread(target=node)
            waiter.start()
            # The node is parked in its long poll before the frame is sent.
            time.sleep(0.02)
            frame = Frame(grant["stream_index"], i + 1, width, height, 1, pixels)
            sent = time.perf_counter()
            agent.send_binary(pack_frame(frame))
            waiter.join(timeout=10)
            after = int(result["sequence"])
            if i >= WARMUP:
                latencies.append((result["done"] - sent) * 1000)
        json.dump({"latency_ms": latencies}, sys.stdout)
    finally:
        agent.close()
        client.delete_stream(stream["id"])


def main() -> None:
    mode, url, token = sys.argv[1], sys.argv[2], sys.argv[3]
    client = RelayClient(RelayEndpoint(url, token))
    if mode == "push":
        stream, width, height, seconds = sys.argv[4], *map(int, sys.argv[5:7]), float(sys.argv[7])
        push(client, stream, width, height, seconds)
    else:
        width, height, count = map(int, sys.argv[4:7])
        output(client, url, token, width, height, count)


if __name__ == "__main__":
    main()
