"""Frame Input and Frame Output: raw pixels between the graph and the relay."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from comfy_api.latest import io

from .. import tensors
from ..relay_client import OutputFrame, RelayClient, RelayError
from .common import CATEGORY, StreamNodeError, current_stream_id, explain, relay


class FrameInput(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RTCStreamFrameInput",
            display_name="RTC Stream Frame Input",
            category=CATEGORY,
            description="Sends every frame of the IMAGE batch to the stream (the current "
            "one when stream_id is empty). A ComfyUI tab must be open: it publishes them.",
            inputs=[
                io.Image.Input("image"),
                io.Boolean.Input("enabled", default=True, optional=True),
                io.String.Input("stream_id", default="", optional=True),
            ],
            outputs=[io.Int.Output("frames_sent", display_name="frames_sent")],
            is_output_node=True,
        )

    @classmethod
    def fingerprint_inputs(cls, **inputs: Any) -> float:
        return math.nan  # every run sends its frames

    @classmethod
    def execute(cls, image: Any, enabled: bool = True, stream_id: str = "") -> io.NodeOutput:
        if not enabled:
            return io.NodeOutput(0)
        frames = tensors.to_rgb8_frames(image)
        client = relay()
        chosen = current_stream_id(client, stream_id)
        try:
            interval = _frame_interval(client, chosen) if len(frames) > 1 else 0.0
            started = time.monotonic()
            for index, (width, height, pixels) in enumerate(frames):
                # The relay keeps only the newest unsent frame, so a batch (a video clip) is
                # paced at the stream's frame rate instead of overwriting itself.
                delay = started + index * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                client.push_frame(chosen, pixels, width, height)
        except RelayError as error:
            raise explain(error, chosen) from error
        return io.NodeOutput(len(frames))


def _frame_interval(client: RelayClient, stream_id: str) -> float:
    settings = client.get_stream(stream_id).get("settings") or {}
    return 1.0 / max(1.0, float(settings.get("frame_rate") or 24))


class _LastFrames:
    """Per node and stream: the newest frame returned, to wait for a newer one next time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frames: dict[tuple[str, str], OutputFrame] = {}

    def get(self, key: tuple[str, str]) -> OutputFrame | None:
        with self._lock:
            return self._frames.get(key)

    def put(self, key: tuple[str, str], frame: OutputFrame) -> None:
        with self._lock:
            self._frames[key] = frame


_last = _LastFrames()


class FrameOutput(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RTCStreamFrameOutput",
            display_name="RTC Stream Frame Output",
            category=CATEGORY,
            description="The latest processed frame as IMAGE; optionally waits up to "
            "timeout_ms for one newer than the last run's.",
            inputs=[
                io.String.Input("whep_url", default="", optional=True),
                io.String.Input("stream_id", default="", optional=True),
                io.Boolean.Input("wait_for_new", default=True, optional=True),
                io.Int.Input(
                    "timeout_ms",
                    default=2000,
                    min=0,
                    max=25_000,
                    optional=True,
                    tooltip="How long to wait for a new frame (the relay waits at most 25 s).",
                ),
                # ComfyUI runs a ready output node first, so without a link from Frame Input
                # this node would wait for output before any frame went in.
                io.Int.Input(
                    "frames_sent",
                    optional=True,
                    force_input=True,
                    tooltip="Link Frame Input's frames_sent here so this node runs after the "
                    "frames were sent.",
                ),
            ],
            # whep_url_out: an output id may not repeat an input id; the slot shows "whep_url".
            outputs=[
                io.Image.Output("image", display_name="image"),
                io.String.Output("whep_url_out", display_name="whep_url"),
            ],
            hidden=[io.Hidden.unique_id],
            is_output_node=True,
        )

    @classmethod
    def fingerprint_inputs(cls, **inputs: Any) -> float:
        return math.nan  # a new frame every run

    @classmethod
    def execute(
        cls,
        whep_url: str = "",
        stream_id: str = "",
        wait_for_new: bool = True,
        timeout_ms: int = 2000,
        frames_sent: int | None = None,
    ) -> io.NodeOutput:
        client = relay()
        chosen = current_stream_id(client, stream_id)
        node = str(cls.hidden.unique_id) if cls.hidden else "output"
        key = (node, chosen)
        previous = _last.get(key)
        after = previous.sequence if previous and wait_for_new else 0
        try:
            frame = client.fetch_output(chosen, after=after, wait_ms=timeout_ms)
        except RelayError as error:
            raise explain(error, chosen) from error
        if frame is None:
            if previous is None:
                raise StreamNodeError(
                    f"no processed frame from stream {chosen} within {timeout_ms} ms: is a "
                    "ComfyUI tab open and the stream live? Raise timeout_ms while it warms up."
                )
            frame = previous
        _last.put(key, frame)
        image = tensors.from_rgb8(frame.pixels, frame.width, frame.height)
        return io.NodeOutput(image, whep_url)
