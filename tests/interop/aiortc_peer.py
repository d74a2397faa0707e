"""An aiortc WHIP publisher or WHEP viewer driven over stdin/stdout.

Runs inside a network namespace (aioice skips loopback), so the signalling is relayed by
the test: the peer prints its offer as one JSON line, reads the answer as one JSON line,
then reports what it sees as JSON lines until stdin closes.

The published picture encodes the frame number in a row of black/white blocks above a
red (left) and blue (right) lower half, so the viewer can check every decoded frame.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

WIDTH = 320
HEIGHT = 240
BITS = 16
BLOCK = WIDTH // BITS


def emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def pattern(number: int) -> Any:
    import numpy as np

    image = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    for bit in range(BITS):
        if number >> bit & 1:
            image[0 : BLOCK * 2, bit * BLOCK : (bit + 1) * BLOCK] = 255
    image[HEIGHT // 2 :, : WIDTH // 2] = (220, 30, 30)
    image[HEIGHT // 2 :, WIDTH // 2 :] = (30, 30, 220)
    return image


def read_pattern(image: Any) -> dict[str, Any]:
    """Frame number and whether the colour patches survived, from a decoded RGB image."""
    number = 0
    for bit in range(BITS):
        centre = image[BLOCK, bit * BLOCK + BLOCK // 2]
        if int(centre.mean()) > 128:
            number |= 1 << bit
    left = image[HEIGHT * 3 // 4, WIDTH // 4].tolist()
    right = image[HEIGHT * 3 // 4, WIDTH * 3 // 4].tolist()
    colours_ok = (
        left[0] > 150 > max(left[1], left[2]) + 60 and right[2] > 150 > max(right[0], right[1]) + 60
    )
    return {"frame": number, "colours_ok": colours_ok, "left": left, "right": right}


def make_track() -> Any:
    import av
    from aiortc import VideoStreamTrack

    class NumberedTrack(VideoStreamTrack):
        def __init__(self) -> None:
            super().__init__()
            self.count = 0

        async def recv(self) -> av.VideoFrame:
            pts, time_base = await self.next_timestamp()
            frame = av.VideoFrame.from_ndarray(pattern(self.count), format="rgb24")
            frame.pts = pts
            frame.time_base = time_base
            self.count += 1
            return frame

    return NumberedTrack()


def prefer_h264(transceiver: Any) -> None:
    from aiortc.rtcrtpsender import RTCRtpSender

    codecs = RTCRtpSender.getCapabilities("video").codecs
    transceiver.setCodecPreferences(
        [c for c in codecs if c.mimeType in ("video/H264", "video/rtx")]
    )


async def read_line() -> str:
    return await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def run(role: str) -> None:
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

    # No STUN server: everything stays on the veth link.
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.on("connectionstatechange", lambda: emit({"state": pc.connectionState}))
    tasks: list[asyncio.Task[None]] = []
    if role == "publish":
        prefer_h264(pc.addTransceiver(make_track(), direction="sendonly"))
    else:
        prefer_h264(pc.addTransceiver("video", direction="recvonly"))

        @pc.on("track")
        def on_track(track: Any) -> None:
            async def consume() -> None:
                while True:
                    try:
                        frame = await track.recv()
                    except Exception:
                        emit({"track": "ended"})
                        return
                    image = frame.to_ndarray(format="rgb24")
                    report = read_pattern(image)
                    report["size"] = [frame.width, frame.height]
                    emit(report)

            tasks.append(asyncio.ensure_future(consume()))

    await pc.setLocalDescription(await pc.createOffer())
    emit({"offer": pc.localDescription.sdp})
    answer = json.loads(await read_line())["answer"]
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    # Runs until the test closes stdin.
    while await read_line():
        pass
    for task in tasks:
        task.cancel()
    await pc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=["publish", "view"])
    asyncio.run(run(parser.parse_args().role))


if __name__ == "__main__":
    main()
