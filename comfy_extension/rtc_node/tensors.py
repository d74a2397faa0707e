"""IMAGE tensors ([B, H, W, C] float32 in 0..1) to and from packed RGB8 bytes.

Whole-array numpy operations only: a per-pixel Python loop costs seconds per 720p frame.
torch is optional; tensors are taken duck-typed (``.cpu().numpy()`` or ``__array__``).
"""

from __future__ import annotations

from collections.abc import Iterator
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


def to_rgb8_frames(
    image: Any, size: tuple[int, int] | None = None
) -> Iterator[tuple[int, int, bytes]]:
    """Each frame of the batch as ``(width, height, rgb8 bytes)``, converted (and copied off
    the GPU) only when it is asked for, so a long clip never exists twice in memory; ``size``
    (width, height) resizes. The shape is checked before the first frame is converted.
    """
    if not hasattr(image, "shape"):
        image = as_numpy(image)
    shape = tuple(image.shape)
    if len(shape) == 3:
        image, shape = image[None], (1, *shape)
    if len(shape) != 4 or shape[0] == 0:
        raise FrameShapeError(f"image: expected an IMAGE batch [B, H, W, C], got shape {shape}")
    _, height, width, channels = shape
    if channels not in (1, 3, 4):
        raise FrameShapeError(f"image: expected 1, 3 or 4 channels, got {channels}")
    if width == 0 or height == 0:
        raise FrameShapeError(f"image: frame size {width}x{height} is empty")
    return (_rgb8(as_numpy(image[index]), size) for index in range(shape[0]))


def _rgb8(frame: np.ndarray, size: tuple[int, int] | None) -> tuple[int, int, bytes]:
    import numpy as np

    if frame.shape[2] == 1:
        frame = np.repeat(frame, 3, axis=2)
    elif frame.shape[2] == 4:
        frame = frame[..., :3]
    height, width = frame.shape[:2]
    if size is not None and size != (width, height):
        was_bytes = frame.dtype == np.uint8
        width, height = size
        frame = _resized(frame, width, height)
        if was_bytes:
            frame *= np.float32(1.0 / 255.0)
    if frame.dtype == np.uint8:
        pixels = frame
    else:
        # Scale and round in one float32 buffer, then clip straight into the bytes (the clip
        # and the truncating cast in one pass): a third less time than a separate cast.
        scaled = np.multiply(frame, 255.0, dtype=np.float32)
        np.add(scaled, 0.5, out=scaled)
        pixels = np.empty(scaled.shape, dtype=np.uint8)
        np.clip(scaled, 0.0, 255.0, out=pixels, casting="unsafe")
    return width, height, np.ascontiguousarray(pixels).tobytes()


def _resized(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear resampling of one [H, W, C] frame with pixel centres aligned; float32 out."""
    import numpy as np

    def axis(source: int, target: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        centres = (np.arange(target, dtype=np.float32) + 0.5) * (source / target) - 0.5
        np.clip(centres, 0.0, source - 1, out=centres)
        low = centres.astype(np.intp)
        return low, np.minimum(low + 1, source - 1), centres - low

    rows_low, rows_high, row_weight = axis(frame.shape[0], height)
    cols_low, cols_high, col_weight = axis(frame.shape[1], width)
    values = frame.astype(np.float32, copy=False)
    col_weight = col_weight[None, :, None]
    top = values[rows_low]
    bottom = values[rows_high]
    top = top[:, cols_low] * (1 - col_weight) + top[:, cols_high] * col_weight
    bottom = bottom[:, cols_low] * (1 - col_weight) + bottom[:, cols_high] * col_weight
    row_weight = row_weight[:, None, None]
    return top * (1 - row_weight) + bottom * row_weight


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
