"""Socket types and relay access shared by the nodes."""

from __future__ import annotations

from typing import Any

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


def current_stream_id(
    client: RelayClient, stream_id: str, listed: dict[str, Any] | None = None
) -> str:
    """The given id, else the relay's current stream; a clear error when there is none.

    ``listed`` is a ``GET /v1/streams`` answer the caller already has.
    """
    if stream_id and stream_id.strip():
        return stream_id.strip()
    current = (listed if listed is not None else client.list_streams()).get("current")
    if not current:
        raise StreamNodeError(
            "no RTC stream is running: start one with Start RTC Stream or the sidebar, "
            "or connect a stream_id"
        )
    return str(current)


def node_key(hidden: Any) -> tuple[str, str]:
    """(workflow id, node id) of the running node: node ids repeat across workflows.

    Needs ``io.Hidden.unique_id`` and ``io.Hidden.extra_pnginfo``; the frontend puts the
    saved workflow, with its ``id``, in ``extra_pnginfo``. An API prompt carries no workflow,
    so its nodes share the empty workflow id.
    """
    info = getattr(hidden, "extra_pnginfo", None)
    workflow = info.get("workflow") if isinstance(info, dict) else None
    workflow_id = workflow.get("id") if isinstance(workflow, dict) else None
    return str(workflow_id or ""), str(getattr(hidden, "unique_id", None) or "")


def throw_if_interrupted() -> None:
    """Raises ComfyUI's own interrupt exception once the user pressed Cancel."""
    import comfy.model_management

    comfy.model_management.throw_exception_if_processing_interrupted()


def no_publisher(stream_id: str, detail: str) -> StreamNodeError:
    return StreamNodeError(
        f"no browser tab is publishing stream {stream_id}: keep a ComfyUI tab open "
        f"(the RTC agent in the page sends the frames). {detail}"
    )


def explain(error: RelayError, stream_id: str) -> StreamNodeError:
    """Relay errors in the words a workflow author needs."""
    if error.code == "no_publisher":
        return no_publisher(stream_id, f"Relay said: {error.message}")
    if error.status == 404:
        return StreamNodeError(
            f"stream {stream_id} is gone (stopped or deleted); run Start RTC Stream again. "
            f"Relay said: {error.message}"
        )
    return StreamNodeError(f"relay error on stream {stream_id}: {error}")
