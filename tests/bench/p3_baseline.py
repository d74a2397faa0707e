"""P3 baseline: the original package's downlink. A processed frame reaches the server (here
POSTed raw, standing in for the WHEP track callback); the Frame Output node GETs
/whep/frame, which PNG+base64-encodes the latest frame, and decodes it into a float32
[1,H,W,3] tensor. Latency is from the frame's arrival at the server to the tensor.

Usage: p3_baseline.py URL WIDTH HEIGHT COUNT
Prints {"latency_ms": [...]}.
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
from p1_baseline import camera_like_frames
from PIL import Image

WARMUP = 3


def one(conn: http.client.HTTPConnection, frame: np.ndarray) -> float:
    height, width, _ = frame.shape
    raw = (frame * 255).astype(np.uint8).tobytes()
    conn.request("POST", f"/output?width={width}&height={height}", body=raw)
    conn.getresponse().read()
    conn.request("GET", "/whep/frame")
    body = json.loads(conn.getresponse().read())
    png = base64.b64decode(body["frame_b64"])
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float32) / 255.0
    tensor = pixels[None, ...]
    assert tensor.shape == (1, height, width, 3)
    return (time.monotonic() - body["received"]) * 1000


def main() -> None:
    url, count = sys.argv[1], int(sys.argv[4])
    width, height = int(sys.argv[2]), int(sys.argv[3])
    target = urlparse(url)
    conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
    frames = camera_like_frames(width, height, 4)
    for i in range(WARMUP):
        one(conn, frames[i % len(frames)])
    latencies = [one(conn, frames[i % len(frames)]) for i in range(count)]
    json.dump({"latency_ms": latencies}, sys.stdout)


if __name__ == "__main__":
    main()
