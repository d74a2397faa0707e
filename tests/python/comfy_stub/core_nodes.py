"""Stand-ins for the ComfyUI core nodes the examples use."""

from __future__ import annotations

from typing import Any

from comfy_api.latest import io


class EmptyImage(io.ComfyNode):
    """ComfyUI core's EmptyImage: a solid colour batch (colour as 0xRRGGBB)."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="EmptyImage",
            inputs=[
                io.Int.Input("width", default=512),
                io.Int.Input("height", default=512),
                io.Int.Input("batch_size", default=1),
                io.Int.Input("color", default=0),
            ],
            outputs=[io.Image.Output()],
        )

    @classmethod
    def execute(cls, width: int, height: int, batch_size: int, color: int) -> io.NodeOutput:
        # Imported here: the stand-in ComfyUI of the install tests runs without numpy.
        import numpy as np

        rgb = [(color >> 16) & 0xFF, (color >> 8) & 0xFF, color & 0xFF]
        image = np.empty((batch_size, height, width, 3), np.float32)
        image[...] = np.array(rgb, np.float32) / 255.0
        return io.NodeOutput(image)


class PreviewImage(io.ComfyNode):
    shown: list[Any] = []  # noqa: RUF012 - test record

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PreviewImage", inputs=[io.Image.Input("images")], is_output_node=True
        )

    @classmethod
    def execute(cls, images: Any) -> io.NodeOutput:
        cls.shown.append(images)
        return io.NodeOutput()


class PreviewAny(io.ComfyNode):
    """ComfyUI core's PreviewAny: shows any value."""

    shown: list[Any] = []  # noqa: RUF012 - test record

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PreviewAny", inputs=[io.Custom("*").Input("source")], is_output_node=True
        )

    @classmethod
    def execute(cls, source: Any) -> io.NodeOutput:
        cls.shown.append(source)
        return io.NodeOutput()


CORE_NODES = [EmptyImage, PreviewImage, PreviewAny]
