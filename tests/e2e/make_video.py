"""Writes a short MP4/H.264 test clip (moving colour bars and a frame counter band) with PyAV,
which the venv has through aiortc; for the file streamer and its test, so no clip is committed.

    .venv/bin/python tests/e2e/make_video.py OUT.mp4 [--seconds 5] [--fps 24] [--size 320x240]
"""

from __future__ import annotations

import argparse
from pathlib import Path


def write_clip(path: Path, seconds: float, fps: int, width: int, height: int) -> int:
    import av
    import numpy as np

    bars = np.array(
        [[192, 192, 192], [192, 192, 0], [0, 192, 192], [0, 192, 0], [192, 0, 192], [192, 0, 0]],
        np.uint8,
    )
    columns = bars[(np.arange(width) * len(bars)) // width]
    frames = round(seconds * fps)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for n in range(frames):
            picture = np.repeat(np.roll(columns, n * 4, axis=0)[None], height, axis=0)
            # A band whose width grows with the frame number: the clip visibly moves.
            picture[-height // 8 :, : (n * width) // frames] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--size", default="320x240", help="WIDTHxHEIGHT, both even")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    if width % 2 or height % 2:
        parser.error("H.264 needs an even width and height")
    frames = write_clip(args.out, args.seconds, args.fps, width, height)
    print(f"{args.out}: {frames} frames, {width}x{height} @ {args.fps} fps, H.264")  # noqa: T201


if __name__ == "__main__":
    main()
