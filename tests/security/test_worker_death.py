"""Issue 11 case 7: prepare streams frames (bounded memory), survives a dead worker (the video that
killed it is recorded as failed, the rest carries on, the manifest matches the shards), takes a
per-video time limit, cleans stale temporaries and fsyncs what it writes; loaders take a timeout."""

from __future__ import annotations

import os
import signal
import time

import pytest

from skipclip.data.store import pool as decode_pool
from skipclip.data.store.prepare import prepare
from skipclip.data.store.prepared import load_manifest

from video_factory import make_folder

KILLER = "dogs/dogs_1.avi"


@pytest.fixture
def footage(tmp_path):
    return make_folder(tmp_path / "videos", per_class=3, frames=12)


def _shards_on_disk(store):
    return sorted(p.relative_to(store).as_posix() for p in (store / "videos").rglob("*") if p.is_file())


_real = decode_pool.prepare_one


def _dies_on_killer(src, *args):
    if src.endswith(KILLER):
        os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's out-of-memory killer would
    return _real(src, *args)


def test_a_worker_killed_mid_video_costs_only_that_video(footage, tmp_path, monkeypatch):
    monkeypatch.setattr(decode_pool, "START_METHOD", "fork")  # so the workers see the patched function
    monkeypatch.setattr(decode_pool, "prepare_one", _dies_on_killer)
    store = tmp_path / "store"
    report = prepare(footage, store, short_side=32, workers=2, progress=False)
    assert list(report.failed) == [KILLER] and report.failed[KILLER].startswith(decode_pool.DIED)
    assert report.prepared == 5 and report.videos == 5
    manifest = load_manifest(store)
    assert sorted(v["file"] for v in manifest["videos"]) == _shards_on_disk(store)  # no temporaries either
    assert [f["name"] for f in manifest["failed"]] == [KILLER]
    again = prepare(footage, store, short_side=32, workers=2, progress=False)  # a rerun does not hit it again
    assert again.prepared == 0 and again.skipped == 5 and list(again.failed) == [KILLER]


def test_a_video_past_the_time_limit_is_recorded_and_the_rest_carries_on(footage, tmp_path, monkeypatch):
    real = decode_pool.decode_into

    def slow(path, sink, short_side=None):
        if str(path).endswith(KILLER):
            time.sleep(60)  # the alarm interrupts it
        return real(path, sink, short_side)

    monkeypatch.setattr(decode_pool, "decode_into", slow)  # the name the worker calls
    report = prepare(footage, tmp_path / "store", short_side=32, workers=0, progress=False, time_limit=3)
    assert list(report.failed) == [KILLER] and "time limit of 3 s" in report.failed[KILLER]
    assert report.videos == 5 and _shards_on_disk(tmp_path / "store") == sorted(
        v["file"] for v in load_manifest(tmp_path / "store")["videos"]
    )


def test_prepare_never_holds_a_whole_video(footage, tmp_path, monkeypatch):
    from skipclip.data.video import pyav as video_io

    def whole(*args, **kwargs):
        raise AssertionError("decode() holds every frame of a video in memory")

    monkeypatch.setattr(video_io, "decode", whole)
    held = []
    from skipclip.data.store import shard

    class Counting(shard.ShardWriter):
        def add(self, frame):
            held.append(frame.nbytes)
            super().add(frame)

    monkeypatch.setattr(decode_pool, "ShardWriter", Counting)  # the name the worker uses
    report = prepare(footage, tmp_path / "store", short_side=32, workers=0, progress=False)
    assert report.videos == 6 and not report.failed
    assert max(held) == 32 * 43 * 3 and len(held) == 6 * 12  # one 48x64 -> 32x43 frame at a time


def test_stale_shard_temporaries_are_removed(footage, tmp_path):
    store = tmp_path / "store"
    stale = store / "videos" / "cats" / "cats_0.avi.frames.tmp99999"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half a shard")
    (stale.parent / "cats_0.avi.frames.tmp99999p").write_bytes(b"payload")
    prepare(footage, store, short_side=32, workers=0, progress=False)
    assert not [p for p in (store / "videos").rglob("*") if ".tmp" in p.name]


def test_shards_manifest_and_checkpoints_are_fsynced(footage, tmp_path, monkeypatch):
    from skipclip.utils.io import atomic_torch_save

    synced = []
    real = os.fsync

    def spy(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    prepare(footage, tmp_path / "store", short_side=32, workers=0, progress=False)
    atomic_torch_save({"w": 1}, tmp_path / "best.ckpt")
    names = [os.path.basename(p) for p in synced]
    assert sum(".frames.tmp" in n for n in names) == 6  # every shard, before its rename
    assert any(n.startswith(".manifest.json.") for n in names)
    assert any(n.startswith(".best.ckpt.") for n in names)


class Hangs:
    """A decoder that never returns, until the test lets it go (so closing the loader need not wait)."""

    def __init__(self):
        import multiprocessing

        self.release = multiprocessing.get_context("fork").Event()

    def __len__(self):
        return 4

    def __getitem__(self, i):
        self.release.wait(60)
        return i


def test_a_hung_loader_worker_ends_with_an_error_not_forever():
    from skipclip.data.sampling.epoch_sampler import epoch_loader

    hangs = Hangs()
    loader = epoch_loader(hangs, 2, shuffle=False, drop_last=False, num_workers=1, timeout=1)
    assert loader.timeout == 1
    batches = iter(loader)
    start = time.time()
    with pytest.raises(RuntimeError, match="timed out"):
        next(batches)
    waited = time.time() - start
    hangs.release.set()
    del batches
    assert waited < 25


def test_the_loader_timeout_is_a_setting(tmp_path):
    from helpers import tiny_cfg

    assert tiny_cfg().data.loader_timeout == 600
    with pytest.raises(ValueError, match="data.loader_timeout must be >= 0"):
        tiny_cfg(data={"loader_timeout": -1})
