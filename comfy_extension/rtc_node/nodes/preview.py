"""RTC Stream UI: a node the web extension turns into a live WHEP preview."""

from __future__ import annotations

from comfy_api.latest import io

from .common import CATEGORY


class Preview(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="RTCStreamUIPreview",
            display_name="RTC Stream UI",
            category=CATEGORY,
            description="Live preview of the processed stream inside the graph.",
            inputs=[
                # A socket only: a widget here would come before the frontend's own widgets
                # and shift the values saved workflows hold for them.
                io.String.Input(
                    "stream_id",
                    optional=True,
                    force_input=True,
                    tooltip="Show this stream (link Start RTC Stream's stream_id); "
                    "unlinked, the node's stream selector decides.",
                ),
            ],
            outputs=[],
            # Runs when queued, so a linked stream_id reaches the preview.
            is_output_node=True,
        )

    @classmethod
    def execute(cls, stream_id: str | None = None) -> io.NodeOutput:
        chosen = (stream_id or "").strip()
        return io.NodeOutput(ui={"rtc_stream": [chosen]} if chosen else None)
