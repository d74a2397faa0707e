"""IMAGE tensors ([B, H, W, C] float32 in 0..1) to and from packed RGB8 bytes.

Whole-array numpy operations only: a per-pixel Python loop costs seconds per 720p frame.
torch is optional; tensors are taken duck-typed (``.cpu().numpy()`` or ``__array__``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


class FrameShapeError(ValueError):
    """The IMAGE input does not have a shape that can be sent."""


def as_numpy(image: Any) -> np.ndarray:
    import numpy as np

    if hasattr(image, "detach"):
        image = image.detach()
    if hasattr(image, "cpu"):
        image = image.cpu()
    if hasattr(image, "numpy"):
        image = image.numpy()
    return np.asarray(image)


def to_rgb8_frames(image: Any) -> list[tuple[int, int, bytes]]:
    """Every frame of the batch as ``(width, height, rgb8 bytes)``."""
    import numpy as np

    array = as_numpy(image)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[0] == 0:
        raise FrameShapeError(
            f"image: expected an IMAGE batch [B, H, W, C], got shape {tuple(array.shape)}"
        )
    _, height, width, channels = array.shape
    if channels == 1:
        array = np.repeat(array, 3, axis=3)
    elif channels == 4:
        array = array[..., :3]
    elif channels != 3:
        raise FrameShapeError(f"image: expected 1, 3 or 4 channels, got {channels}")
    if width == 0 or height == 0:
        raise FrameShapeError(f"image: frame size {width}x{height} is empty")
    if array.dtype == np.uint8:
        pixels = array
    else:
        # Scale in float32 in place of a temporary per step, then one rounding cast.
        scaled = np.multiply(array, 255.0, dtype=np.float32)
        np.clip(scaled, 0.0, 255.0, out=scaled)
        np.add(scaled, 0.5, out=scaled)
        pixels = scaled.astype(np.uint8)
    pixels = np.ascontiguousarray(pixels)
    return [(width, height, frame.tobytes()) for frame in pixels]


def from_rgb8(pixels: bytes, width: int, height: int) -> Any:
    """Packed RGB8 → IMAGE [1, H, W, 3] float32; a torch tensor when torch is present."""
    import numpy as np

    expected = width * height * 3
    if len(pixels) != expected:
        raise FrameShapeError(
            f"output frame: {len(pixels)} bytes for {width}x{height} rgb8, expected {expected}"
        )
    array = np.frombuffer(pixels, dtype=np.uint8).reshape(1, height, width, 3)
    image = np.multiply(array, np.float32(1.0 / 255.0), dtype=np.float32)
    return _to_torch(image)


def blank(width: int, height: int) -> Any:
    import numpy as np

    return _to_torch(np.zeros((1, height, width, 3), dtype=np.float32))


def _to_torch(array: np.ndarray) -> Any:
    try:
        import torch
    except ImportError:
        return array
    return torch.from_numpy(array)
