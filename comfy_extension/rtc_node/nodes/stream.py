"""Start, Update and Status: the stream's life cycle from the graph.

ComfyUI re-runs a node when its own fingerprint or anything upstream changes; linked inputs
are not visible to ``fingerprint_inputs``. So Start is re-run by an upstream config change,
or by its fingerprint when a stream it made has gone away; ``execute`` then decides from its
own record whether the stream can be kept, patched or must be made anew.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from comfy_api.latest import io

from .. import params, runtime
from ..notify import toast
from ..proxy import PREFIX
from ..relay_client import RelayError
from .common import (
    CATEGORY,
    PipelineConfigType,
    StreamNodeError,
    current_stream_id,
    explain,
    node_key,
    relay,
)

GONE_STATES = frozenset({"stopping", "error"})


@dataclass
class StartedStream:
    """What a Start node made: enough to reuse, patch or replace it on the next run."""

    stream_id: str
    settings_key: str
    config: dict[str, Any]
    outputs: tuple[str, str, str, str]


# Keyed by (workflow id, node id): node ids such as "3" repeat across workflows.
_started: dict[tuple[str, str], StartedStream] = {}
_gone: set[str] = set()
_started_lock = threading.Lock()


def _proxied(route: Any) -> str:
    """A relay route (the relay never reveals the upstream URLs, which carry the stream key)
    as a page on ComfyUI's origin reaches it: through the pack's proxy."""
    return PREFIX + str(route).lstrip("/") if route else ""


def _outputs(stream: dict[str, Any]) -> tuple[str, str, str, str]:
    return (
        str(stream.get("id") or ""),
        str(stream.get("playback_id") or ""),
        _proxied(stream.get("whip_url")),
        _proxied(stream.get("whep_url")),
    )


def _alive(stream: dict[str, Any] | None) -> bool:
    return stream is not None and stream.get("state") not in GONE_STATES


class StartStream(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="StartRTCStream",
            display_name="Start RTC Stream",
            category=CATEGORY,
            description="Creates the stream once and keeps it across runs. A new stream is "
            "made only when the name or frame settings change, or when the stream is gone; "
            "other config changes go to the running stream, which takes prompt, seed, "
            "guidance, delta, steps, t_index_list and ControlNet scales live and reloads its "
            "pipeline for the rest.",
            inputs=[
                PipelineConfigType.Input("pipeline_config"),
                io.String.Input("stream_name", default="comfyui-livestream", optional=True),
                io.Int.Input(
                    "fps",
                    **params.frame_widget("frame_rate"),
                    optional=True,
                    tooltip="Frames per second sent to the service (Daydream caps input at 24).",
                ),
                io.Int.Input(
                    "width",
                    **params.frame_widget("width"),
                    optional=True,
                    tooltip="Frame size sent over WebRTC; wire it from Pipeline Config.",
                ),
                io.Int.Input("height", **params.frame_widget("height"), optional=True),
                io.Boolean.Input(
                    "enabled", default=True, label_on="Enabled", label_off="Disabled", optional=True
                ),
                io.Boolean.Input(
                    "stop_stream",
                    default=False,
                    label_on="Stop stream",
                    label_off="Idle",
                    optional=True,
                    tooltip="While on, the stream this node started is stopped and none is "
                    "started.",
                ),
            ],
            outputs=[
                io.String.Output("stream_id", display_name="stream_id"),
                io.String.Output("playback_id", display_name="playback_id"),
                io.String.Output("whip_url", display_name="whip_url"),
                io.String.Output("whep_url", display_name="whep_url"),
            ],
            hidden=[io.Hidden.unique_id, io.Hidden.extra_pnginfo],
            is_output_node=True,
        )

    @classmethod
    def fingerprint_inputs(cls, **inputs: Any) -> Any:
        # Grows when a stream made by a Start node disappears, so the node runs again; it
        # never shrinks, so the run after the replacement is served from the cache.
        with _started_lock:
            ours = {record.stream_id for record in _started.values()} - _gone
        if ours:
            try:
                listed = relay().list_streams().get("streams", [])
            except (RelayError, StreamNodeError):
                return float("nan")
            live = {s.get("id") for s in listed if _alive(s)}
            with _started_lock:
                _gone.update(ours - live)
        return (len(_gone), sorted(inputs.items()))

    @classmethod
    def execute(
        cls,
        pipeline_config: dict[str, Any],
        stream_name: str = "comfyui-livestream",
        fps: int = params.FRAME["frame_rate"]["default"],
        width: int = params.FRAME["width"]["default"],
        height: int = params.FRAME["height"]["default"],
        enabled: bool = True,
        stop_stream: bool = False,
    ) -> io.NodeOutput:
        node = node_key(cls.hidden)
        if stop_stream:
            return io.NodeOutput(*cls._stop(node))
        with _started_lock:
            record = _started.get(node)
        if not enabled:
            return io.NodeOutput(*(record.outputs if record else ("", "", "", "")))
        client = relay()
        settings = {"frame_rate": fps, "width": width, "height": height}
        name = stream_name.strip() or "comfyui-livestream"
        settings_key = params.fingerprint({"name": name, "settings": settings})

        existing = None
        if record is not None:
            try:
                existing = client.get_stream(record.stream_id)
            except RelayError as error:
                if error.status != 404:
                    raise explain(error, record.stream_id) from error
        if record is not None and _alive(existing) and record.settings_key == settings_key:
            if record.config == pipeline_config:
                return io.NodeOutput(*record.outputs)
            # The relay decides what the running stream takes live and what reloads it.
            return io.NodeOutput(*cls._patch(record, pipeline_config))
        if record is not None and _alive(existing):
            # Replaced, not leaked: a stream left running keeps costing on the cloud backend.
            try:
                client.delete_stream(record.stream_id)
            except RelayError:
                pass
        try:
            stream = client.create_stream(
                {"name": name, "pipeline_config": pipeline_config, **settings}
            )
        except RelayError as error:
            toast("error", "Stream Start Failed", error.message)
            raise StreamNodeError(f"could not start the stream: {error}") from error
        if not stream.get("lease"):
            # No tab took it: the headless agent's browser starts while the stream warms up.
            runtime.headless().demand()
        outputs = _outputs(stream)
        with _started_lock:
            _started[node] = StartedStream(outputs[0], settings_key, pipeline_config, outputs)
        toast("success", "Stream Started", f"Stream ID: {outputs[0]}")
        return io.NodeOutput(*outputs)

    @classmethod
    def _stop(cls, node: tuple[str, str]) -> tuple[str, str, str, str]:
        with _started_lock:
            record = _started.get(node)
        if record is None:
            toast(
                "info",
                "No Stream To Stop",
                "stop_stream stops only a stream this Start node started, and it has none "
                "running; stop other streams from the RTC Stream sidebar.",
            )
            return ("", "", "", "")
        try:
            relay().delete_stream(record.stream_id)
        except RelayError as error:
            if error.status != 404:
                toast("error", "Stream Stop Failed", error.message)
                raise explain(error, record.stream_id) from error
        with _started_lock:
            _started.pop(node, None)
        toast("info", "Stream Stopped", f"Stream {record.stream_id} stopped")
        return ("", "", "", "")

    @classmethod
    def _patch(cls, record: StartedStream, config: dict[str, Any]) -> tuple[str, str, str, str]:
        try:
            stream = relay().update_stream(record.stream_id, config)
        except RelayError as error:
            toast("error", "Update Failed", error.message)
            raise explain(error, record.stream_id) from error
        record.config = config
        record.outputs = _outputs(stream)
        toast("success", *update_message(stream, record.stream_id))
        return record.outputs


def update_message(stream: dict[str, Any], stream_id: str) -> tuple[str, str]:
    """Toast summary and detail for an accepted PATCH, honest about the local backend."""
    reload = (stream.get("update") or {}).get("reload") or []
    if reload:
        return (
            "Pipeline Reloading",
            f"Stream {stream_id}: {', '.join(reload)} changed, so the service reloads the "
            "pipeline; the output pauses for a few seconds.",
        )
    if stream.get("backend") == "local":
        return (
            "Update Accepted (local)",
            f"Stream {stream_id}: the local backend applied the parameters to its stand-in "
            "effect, a picture filter rather than diffusion; use the Daydream backend "
            "(RTC Node settings) for the real pipeline.",
        )
    return "Pipeline Updated", f"Stream {stream_id} parameters updated"


class UpdateStream(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="UpdateRTCStream",
            display_name="Update RTC Stream",
            category=CATEGORY,
            description="Sends the pipeline config to the stream (the current one when "
            "stream_id is not linked). Runs only when the config or the seed changes; set the "
            "seed to randomize to update on every run.",
            # Widgets in the original order (enabled), new ones after it, so saved values
            # keep their meaning; the frontend lists required widgets before optional ones.
            inputs=[
                PipelineConfigType.Input("pipeline_config"),
                io.String.Input(
                    "stream_id",
                    default="",
                    force_input=True,
                    optional=True,
                    tooltip="Link Start's stream_id; unlinked, the relay's current stream.",
                ),
                io.Boolean.Input("enabled", default=True, optional=True),
                io.Int.Input(
                    "seed",
                    default=0,
                    min=0,
                    max=params.SEED_MAX,
                    control_after_generate=True,
                    optional=True,
                    tooltip="Replaces the config's seed; with randomize every run updates.",
                ),
            ],
            outputs=[
                io.Boolean.Output("updated", display_name="updated"),
                io.String.Output("status", display_name="status"),
            ],
            is_output_node=True,
        )

    @classmethod
    def fingerprint_inputs(cls, **inputs: Any) -> Any:
        return sorted(inputs.items())

    @classmethod
    def execute(
        cls,
        pipeline_config: dict[str, Any],
        stream_id: str = "",
        enabled: bool = True,
        seed: int = 0,
    ) -> io.NodeOutput:
        if not enabled:
            return io.NodeOutput(False, "disabled")
        params.check_range("seed", seed, 0, params.SEED_MAX)
        config = {
            "pipeline": pipeline_config.get("pipeline", params.PIPELINE),
            "params": {**pipeline_config.get("params", {}), "seed": seed},
        }
        try:
            client = relay()
            chosen = current_stream_id(client, stream_id)
        except StreamNodeError as error:
            toast("warn", "Update Skipped", str(error))
            return io.NodeOutput(False, f"skipped: {error}")
        try:
            stream = client.update_stream(chosen, config)
        except RelayError as error:
            if error.status in (404, 409):
                toast("warn", "No Active Stream", error.message)
            else:
                toast("error", "Update Failed", error.message)
            return io.NodeOutput(False, f"failed: {error.message}")
        toast("success", *update_message(stream, chosen))
        if stream.get("backend") == "local":
            return io.NodeOutput(True, "updated (local backend: stand-in effect, not diffusion)")
        return io.NodeOutput(True, "updated")


class StreamStatus(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RTCStreamStatus",
            display_name="RTC Stream Status",
            category=CATEGORY,
            description="State and counters of a stream (the current one when stream_id is "
            "empty). Connect stream_id from Start to run after it.",
            inputs=[
                io.String.Input("stream_id", default="", optional=True),
                io.Float.Input(
                    "refresh_interval",
                    default=5.0,
                    min=0.0,
                    max=3600.0,
                    step=0.5,
                    optional=True,
                    tooltip="Seconds a result is reused; 0 queries the relay on every run.",
                ),
            ],
            outputs=[
                io.Boolean.Output("running", display_name="running"),
                # An output id may not repeat an input id (ComfyUI refuses the node).
                io.String.Output("stream_id_out", display_name="stream_id"),
                io.String.Output("playback_id", display_name="playback_id"),
                io.String.Output("whep_url", display_name="whep_url"),
                io.Int.Output("frames_sent", display_name="frames_sent"),
                io.Int.Output("queue_depth", display_name="queue_depth"),
                io.String.Output("status_json", display_name="status_json"),
                # New outputs go after the original's, so saved links keep their outputs.
                io.String.Output("whip_url", display_name="whip_url"),
            ],
        )

    @classmethod
    def fingerprint_inputs(cls, refresh_interval: float = 5.0, **inputs: Any) -> Any:
        if refresh_interval <= 0:
            return float("nan")
        return (int(time.time() // refresh_interval), sorted(inputs.items()))

    @classmethod
    def execute(cls, stream_id: str = "", refresh_interval: float = 5.0) -> io.NodeOutput:
        try:
            client = relay()
            chosen = current_stream_id(client, stream_id)
            stream = client.get_stream(chosen)
        except (RelayError, StreamNodeError) as error:
            status = {"running": False, "error": str(error)}
            return io.NodeOutput(False, stream_id, "", "", 0, 0, json.dumps(status, indent=2), "")
        frames = stream.get("frames") or {}
        running = stream.get("state") not in GONE_STATES
        chosen, playback_id, whip_url, whep_url = _outputs(stream)
        return io.NodeOutput(
            running,
            chosen,
            playback_id,
            whep_url,
            int(frames.get("sent", 0)),
            int(frames.get("queue_depth", 0)),
            json.dumps(stream, indent=2),
            whip_url,
        )
