"""Invariants of the Skip-Clip pretext sampler (paper section 3.1)."""

import numpy as np
import pytest
import torch

from skipclip.data.sampling.pretext import PretextDataset
from skipclip.data.sampling.window import PretextWindow
from skipclip.data.sources.base import VideoReadError
from skipclip.data.sources.synthetic import SyntheticSource

from helpers import FakeSource


@pytest.mark.parametrize("k,m,r,d", [(16, 8, 4, 1), (8, 4, 2, 1), (3, 2, 1, 1), (4, 3, 3, 2)])
def test_targets_after_context_and_r_apart(k, m, r, d):
    w = PretextWindow(k, m, r, d)
    assert w.length == k + m * r + d - 1
    rng = np.random.default_rng(0)
    for n in (w.length, w.length + 1, w.length + 37):
        for _ in range(50):
            ctx, tgt = w.sample(n, rng)
            assert ctx.shape == (k,) and tgt.shape == (m, d)
            assert np.all(np.diff(ctx) == 1)  # contiguous context
            assert tgt[0, 0] == ctx[-1] + r  # first target r frames after the context
            assert np.all(np.diff(tgt[:, 0]) == r)  # then every r frames
            assert np.all(np.diff(tgt, axis=1) == 1)  # d contiguous frames per target
            assert tgt.min() > ctx.max()  # strictly after the context
            assert ctx.min() >= 0 and tgt.max() <= n - 1  # nothing past the end


def test_start_covers_every_valid_position():
    w = PretextWindow(4, 2, 2)
    rng = np.random.default_rng(0)
    starts = {int(w.sample(w.length + 3, rng)[0][0]) for _ in range(400)}
    assert starts == {0, 1, 2, 3}


def test_reversal_reverses():
    w = PretextWindow(5, 3, 2)
    n = 30
    ctx_f, tgt_f = w.sample(n, np.random.default_rng(1), reverse=False)
    ctx_r, tgt_r = w.sample(n, np.random.default_rng(1), reverse=True)
    assert np.array_equal(ctx_r, n - 1 - ctx_f)
    assert np.array_equal(tgt_r, n - 1 - tgt_f)
    # in the reversed video, time runs backwards: targets precede the context in file order
    assert np.all(np.diff(ctx_r) == -1) and tgt_r.max() < ctx_r.min()
    assert tgt_r[0, 0] == ctx_r[-1] - 2


def test_too_short_raises():
    w = PretextWindow(8, 4, 2)
    with pytest.raises(ValueError, match="shorter than the pretext window"):
        w.sample(w.length - 1, np.random.default_rng(0))


@pytest.mark.parametrize(
    "bad", [dict(context_frames=0), dict(num_targets=1), dict(sampling_rate=0), dict(target_length=0)]
)
def test_bad_window_values(bad):
    args = dict(context_frames=4, num_targets=3, sampling_rate=1, target_length=1) | bad
    with pytest.raises(ValueError, match=next(iter(bad))):
        PretextWindow(**args)


def test_dataset_reads_the_sampled_frames_and_skips_short_videos():
    w = PretextWindow(4, 3, 2)
    src = FakeSource([w.length - 1, w.length, 40, 5])
    ds = PretextDataset(src, w, crop_size=16, reverse_prob=0.5, seed=3)
    assert ds.valid == [1, 2] and ds.too_short == ["v0", "v3"]
    for epoch in range(3):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            s = ds[i]
            ctx = s["context"][0, :, 0, 0].long()  # K frame indices
            tgt = s["targets"][:, 0, 0, 0, 0].long()  # M
            assert s["context"].shape == (3, 4, 16, 16) and s["targets"].shape == (3, 1, 3, 16, 16)
            step = int(ctx[1] - ctx[0])
            assert step in (1, -1)
            assert torch.all(ctx.diff() == step)
            assert torch.all(tgt.diff() == 2 * step)
            assert int(tgt[0] - ctx[-1]) == 2 * step
    assert all(i in (1, 2) for i, _ in src.reads)


def test_dataset_is_deterministic_and_changes_with_epoch():
    src = SyntheticSource(num_classes=3, videos_per_class=2, frames=24, size=32)
    ds = PretextDataset(src, PretextWindow(4, 3, 2), crop_size=24, seed=0)
    a, b = ds[2], ds[2]
    assert torch.equal(a["context"], b["context"]) and torch.equal(a["targets"], b["targets"])
    ds.set_epoch(1)
    c = ds[2]
    assert not torch.equal(a["context"], c["context"])


def test_crop_and_flip_are_shared_by_context_and_targets():
    class Gradient(FakeSource):
        def read(self, i, frames):
            x = np.arange(24, dtype=np.uint8)[None, None, :, None] * 10
            return np.broadcast_to(x, (len(list(frames)), 24, 24, 3)).copy()

    ds = PretextDataset(Gradient([30] * 4, size=24), PretextWindow(3, 2, 1), crop_size=12, flip_prob=0.5, seed=0)
    flips = set()
    for i in range(len(ds)):
        for e in range(4):
            ds.set_epoch(e)
            s = ds[i]
            row_ctx = s["context"][0, 0, 0]
            for t in range(2):
                assert torch.equal(s["targets"][t, 0, 0, 0], row_ctx)  # same crop columns and flip
            flips.add(bool(row_ctx[0] > row_ctx[-1]))
    assert flips == {True, False}


def test_unreadable_video_is_skipped_and_counted():
    class Broken(FakeSource):
        def read(self, i, frames):
            if i == 0:
                raise VideoReadError("v0", "truncated file")
            return super().read(i, frames)

    ds = PretextDataset(Broken([20, 20]), PretextWindow(3, 2, 1), crop_size=16)
    s = ds[0]
    assert s["video"] == 1 and s["skipped"] == 1
    assert ds.failed == {"v0": "truncated file"}


def test_no_video_long_enough():
    with pytest.raises(ValueError, match="none of the 2 videos"):
        PretextDataset(FakeSource([5, 6]), PretextWindow(4, 3, 2), crop_size=16)


def _direction(sample) -> int:
    """+1 when the sample runs forward in file order, -1 when it was drawn from the reversed video."""
    ctx = sample["context"][0, :, 0, 0].long()  # K frame numbers (FakeSource pixels hold them)
    return int(ctx[1] - ctx[0])


def test_dataset_reverses_half_of_the_samples():
    """Appendix B: videos are randomly reversed before the context is sampled. Fails with
    reversal off (reverse_prob 0 gives no reversed sample)."""
    w = PretextWindow(4, 3, 2)
    ds = PretextDataset(FakeSource([60] * 10), w, crop_size=16, reverse_prob=0.5, seed=0)
    directions = []
    for epoch in range(20):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            s = ds[i]
            d = _direction(s)
            tgt = s["targets"][:, 0, 0, 0, 0].long()
            ctx = s["context"][0, :, 0, 0].long()
            if d == -1:  # the reversed video's future lies earlier in the file
                assert int(tgt[0]) == int(ctx[-1]) - 2 and torch.all(tgt.diff() == -2)
            directions.append(d)
    reversed_share = directions.count(-1) / len(directions)
    assert 0.4 <= reversed_share <= 0.6, reversed_share  # 200 draws of p = 0.5: 5 sigma = 0.18 wide
    off = PretextDataset(FakeSource([60] * 10), w, crop_size=16, reverse_prob=0.0, seed=0)
    assert {_direction(off[i]) for i in range(len(off))} == {1}
    evaluation = PretextDataset(FakeSource([60] * 10), w, crop_size=16, reverse_prob=1.0, seed=0, train=False)
    assert {_direction(evaluation[i]) for i in range(len(evaluation))} == {1}  # no augmentation in evaluation


def test_replacement_of_an_unreadable_video_copies_no_other_item():
    """A failed video is replaced by the next readable one, drawn with a stream of its own: the
    replacement never equals the sample that video gives as its own item."""

    class Broken(FakeSource):
        def read(self, i, frames):
            if i == 0:
                raise VideoReadError("v0", "truncated file")
            return super().read(i, frames)

    w = PretextWindow(4, 3, 2)
    for epoch in range(5):
        ds = PretextDataset(Broken([200, 200, 200]), w, crop_size=16, reverse_prob=0.5, seed=epoch)
        ds.set_epoch(epoch)
        replacement, own = ds[0], ds[1]
        assert replacement["video"] == own["video"] == 1 and replacement["skipped"] == 1
        assert not torch.equal(replacement["context"], own["context"])


def test_padded_index_is_flagged_and_reads_the_item_it_repeats():
    ds = PretextDataset(FakeSource([40, 40, 40]), PretextWindow(4, 3, 2), crop_size=16, seed=0)
    padded, item = ds[len(ds) + 1], ds[1]
    assert padded["pad"] and not item["pad"]
    assert padded["video"] == item["video"] and torch.equal(padded["context"], item["context"])


class Recordings(FakeSource):
    """Clips cut from a few recordings: ``groups[i]`` is clip i's recording."""

    def __init__(self, groups, length: int = 30):
        super().__init__([length] * len(groups), size=16)
        self.groups = list(groups)

    def group(self, index: int) -> str:
        return self.groups[index]


def test_each_pretext_sample_carries_its_group_id():
    """Group strings become integer ids per source, deterministically (sorted), so the model can
    mask negatives by recording (issue 18, fix 5); a source's subset keeps its videos' ids."""
    from torch.utils.data import default_collate

    src = Recordings(["person02_d1", "person01_d1", "person02_d1", "person01_d2", "person02_d1"])
    ds = PretextDataset(src, PretextWindow(4, 3, 2), crop_size=16, seed=0)
    ids = [ds[i]["group"] for i in range(len(ds))]
    assert ids == [2, 0, 2, 1, 2]  # in sorted order: person01_d1 -> 0, person01_d2 -> 1, person02_d1 -> 2
    again = PretextDataset(Recordings(list(src.groups)), PretextWindow(4, 3, 2), crop_size=16, seed=5, train=False)
    assert [again[i]["group"] for i in range(len(again))] == ids
    batch = default_collate([ds[i] for i in range(len(ds))])
    assert batch["group"].dtype == torch.int64 and batch["group"].tolist() == ids
