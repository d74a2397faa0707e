"""IMAGE tensor conversions: exact values, batches, channel counts, duck-typed tensors."""

from __future__ import annotations

import numpy as np
import pytest

from comfy_extension.rtc_node import tensors


def test_float_batch_becomes_one_rgb8_frame_per_image() -> None:
    image = np.zeros((2, 2, 3, 3), dtype=np.float32)
    image[0, 0, 0] = [1.0, 0.5, 0.0]
    image[1, 1, 2] = [0.2, 1.2, -0.3]  # out of range values are clamped
    frames = tensors.to_rgb8_frames(image)
    assert [(w, h, len(p)) for w, h, p in frames] == [(3, 2, 18), (3, 2, 18)]
    first = np.frombuffer(frames[0][2], np.uint8).reshape(2, 3, 3)
    assert first[0, 0].tolist() == [255, 128, 0]
    second = np.frombuffer(frames[1][2], np.uint8).reshape(2, 3, 3)
    assert second[1, 2].tolist() == [51, 255, 0]


def test_round_trip_is_exact_for_8_bit_values() -> None:
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, size=(1, 5, 7, 3), dtype=np.uint8)
    image = pixels.astype(np.float32) / 255.0
    ((width, height, data),) = tensors.to_rgb8_frames(image)
    back = np.asarray(tensors.from_rgb8(data, width, height))
    assert back.shape == (1, 5, 7, 3) and back.dtype == np.float32
    assert np.array_equal(np.round(back * 255).astype(np.uint8), pixels)


class FakeTensor:
    """Duck-typed like torch: detach().cpu().numpy()."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self.calls: list[str] = []

    def detach(self) -> FakeTensor:
        self.calls.append("detach")
        return self

    def cpu(self) -> FakeTensor:
        self.calls.append("cpu")
        return self

    def numpy(self) -> np.ndarray:
        self.calls.append("numpy")
        return self.array


def test_torch_like_tensors_are_read_through_cpu_numpy() -> None:
    fake = FakeTensor(np.full((1, 4, 4, 3), 0.5, dtype=np.float32))
    ((_, _, data),) = tensors.to_rgb8_frames(fake)
    assert fake.calls == ["detach", "cpu", "numpy"]
    assert set(data) == {128}


def test_grey_and_rgba_inputs_become_rgb() -> None:
    grey = tensors.to_rgb8_frames(np.ones((1, 2, 2, 1), np.float32))[0][2]
    assert len(grey) == 12 and set(grey) == {255}
    rgba = np.zeros((1, 1, 1, 4), np.float32)
    rgba[..., 3] = 1.0
    assert tensors.to_rgb8_frames(rgba)[0][2] == b"\x00\x00\x00"
    assert len(tensors.to_rgb8_frames(np.zeros((2, 3, 3), np.float32))) == 1  # [H, W, C]


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((4, 4), "expected an IMAGE batch [B, H, W, C], got shape (4, 4)"),
        ((0, 4, 4, 3), "got shape (0, 4, 4, 3)"),
        ((1, 4, 4, 2), "expected 1, 3 or 4 channels, got 2"),
        ((1, 0, 4, 3), "frame size 4x0 is empty"),
    ],
)
def test_bad_shapes_are_rejected_clearly(shape: tuple, message: str) -> None:
    with pytest.raises(tensors.FrameShapeError) as caught:
        tensors.to_rgb8_frames(np.zeros(shape, np.float32))
    assert message in str(caught.value)


def test_output_of_the_wrong_size_is_rejected() -> None:
    with pytest.raises(tensors.FrameShapeError, match="5 bytes for 2x1 rgb8, expected 6"):
        tensors.from_rgb8(b"\x00" * 5, 2, 1)
