"""The background-thread loader (data.prefetch): the same batches in the same order as the plain
loader, every epoch, read ahead across epoch ends, and dropped when the next epoch is another."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from skipclip.data import epoch_loader
from skipclip.data.sampling.pretext import PretextDataset
from skipclip.data.sampling.window import PretextWindow
from skipclip.errors import InvalidInputError

from helpers import FakeSource


class Counting(PretextDataset):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.reads: list[tuple[int, int]] = []

    def at_epoch(self, index, epoch):
        self.reads.append((epoch, index))
        return super().at_epoch(index, epoch)


def _batches(loader, epoch, start=0):
    loader.sampler.set_epoch(epoch)
    loader.sampler.start = start
    loader.dataset.set_epoch(epoch)
    return list(loader)


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert type(x) is type(y)
        for f in dataclasses.fields(x):
            u, v = getattr(x, f.name), getattr(y, f.name)
            assert torch.equal(u, v) if isinstance(u, torch.Tensor) else u == v


def _loader(prefetch, ds=None):
    ds = ds or Counting(FakeSource([30 + i for i in range(7)]), PretextWindow(4, 3, 2, 1), 16, short_side=None, seed=1)
    return epoch_loader(ds, 3, shuffle=True, drop_last=True, seed=2, prefetch=prefetch)


def test_prefetched_batches_are_the_plain_loaders():
    plain, ahead = _loader(0), _loader(2)
    for epoch in (0, 1, 2):
        _same(_batches(ahead, epoch), _batches(plain, epoch))
    _same(_batches(ahead, 7, start=3), _batches(plain, 7, start=3))  # a resume elsewhere: read afresh
    _same(_batches(ahead, 8), _batches(plain, 8))


def test_the_next_epoch_is_read_ahead_and_read_once():
    loader = _loader(2)
    _batches(loader, 0)
    ds = loader.dataset
    ahead = [job.key for job in loader._ahead]
    assert [k[0] for k in ahead] == [1, 1]  # epoch 1's first two batches, before set_epoch(1)
    for job in loader._ahead:
        job.result()
    before = list(ds.reads)
    _batches(loader, 1)
    epoch1 = [r for r in ds.reads[len(before) :]]
    assert sorted(epoch1) == sorted(set(epoch1))  # nothing of epoch 1 read twice
    assert len([r for r in ds.reads if r[0] == 1]) == 6  # 7 videos, batch 3, drop_last: 2 batches


def test_errors_reach_the_training_loop():
    class Broken(Counting):
        def at_epoch(self, index, epoch):
            raise InvalidInputError("no video could be read")

    ds = Broken(FakeSource([30] * 4), PretextWindow(4, 3, 2, 1), 16, short_side=None)
    with pytest.raises(InvalidInputError, match="no video"):
        _batches(_loader(2, ds), 0)


def test_prefetch_must_be_a_count():
    with pytest.raises(InvalidInputError, match="data.prefetch"):
        _loader(-1)


def test_the_reading_thread_uses_one_intra_op_thread_and_leaves_the_step_its_own():
    """The read-ahead thread's torch ops run on one intra-op thread (so they do not fan out onto
    the cores the step uses); the training thread's count is untouched."""
    from skipclip.data.sampling.prefetch import _Job, _Reader

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        job = _Reader().submit(_Job(("k",), torch.get_num_threads))
        assert job.result() == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
