"""IMAGE tensor conversions: exact values, batches frame by frame, channel counts, resizing,
duck-typed tensors."""

from __future__ import annotations

import numpy as np
import pytest

from comfy_extension.rtc_node import tensors


def test_float_batch_becomes_one_rgb8_frame_per_image() -> None:
    image = np.zeros((2, 2, 3, 3), dtype=np.float32)
    image[0, 0, 0] = [1.0, 0.5, 0.0]
    image[1, 1, 2] = [0.2, 1.2, -0.3]  # out of range values are clamped
    frames = list(tensors.to_rgb8_frames(image))
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
    """Duck-typed like torch: ``shape``, indexing, detach().cpu().numpy(); records copies."""

    def __init__(self, array: np.ndarray, copies: list[tuple[int, ...]] | None = None) -> None:
        self.array = array
        self.shape = array.shape
        self.copies = [] if copies is None else copies

    def __getitem__(self, index: int) -> FakeTensor:
        return FakeTensor(self.array[index], self.copies)

    def detach(self) -> FakeTensor:
        return self

    def cpu(self) -> FakeTensor:
        self.copies.append(self.shape)
        return self

    def numpy(self) -> np.ndarray:
        return self.array


def test_torch_like_tensors_are_read_through_cpu_numpy() -> None:
    fake = FakeTensor(np.full((1, 4, 4, 3), 0.5, dtype=np.float32))
    ((_, _, data),) = tensors.to_rgb8_frames(fake)
    assert fake.copies == [(4, 4, 3)]
    assert set(data) == {128}


def test_a_batch_is_copied_and_converted_one_frame_at_a_time() -> None:
    fake = FakeTensor(np.zeros((3, 4, 4, 3), dtype=np.float32))
    frames = tensors.to_rgb8_frames(fake)
    assert fake.copies == []
    next(frames)
    assert fake.copies == [(4, 4, 3)]
    assert len(list(frames)) == 2
    assert fake.copies == [(4, 4, 3)] * 3


def test_grey_and_rgba_inputs_become_rgb() -> None:
    ((_, _, grey),) = tensors.to_rgb8_frames(np.ones((1, 2, 2, 1), np.float32))
    assert len(grey) == 12 and set(grey) == {255}
    rgba = np.zeros((1, 1, 1, 4), np.float32)
    rgba[..., 3] = 1.0
    assert next(tensors.to_rgb8_frames(rgba))[2] == b"\x00\x00\x00"
    assert len(list(tensors.to_rgb8_frames(np.zeros((2, 3, 3), np.float32)))) == 1  # [H, W, C]


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_frames_are_resized_to_the_requested_size(dtype: type) -> None:
    # Left half black, right half white: bilinear keeps the halves and blends the seam.
    frame = np.zeros((1, 4, 8, 3), np.float32)
    frame[..., 4:, :] = 1.0
    image = frame if dtype is np.float32 else (frame * 255).astype(np.uint8)
    ((width, height, data),) = tensors.to_rgb8_frames(image, (16, 2))
    assert (width, height) == (16, 2)
    pixels = np.frombuffer(data, np.uint8).reshape(2, 16, 3)
    assert pixels[:, :7].max() == 0 and pixels[:, 9:].min() == 255
    assert 0 < pixels[0, 7, 0] < 255 and 0 < pixels[0, 8, 0] < 255
    # The requested size equal to the frame's: no resampling, exact values.
    ((_, _, same),) = tensors.to_rgb8_frames(image, (8, 4))
    assert same == (frame * 255).astype(np.uint8).tobytes()


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
