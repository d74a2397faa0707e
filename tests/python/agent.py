"""A browser agent stand-in speaking the agent-socket protocol (``rtc-protocol``).

It takes publish leases, records the frames the relay hands it, and plays a "processed"
stream back by returning each frame inverted, the way the wasm agent returns the decoded
WHEP video. Media itself (WHIP/WHEP) is covered by the relay's and the browser suites.
"""

from __future__ import annotations

import asyncio
import json
import struct
import threading
from dataclasses import dataclass
from typing import Any

import aiohttp

HEADER = struct.Struct("<4sBB2xIQQII")
FORMATS = {0: ("rgba8", 4), 1: ("rgb8", 3)}


@dataclass
class Frame:
    stream_index: int
    sequence: int
    width: int
    height: int
    pixel_format: int
    pixels: bytes


def pack_frame(frame: Frame, capture_us: int = 0) -> bytes:
    header = HEADER.pack(
        b"RTCF",
        1,
        frame.pixel_format,
        frame.stream_index,
        frame.sequence,
        capture_us,
        frame.width,
        frame.height,
    )
    return header + frame.pixels


def unpack_frame(data: bytes) -> Frame:
    magic, version, pixel_format, index, sequence, _, width, height = HEADER.unpack_from(data)
    assert magic == b"RTCF" and version == 1, (magic, version)
    return Frame(index, sequence, width, height, pixel_format, data[HEADER.size :])


class Agent:
    """Runs in its own thread and event loop; conditions are waited on with timeouts."""

    def __init__(
        self, url: str, token: str, play_back: bool = True, hello: dict[str, Any] | None = None
    ) -> None:
        self.url = url.replace("http://", "ws://") + "/v1/agent"
        self.token = token
        self.play_back = play_back
        # Extra `hello` fields (a link, say).
        self.hello = hello or {}
        self.messages: list[dict[str, Any]] = []
        self.frames: list[Frame] = []
        self.leases: dict[str, dict[str, Any]] = {}
        self._changed = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        headers = {"Authorization": f"Bearer {self.token}"}
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(self.url, headers=headers, max_msg_size=64 << 20) as ws,
        ):
            self._ws = ws
            hello = {"type": "hello", "protocol": 1, "label": "test", **self.hello}
            await ws.send_str(json.dumps(hello))
            reader = asyncio.ensure_future(self._read(ws))
            await self._stop.wait()
            reader.cancel()

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                body = json.loads(message.data)
                with self._changed:
                    self.messages.append(body)
                    if body.get("type") == "publish":
                        self.leases[body["stream_id"]] = body
                        await ws.send_str(
                            json.dumps(
                                {
                                    "type": "state",
                                    "stream_id": body["stream_id"],
                                    "role": "publisher",
                                    "state": "live",
                                }
                            )
                        )
                    self._changed.notify_all()
            elif message.type == aiohttp.WSMsgType.BINARY:
                frame = unpack_frame(message.data)
                with self._changed:
                    self.frames.append(frame)
                    self._changed.notify_all()
                if self.play_back:
                    inverted = _invert(frame.pixels)
                    await ws.send_bytes(pack_frame(Frame(**{**frame.__dict__, "pixels": inverted})))

    def wait_for(self, predicate, timeout: float = 15.0) -> None:
        with self._changed:
            assert self._changed.wait_for(predicate, timeout), "agent: condition not met"

    def send_binary(self, data: bytes) -> None:
        """Sends one binary message (a frame) from the caller's thread, waiting until it is out."""
        assert self._ws is not None, "agent: not connected"
        asyncio.run_coroutine_threadsafe(self._ws.send_bytes(data), self._loop).result(timeout=10)

    def send_json(self, message: dict[str, Any]) -> None:
        """Sends one text message from the caller's thread, waiting until it is out."""
        assert self._ws is not None, "agent: not connected"
        send = self._ws.send_str(json.dumps(message))
        asyncio.run_coroutine_threadsafe(send, self._loop).result(timeout=10)

    def wait_lease(self, stream_id: str) -> dict[str, Any]:
        self.wait_for(lambda: stream_id in self.leases)
        return self.leases[stream_id]

    def close(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)


def _invert(pixels: bytes) -> bytes:
    import numpy as np

    return (255 - np.frombuffer(pixels, np.uint8)).tobytes()
