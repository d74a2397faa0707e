"""P1 baseline: the original package's frame hand-off. Each IMAGE tensor is converted to
uint8, PNG-encoded with PIL at the default compression, base64'd and POSTed as JSON to a
Python HTTP server that decodes it back to pixels (tests/bench/baseline_server.py).

Usage: p1_baseline.py URL WIDTH HEIGHT SECONDS
Prints {"fps": frames per second sustained after a warm-up}.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import sys
import time
from urllib.parse import urlparse

import numpy as np
from PIL import Image

WARMUP_FRAMES = 3


def camera_like_frames(width: int, height: int, count: int) -> list[np.ndarray]:
    """Float32 [H,W,3] 0..1 frames with gradients and sensor-like noise, as a workflow emits."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for i in range(count):
        base = np.stack([x / width, y / height, (x + y + 13 * i) % width / width], axis=-1).astype(
            np.float32
        )
        noise = rng.normal(0, 0.02, size=base.shape).astype(np.float32)
        frames.append(np.clip(base + noise, 0, 1))
    return frames


def send(conn: http.client.HTTPConnection, frame: np.ndarray) -> None:
    pixels = (np.clip(frame, 0, 1) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    body = json.dumps({"frame_b64": base64.b64encode(buffer.getvalue()).decode("ascii")})
    conn.request("POST", "/frames", body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        raise RuntimeError(f"baseline server answered {response.status}")


def main() -> None:
    url, seconds = sys.argv[1], float(sys.argv[4])
    width, height = int(sys.argv[2]), int(sys.argv[3])
    target = urlparse(url)
    conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
    frames = camera_like_frames(width, height, 8)
    for i in range(WARMUP_FRAMES):
        send(conn, frames[i % len(frames)])
    sent = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        send(conn, frames[sent % len(frames)])
        sent += 1
    json.dump({"fps": sent / (time.perf_counter() - start)}, sys.stdout)


if __name__ == "__main__":
    main()
