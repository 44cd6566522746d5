"""The preprocessing that comes with the weights equals what the evaluation protocols feed the
encoder, and the one normalisation refuses input that is not uint8."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from skipclip.data import ClipDataset
from skipclip.errors import InvalidInputError
from skipclip.models.normalize import normalize
from skipclip.models.preprocess import Preprocess


class Frames:
    """One video of random frames (T x 40 x 64), labelled 0."""

    classes = ["a"]

    def __init__(self, frames: np.ndarray):
        self.frames = frames

    def __len__(self):
        return 1

    def num_frames(self, index):
        return len(self.frames)

    def read(self, index, frames):
        return self.frames[list(frames)]

    def label(self, index):
        return 0

    def name(self, index):
        return "v"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.int64])
def test_normalize_refuses_anything_but_uint8(dtype):
    clip = torch.rand(1, 3, 2, 4, 4).to(dtype)
    with pytest.raises(InvalidInputError, match=r"uint8.*\(x \* 255\)\.round\(\)\.to\(torch\.uint8\)"):
        normalize(clip, channel_dim=1)


def test_preprocess_is_the_test_windows_pipeline():
    frames = np.random.default_rng(0).integers(0, 256, (24, 40, 64, 3), dtype=np.uint8)
    pre = Preprocess(frames=8, crop_size=24, short_side=28)
    ds = ClipDataset(Frames(frames), 8, 24, 28, train=False)
    assert len(ds) == 3  # the non-overlapping windows
    for i, (_, start) in enumerate(ds.items):
        want = ds[i]["clip"]  # 3 x T x S x S uint8
        got = pre.crop(frames[start : start + 8])
        assert got.dtype == torch.uint8 and torch.equal(got, want)
        torch.testing.assert_close(pre(frames[start : start + 8]), normalize(want[None], 1)[0], rtol=0, atol=0)
    batch = pre(np.stack([frames[:8], frames[8:16]]))
    assert batch.shape == (2, 3, 8, 24, 24) and batch.dtype == torch.float32


def test_preprocess_refuses_floats_and_wrong_layouts():
    pre = Preprocess(frames=4, crop_size=8, short_side=8)
    with pytest.raises(InvalidInputError, match="uint8"):
        pre(np.random.rand(4, 8, 8, 3))
    with pytest.raises(InvalidInputError, match=r"\(T, H, W, 3\)"):
        pre(torch.zeros(4, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(InvalidInputError, match="larger than short_side"):
        Preprocess(frames=4, crop_size=16, short_side=8)
