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
            inputs=[],
            outputs=[],
        )

    @classmethod
    def execute(cls) -> io.NodeOutput:
        return io.NodeOutput()
