"""Frame Input and Frame Output: raw pixels between the graph and the relay.

Both run on every queue: ``fingerprint_inputs`` returns a new NaN object per call. ComfyUI
keeps that value in the node's cache key and compares keys as Python does (``is`` before
``==``), so the same NaN object every time (``math.nan``) would serve an identical re-queue
from the cache.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from comfy_api.latest import io

from .. import runtime, tensors
from ..headless import describe
from ..notify import toast
from ..relay_client import OutputFrame, RelayClient, RelayError
from .common import (
    CATEGORY,
    StreamNodeError,
    current_stream_id,
    explain,
    no_publisher,
    node_key,
    relay,
    throw_if_interrupted,
)

# A stream made in the same prompt has no publisher until a tab's agent takes its lease.
PUBLISHER_GRACE_S = 5.0
# How long a headless agent that is starting or running gets to take it: a browser's start.
HEADLESS_GRACE_S = 30.0
# Frame Output waits in slices this long so Cancel is noticed while it waits.
WAIT_SLICE_MS = 250
# The relay's default frame size, for a black frame when no stream says otherwise.
DEFAULT_SIZE = (512, 512)


class FrameInput(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RTCStreamFrameInput",
            display_name="RTC Stream Frame Input",
            category=CATEGORY,
            description="Sends every frame of the IMAGE batch to the stream (the current "
            "one when stream_id is empty), resized to the stream's width and height. A "
            "ComfyUI tab publishes them, or a headless browser the pack starts when no tab is "
            "open. With no stream running it warns and sends nothing.",
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
        return float("nan")  # a new object per call: every run sends its frames

    @classmethod
    def execute(cls, image: Any, enabled: bool = True, stream_id: str = "") -> io.NodeOutput:
        if not enabled:
            return io.NodeOutput(0)
        client = relay()
        try:
            chosen = current_stream_id(client, stream_id)
        except StreamNodeError as error:
            # Saved workflows start their stream in the same queue, and ComfyUI may run this
            # node before Start; the original node warned and went on, so this one does too.
            toast("warn", "No Stream Running", f"Frame Input sent nothing: {error}")
            return io.NodeOutput(0)
        try:
            published = _published(client, chosen)
            why = _media_failing(published)
            # The frames still go to the publisher, which keeps retrying: said once per cause,
            # not on every run of a looping workflow.
            if why and _warned.get(chosen) != why:
                toast("warn", "Frames Not Reaching The Backend", f"Frame Input: {why}")
            _warned[chosen] = why
            settings = published.get("settings") or {}
            size = (int(settings["width"]), int(settings["height"]))
            interval = 1.0 / max(1.0, float(settings.get("frame_rate") or 24))
            sent = 0
            started = time.monotonic()
            for width, height, pixels in tensors.to_rgb8_frames(image, size):
                throw_if_interrupted()
                # The relay keeps only the newest unsent frame, so a batch (a video clip) is
                # paced at the stream's frame rate instead of overwriting itself.
                delay = started + sent * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                client.push_frame(chosen, pixels, width, height)
                sent += 1
        except RelayError as error:
            raise explain(error, chosen) from error
        return io.NodeOutput(sent)


# Per stream, the publisher error Frame Input last warned about.
_warned: dict[str, str] = {}


def _published(client: RelayClient, stream_id: str) -> dict[str, Any]:
    """The stream once an agent holds its publisher lease; a stream started in the same
    queue gets a moment, and the headless agent is asked to stand in for a missing tab.
    Checked before sending: the relay refuses a frame without a publisher before reading it,
    which breaks the connection under a large frame."""
    started = time.monotonic()
    headless: dict[str, Any] | None = None
    while True:
        stream = client.get_stream(stream_id)
        if stream.get("lease"):
            return stream
        headless = runtime.headless().demand() if headless is None else runtime.headless().status()
        standing_in = headless["state"] in ("starting", "running")
        waited = time.monotonic() - started
        if waited > (HEADLESS_GRACE_S if standing_in else PUBLISHER_GRACE_S):
            raise no_publisher(
                stream_id, f"No tab took the stream within {waited:.0f} s." + describe(headless)
            )
        throw_if_interrupted()
        time.sleep(0.1)  # the relay has no wait-for-lease call; poll it with a deadline


class _LastFrames:
    """Per node and stream: the newest frame returned, to wait for a newer one next time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frames: dict[tuple[tuple[str, str], str], OutputFrame] = {}

    def get(self, key: tuple[tuple[str, str], str]) -> OutputFrame | None:
        with self._lock:
            return self._frames.get(key)

    def put(self, key: tuple[tuple[str, str], str], frame: OutputFrame) -> None:
        with self._lock:
            self._frames[key] = frame

    def keep_streams(self, live: set[str]) -> None:
        """Releases the frames of streams that no longer exist (a frame can be megabytes)."""
        with self._lock:
            self._frames = {k: f for k, f in self._frames.items() if k[1] in live}

    def __len__(self) -> int:
        with self._lock:
            return len(self._frames)


_last = _LastFrames()


class FrameOutput(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RTCStreamFrameOutput",
            display_name="RTC Stream Frame Output",
            category=CATEGORY,
            description="The latest processed frame as IMAGE. With wait_for_new it waits up "
            "to timeout_ms for a frame newer than the one it returned last; fresh says "
            "whether it got one (false: the same frame again, or a black frame with a "
            "warning while no stream runs or none has come back yet).",
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
                    tooltip="How long to wait for a new frame.",
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
                io.Boolean.Output("fresh", display_name="fresh"),
            ],
            hidden=[io.Hidden.unique_id, io.Hidden.extra_pnginfo],
            is_output_node=True,
        )

    @classmethod
    def fingerprint_inputs(cls, **inputs: Any) -> float:
        return float("nan")  # a new object per call: a new frame every run

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
        try:
            listed = client.list_streams()
        except RelayError as error:
            raise StreamNodeError(f"relay error: {error}") from error
        streams = {str(s.get("id")): s for s in listed.get("streams", [])}
        _last.keep_streams(set(streams))
        try:
            chosen = current_stream_id(client, stream_id, listed)
        except StreamNodeError as error:
            # Saved workflows start their stream in the same queue, maybe after this node.
            toast("warn", "No Stream Running", f"Frame Output returned a black frame: {error}")
            return io.NodeOutput(tensors.blank(*DEFAULT_SIZE), whep_url, False)
        key = (node_key(cls.hidden), chosen)
        previous = _last.get(key)
        after = previous.sequence if previous is not None else 0
        frame = _newest_after(client, chosen, after if wait_for_new else 0, timeout_ms)
        fresh = frame is not None and (previous is None or frame.sequence > previous.sequence)
        if frame is None and previous is None:
            toast(
                "warn",
                "No Processed Frame",
                f"no processed frame from stream {chosen} within {timeout_ms} ms, so a black "
                "frame: is a ComfyUI tab open and a frame sent? Raise timeout_ms while the "
                "stream warms up." + _why_no_frames(client, chosen),
            )
            settings = streams.get(chosen, {}).get("settings") or {}
            size = (settings.get("width"), settings.get("height"))
            return io.NodeOutput(
                tensors.blank(*(size if all(size) else DEFAULT_SIZE)), whep_url, False
            )
        if frame is None and wait_for_new:
            reason = _why_no_frames(client, chosen)
            if reason:
                toast("warn", "Stale Frame", f"Frame Output repeated its last frame.{reason}")
        frame = frame or previous
        _last.put(key, frame)
        image = tensors.from_rgb8(frame.pixels, frame.width, frame.height)
        return io.NodeOutput(image, whep_url, fresh)


def _why_no_frames(client: RelayClient, stream_id: str) -> str:
    """What the stream's browser agent reported about playing the output back, if anything
    explains why no processed frame came (a browser that cannot read video frames, a lost
    publisher)."""
    try:
        stream = client.get_stream(stream_id)
    except RelayError:
        return ""
    why = _media_failing(stream)
    if why:
        return f" {why}"
    player = stream.get("player") or {}
    if player.get("error"):
        return f" The browser playing the output back reports: {player['error']}"
    if not stream.get("lease"):
        return " No browser tab publishes this stream: open ComfyUI in a browser tab."
    return ""


def _media_failing(stream: dict[str, Any]) -> str:
    """Why the publishing tab's media does not reach the backend, as its agent reported it
    (e.g. MEDIA_UNREACHABLE with the addresses tried and what to do), or ""."""
    publisher = stream.get("publisher") or {}
    error = publisher.get("error")
    if not error:
        return ""
    return f"The browser publishing the stream reports: {error}"


def _newest_after(
    client: RelayClient, stream_id: str, after: int, timeout_ms: int
) -> OutputFrame | None:
    """The relay's newest frame after sequence ``after``, waiting up to ``timeout_ms``."""
    deadline = time.monotonic() + timeout_ms / 1000.0
    try:
        while True:
            left_ms = max(0, int((deadline - time.monotonic()) * 1000))
            frame = client.fetch_output(stream_id, after=after, wait_ms=min(left_ms, WAIT_SLICE_MS))
            if frame is not None or left_ms <= WAIT_SLICE_MS:
                return frame
            throw_if_interrupted()
    except RelayError as error:
        raise explain(error, stream_id) from error
