"""CachedBatches read ahead on a background thread (the health monitor's windows and kNN clips):
the same batches as a read in turn, read once."""

from __future__ import annotations

import torch

from skipclip.data import ClipDataset
from skipclip.eval.features import CachedBatches, warm_in_turn

from helpers import FakeSource


class Counting(ClipDataset):
    reads = 0

    def __getitem__(self, index):
        type(self).reads += 1
        return super().__getitem__(index)


def _cache():
    return CachedBatches(Counting(FakeSource([12, 9, 15], size=16, num_classes=2), 4, 16, None, train=False), 2)


def test_warmed_batches_are_the_batches_read_once():
    plain = list(_cache())
    a, b = _cache(), _cache()
    Counting.reads = 0
    warm_in_turn(a, b)
    got = list(a)  # waits for the thread
    assert a.cached is not None and b.cached is not None
    reads = Counting.reads
    assert list(a) and Counting.reads == reads  # kept: not read again
    assert len(got) == len(plain)
    for x, y in zip(got, plain):
        assert torch.equal(x["clip"], y["clip"]) and torch.equal(x["video"], y["video"])


def test_a_cache_too_large_is_read_in_turn_again():
    c = CachedBatches(_cache().dataset, 2, cache_bytes=10)
    c.warm()
    assert list(c) and c.cached is None


def test_a_read_on_a_thread_leaves_the_global_stream_alone():
    torch.manual_seed(3)
    c = _cache()
    c.warm()
    list(c)
    after = torch.rand(4)
    torch.manual_seed(3)
    assert torch.equal(after, torch.rand(4))  # the training's draws do not depend on when it read
