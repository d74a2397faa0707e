"""P1 and P3 with the pack's own code: the node-side conversion and relay client
(comfy_extension/rtc_node) against a running relay.

  frame_path.py push URL TOKEN STREAM WIDTH HEIGHT SECONDS
      Frame Input's path: IMAGE tensor → rgb8 → POST, as fast as the relay takes them.
      Prints {"posted_fps": ...}. The page side (frames turned into VideoFrames) is counted
      by the caller from the agent.
  frame_path.py output URL TOKEN WIDTH HEIGHT COUNT [AGENT_URL LINK [NETNS]]
      Frame Output's path: an agent (holding the stream's lease, as the browser does) sends a
      processed frame; the node's long poll wakes, and the pixels become a float32 tensor.
      The agent's socket goes to AGENT_URL (default URL; the pack's proxy, `…/rtc/api`, for the
      route a browser takes) and asks for LINK (raw, jpeg): it sends I420 on a raw link and
      JPEG on a JPEG one, as the browser does. With NETNS the agent runs in that network
      namespace (a host behind an emulated link; `frame_path.py agent ...` is its process).
      Prints {"latency_ms": [...], "bytes_per_frame": N} from the agent's send (after any
      encoding) to the tensor, and the message size.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "python")]

from agent import Agent, Frame, pack_frame  # noqa: E402
from p1_baseline import camera_like_frames  # noqa: E402

from comfy_extension.rtc_node import tensors  # noqa: E402
from comfy_extension.rtc_node.relay_client import RelayClient, RelayEndpoint  # noqa: E402

# Pixel format codes of the frame header (rtc-protocol).
I420, JPEG = 2, 3

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


def returned_frame(rgb: np.ndarray, link: str, quality: int) -> tuple[int, bytes]:
    """The frame as the browser's agent sends it back: (format code, payload)."""
    if link == "jpeg":
        from PIL import Image

        out = io.BytesIO()
        Image.fromarray(rgb).save(out, "JPEG", quality=quality)
        return JPEG, out.getvalue()
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    h, w = rgb.shape[:2]
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    planes = [y] + [c.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3)) for c in (u, v)]
    return I420, b"".join(np.clip(p, 0, 255).round().astype(np.uint8).tobytes() for p in planes)


class Sender:
    """The agent holding the stream's lease, sending the processed frame back."""

    def __init__(
        self, agent_url: str, token: str, stream_id: str, width: int, height: int, link: str
    ) -> None:
        self.agent = Agent(agent_url, token, play_back=False, hello={"link": link})
        grant = self.agent.wait_lease(stream_id)
        welcome = next(m for m in self.agent.messages if m["type"] == "welcome")
        assert welcome.get("link", "raw") == link, welcome
        rgb = (camera_like_frames(width, height, 1)[0] * 255).astype("uint8")
        pixel_format, payload = returned_frame(rgb, link, welcome.get("jpeg_quality", 80))
        self.frame = Frame(grant["stream_index"], 0, width, height, pixel_format, payload)
        self.bytes_per_frame = len(pack_frame(self.frame))

    def send(self, sequence: int) -> float:
        """Sends the frame as `sequence`; returns when it started (perf_counter)."""
        data = pack_frame(Frame(**{**self.frame.__dict__, "sequence": sequence}))
        sent = time.perf_counter()
        self.agent.send_binary(data)
        return sent

    def close(self) -> None:
        self.agent.close()


class RemoteSender:
    """A :class:`Sender` in another process inside network namespace `netns`, driven over its
    stdin and stdout. Its perf_counter is the same monotonic clock as this one's."""

    def __init__(self, netns: str, *args: str) -> None:
        command = ["ip", "netns", "exec", netns, sys.executable, __file__, "agent", *args]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin, self.stdout = self.process.stdin, self.process.stdout
        self.bytes_per_frame = json.loads(self.stdout.readline())["bytes_per_frame"]

    def send(self, sequence: int) -> float:
        self.stdin.write(f"{sequence}\n")
        self.stdin.flush()
        return float(self.stdout.readline())

    def close(self) -> None:
        self.stdin.close()
        self.process.wait(timeout=10)


def serve_sender(*args: str) -> None:
    """The other end of :class:`RemoteSender`."""
    agent_url, token, stream_id, width, height, link = args
    sender = Sender(agent_url, token, stream_id, int(width), int(height), link)
    answer(json.dumps({"bytes_per_frame": sender.bytes_per_frame}))
    for line in sys.stdin:
        answer(str(sender.send(int(line))))
    sender.close()


def answer(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def output(
    client: RelayClient,
    token: str,
    size: tuple[int, int],
    count: int,
    agent_url: str,
    link: str,
    netns: str | None,
) -> None:
    width, height = size
    stream = client.create_stream({"name": "bench-output", "width": width, "height": height})
    sender: Sender | RemoteSender
    if netns:
        size_args = (str(width), str(height))
        sender = RemoteSender(netns, agent_url, token, stream["id"], *size_args, link)
    else:
        sender = Sender(agent_url, token, stream["id"], width, height, link)
    try:
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
            sent = sender.send(i + 1)
            waiter.join(timeout=10)
            after = int(result["sequence"])
            if i >= WARMUP:
                latencies.append((result["done"] - sent) * 1000)
        json.dump({"latency_ms": latencies, "bytes_per_frame": sender.bytes_per_frame}, sys.stdout)
    finally:
        sender.close()
        client.delete_stream(stream["id"])


def main() -> None:
    mode = sys.argv[1]
    if mode == "agent":
        serve_sender(*sys.argv[2:])
        return
    url, token = sys.argv[2], sys.argv[3]
    client = RelayClient(RelayEndpoint(url, token))
    if mode == "push":
        stream, width, height, seconds = sys.argv[4], *map(int, sys.argv[5:7]), float(sys.argv[7])
        push(client, stream, width, height, seconds)
    else:
        width, height, count = map(int, sys.argv[4:7])
        agent_url, link = sys.argv[7:9] if len(sys.argv) > 7 else (url, "raw")
        netns = sys.argv[9] if len(sys.argv) > 9 else None
        output(client, token, (width, height), count, agent_url, link, netns)


if __name__ == "__main__":
    main()
