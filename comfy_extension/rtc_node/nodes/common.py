"""Socket types and relay access shared by the nodes."""

from __future__ import annotations

from comfy_api.latest import io

from .. import runtime
from ..relay_client import RelayClient, RelayError
from ..supervisor import RelayStartError

CATEGORY = "RTC Stream"
PipelineConfigType = io.Custom("PIPELINE_CONFIG")
ControlNetConfigType = io.Custom("CONTROLNET_CONFIG")


class StreamNodeError(RuntimeError):
    """Shown by ComfyUI on the node; the message says what to do."""


def relay() -> RelayClient:
    try:
        return runtime.client()
    except RelayStartError as error:
        raise StreamNodeError(f"RTC relay is not running: {error}") from error


def current_stream_id(client: RelayClient, stream_id: str) -> str:
    """The given id, else the relay's current stream; a clear error when there is none."""
    if stream_id.strip():
        return stream_id.strip()
    current = client.list_streams().get("current")
    if not current:
        raise StreamNodeError(
            "no RTC stream is running: start one with Start RTC Stream or the sidebar, "
            "or connect a stream_id"
        )
    return str(current)


def explain(error: RelayError, stream_id: str) -> StreamNodeError:
    """Relay errors in the words a workflow author needs."""
    if error.code == "no_publisher":
        return StreamNodeError(
            f"no browser tab is publishing stream {stream_id}: keep a ComfyUI tab open "
            f"(the RTC agent in the page sends the frames). Relay said: {error.message}"
        )
    if error.status == 404:
        return StreamNodeError(
            f"stream {stream_id} is gone (stopped or deleted); run Start RTC Stream again. "
            f"Relay said: {error.message}"
        )
    return StreamNodeError(f"relay error on stream {stream_id}: {error}")
