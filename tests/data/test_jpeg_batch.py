"""Frames left JPEG for the device (the GPU decode path of a CUDA run): everything but the device
itself runs here on the CPU, where the batched decode must give the CPU path's batch exactly."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from skipclip.batch import PretextBatch
from skipclip.data.sampling.jpeg_batch import JPEGS, DeferredBatch, decode_batch
from skipclip.data.sampling.pretext import PretextDataset
from skipclip.data.sampling.window import PretextWindow
from skipclip.data.sources.base import SubsetSource, VideoReadError
from skipclip.data.store.prepare import prepare
from skipclip.data.store.prepared import PreparedStore
from skipclip.data.store.shard import read_shard, read_shard_jpegs

from helpers import FakeSource
from video_factory import make_ucf101


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    ucf = make_ucf101(tmp_path_factory.mktemp("ucf"), groups=3, test_groups=1, frames=24)
    out = tmp_path_factory.mktemp("store")
    assert prepare(ucf, out, short_side=32, workers=0, progress=False).ok
    return out


@pytest.mark.parametrize("train,short", [(True, 28), (True, None), (False, 30)])
def test_deferred_batch_decoded_equals_the_cpu_batch(store, train, short):
    source = SubsetSource(PreparedStore(store, split="all"), range(10))
    window = PretextWindow(4, 3, 2, 1)

    def batch(defer: bool) -> PretextBatch | DeferredBatch:
        ds = PretextDataset(source, window, 24, short_side=short, seed=5, train=train)
        assert ds.defer_decoding(defer) is defer
        ds.set_epoch(3)
        return PretextDataset.collate([ds[i] for i in (0, 4, 7, 9)])

    cpu, deferred = batch(False), batch(True)
    assert isinstance(cpu, PretextBatch) and isinstance(deferred, DeferredBatch) and len(deferred.jpegs) == 4
    decoded = decode_batch(deferred, "cpu", 4, 3, 1)  # device="cuda" on a GPU: the only difference
    assert isinstance(decoded, PretextBatch)
    for f in dataclasses.fields(cpu):
        value = getattr(cpu, f.name)
        if isinstance(value, torch.Tensor):
            assert torch.equal(getattr(decoded, f.name), value), f.name
        else:
            assert getattr(decoded, f.name) == value, f.name


def test_sources_without_jpegs_keep_decoding_on_the_cpu():
    ds = PretextDataset(FakeSource([30] * 4), PretextWindow(4, 3, 2, 1), 16, short_side=None)
    assert ds.defer_decoding(True) is False and JPEGS not in ds[0]
    batch = PretextBatch(context=torch.zeros(1), targets=torch.zeros(1))
    assert decode_batch(batch, "cpu", 4, 3, 1) is batch  # a decoded batch passes through


def test_jpegs_are_checked_before_any_decoder_sees_them(store, tmp_path):
    shard = next(p for p in (store / "videos").rglob("*.frames"))
    jpegs, order, (h, w) = read_shard_jpegs(shard, [3, 1, 3])
    assert len(jpegs) == 2 and order.tolist() == [1, 0, 1]
    frames = torch.stack([torch.from_numpy(f) for f in read_shard(shard, [1, 3])])
    from torchvision.io import decode_jpeg

    assert torch.equal(torch.stack(decode_jpeg(jpegs)).permute(0, 2, 3, 1), frames) and frames.shape[1:3] == (h, w)
    data = bytearray(shard.read_bytes())
    at = data.find(b"\xff\xc0")  # the first frame's size field: claim a 20000 px frame
    data[at + 5 : at + 7] = (20000).to_bytes(2, "big")
    bad = tmp_path / "bad.frames"
    bad.write_bytes(bytes(data))
    with pytest.raises(VideoReadError, match="JPEG of size"):
        read_shard_jpegs(bad, [0])
