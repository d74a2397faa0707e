"""The pack's nodes, in the order they appear in the add-node menu."""

from __future__ import annotations

from .frames import FrameInput, FrameOutput
from .pipeline import ControlNet, PipelineConfig
from .preview import Preview
from .stream import StartStream, StreamStatus, UpdateStream

CATEGORY = "RTC Stream"
NODES = (
    PipelineConfig,
    ControlNet,
    StartStream,
    UpdateStream,
    FrameInput,
    FrameOutput,
    StreamStatus,
    Preview,
)

__all__ = ["CATEGORY", "NODES"]
