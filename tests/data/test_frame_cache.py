"""Decoded frames kept in memory (data.frame_cache_mb): the same pixels as decoding, each frame
decoded once while it fits, never more bytes held than the budget."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skipclip.config import load_config, validate
from skipclip.data.sampling.pretext import PretextDataset
from skipclip.data.sampling.window import PretextWindow
from skipclip.data.sources.base import VideoReadError
from skipclip.data.store.frame_cache import FrameCache
from skipclip.data.store.prepare import prepare
from skipclip.data.store.prepared import PreparedStore
from skipclip.errors import InvalidInputError

from helpers import pretrain_summary
from video_factory import make_ucf101


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    videos = make_ucf101(tmp_path_factory.mktemp("ucf"), groups=2, test_groups=1, frames=24)
    out = {}
    for codec in ("jpeg", "raw"):
        out[codec] = tmp_path_factory.mktemp(codec)
        assert prepare(videos, out[codec], short_side=32, workers=0, codec=codec, progress=False).ok
    return out


def _counting(decode):
    calls = []

    def wrapped(path, frames):
        calls.append(list(frames))
        return decode(path, frames)

    return wrapped, calls


def test_the_cache_gives_the_decoded_pixels_and_decodes_each_frame_once(stores):
    plain, cached = PreparedStore(stores["jpeg"]), PreparedStore(stores["jpeg"])
    cache = cached.keep_frames(64)
    assert cache is not None and cache.budget == 64 * 2**20
    cache.whole_videos = False  # frames decoded as they are asked for (a store larger than the budget)
    from skipclip.data.store.shard import read_shard

    decode, calls = _counting(read_shard)
    for idx in ([5, 1, 1, 9], [9, 2, 5], [9, 1], [23, 0, 5, 5], []):
        path = cached.root / cached.videos[3]["file"]
        got = cache.read(path, idx, decode)
        np.testing.assert_array_equal(got, plain.read(3, idx))
        np.testing.assert_array_equal(cached.read(3, idx), got)  # through the store's own read
    # distinct frames decoded once, in order; a read whose frames are all held decodes nothing
    assert calls == [[1, 5, 9], [2], [0, 23], []]
    s = cache.stats()
    assert s["misses"] == 6 and s["frames"] == 6 and s["bytes"] == 6 * 32 * 43 * 3 and s["hits"] > 0


def test_a_split_that_fits_is_decoded_video_by_video_whole_once(stores, monkeypatch):
    import skipclip.data.store.prepared as prepared

    plain, cached = PreparedStore(stores["jpeg"]), PreparedStore(stores["jpeg"])
    frame = 32 * 43 * 3
    assert cached.decoded_bytes() == sum(v["frames"] for v in cached.videos) * frame
    small = PreparedStore(stores["jpeg"]).keep_frames(1)
    assert small.whole_videos is (cached.decoded_bytes() <= 2**20)
    cache = cached.keep_frames(64)
    assert cache.whole_videos  # the split fits 64 MB
    wholes = []
    whole = prepared.read_shard_whole

    def counting(path, *sizes):
        wholes.append(path.name)
        return whole(path, *sizes)

    monkeypatch.setattr(prepared, "read_shard_whole", counting)
    for idx in ([5, 1, 1, 9], [9, 2, 5], [23, 0, 5, 5]):
        for v in (3, 0):
            np.testing.assert_array_equal(cached.read(v, idx), plain.read(v, idx))
    assert wholes == [Path(cached.videos[3]["file"]).name, Path(cached.videos[0]["file"]).name]  # once each
    s = cache.stats()
    n3, n0 = cached.videos[3]["frames"], cached.videos[0]["frames"]
    assert s["misses"] == n3 + n0 and s["frames"] == n3 + n0 and s["bytes"] == (n3 + n0) * frame


def test_a_shard_of_another_size_than_its_manifest_is_not_decoded_whole(stores, tmp_path):
    import shutil

    from skipclip.data.store.shard import read_shard_whole

    store = PreparedStore(stores["jpeg"])
    path, v = store.root / store.videos[0]["file"], store.videos[0]
    assert len(read_shard_whole(path, v["frames"], v["height"], v["width"])) == v["frames"]
    for frames, height, width in ((v["frames"] + 1, v["height"], v["width"]), (v["frames"], 4000, v["width"])):
        with pytest.raises(VideoReadError, match="the manifest says"):
            read_shard_whole(path, frames, height, width)
    raw = PreparedStore(stores["raw"])
    with pytest.raises(VideoReadError, match="raw frames"):
        rv = raw.videos[0]
        read_shard_whole(raw.root / rv["file"], rv["frames"], rv["height"], rv["width"])
    copy = tmp_path / "store"
    shutil.copytree(stores["jpeg"], copy)
    lying = PreparedStore(copy)
    lying.keep_frames(64)
    lying.videos[0]["height"] = 4000  # a manifest that lies: refused, not decoded to its size
    with pytest.raises(VideoReadError, match="the manifest says"):
        lying.read(0, [0])


def test_the_budget_bounds_the_memory_least_recently_used_out(stores):
    store = PreparedStore(stores["jpeg"])
    frame = 32 * 43 * 3
    cache = FrameCache(3 * frame + frame // 2)  # room for three frames
    store.frame_cache = cache
    store.read(0, [0, 1, 2])
    store.read(0, [0])  # 0 used again: 1 is now the oldest
    store.read(0, [3])
    assert cache.held <= cache.budget and len(cache) == 3
    held = {k[1] for k in cache._frames}
    assert held == {0, 2, 3}
    tiny = FrameCache(frame - 1)  # smaller than one frame: keeps nothing, reads all the same
    store.frame_cache = tiny
    np.testing.assert_array_equal(store.read(1, [4, 4]), PreparedStore(stores["jpeg"]).read(1, [4, 4]))
    assert len(tiny) == 0 and tiny.held == 0


def test_no_cache_for_raw_frames_or_a_zero_budget(stores):
    assert PreparedStore(stores["raw"]).keep_frames(64) is None
    store = PreparedStore(stores["jpeg"])
    assert store.keep_frames(0) is None and store.frame_cache is None


def test_errors_still_name_the_shard(stores):
    store = PreparedStore(stores["jpeg"])
    store.keep_frames(8)
    store.read(2, [0, 1])
    with pytest.raises(VideoReadError, match="out of range"):
        store.read(2, [1, 24])  # 1 is held, 24 is not in the shard: still refused
    with pytest.raises(ValueError, match=">= 0"):
        FrameCache(-1)


def test_pretext_samples_are_the_same_with_and_without_the_cache(stores):
    window = PretextWindow(4, 2, 3, 1)
    plain, cached = PreparedStore(stores["jpeg"]), PreparedStore(stores["jpeg"])
    cached.keep_frames(16)
    a = PretextDataset(plain, window, 32, short_side=32, seed=3)
    b = PretextDataset(cached, window, 32, short_side=32, seed=3)
    for epoch in range(3):  # later epochs read frames the earlier ones decoded
        for i in (0, 4, 7):
            x, y = a.at_epoch(i, epoch), b.at_epoch(i, epoch)
            for key in ("context", "targets"):
                assert np.array_equal(x[key].numpy(), y[key].numpy())
    assert cached.frame_cache is not None and cached.frame_cache.hits > 0


def test_the_budget_is_a_checked_setting():
    cfg = load_config("cpu-real")
    assert cfg.data.frame_cache_mb > 0 and load_config("paper").data.frame_cache_mb == 0
    for bad in (-1, 1.5, True):
        cfg.data.frame_cache_mb = bad
        with pytest.raises(InvalidInputError, match="data.frame_cache_mb"):
            validate(cfg)


def test_the_run_summary_reports_the_cache(stores, capsys):
    from skipclip.commands.pretrain import print_summary
    from skipclip.recipes.pretrain import frame_cache_stats

    cfg = load_config("cpu-real")
    store = PreparedStore(stores["jpeg"])
    store.keep_frames(cfg.data.frame_cache_mb)
    ds = PretextDataset(store, PretextWindow(4, 2, 3, 1), 32, short_side=32, seed=3)
    for epoch in range(2):
        ds.at_epoch(1, epoch)
    stats = frame_cache_stats(ds, cfg)
    assert stats is not None and stats["misses"] > 0 and stats["bytes"] == stats["misses"] * 32 * 43 * 3
    cfg.data.num_workers = 2  # each worker's own cache: nothing counted in this process
    assert frame_cache_stats(ds, cfg) is None
    print_summary(pretrain_summary(frame_cache={**stats, "hits": stats["misses"]}))
    said = capsys.readouterr().out
    assert f"frame cache: {stats['misses']:,} frames decoded, {stats['misses']:,} read from memory (50%)" in said
    assert "of 512 (data.frame_cache_mb)" in said


def test_two_threads_reading_one_video_decode_it_once(stores, monkeypatch):
    import threading
    import time

    import skipclip.data.store.prepared as prepared

    store = PreparedStore(stores["jpeg"])
    assert store.keep_frames(64).whole_videos
    whole, calls = prepared.read_shard_whole, []

    def slow(path, *sizes):  # long enough for the other thread to arrive meanwhile
        calls.append(path.name)
        time.sleep(0.2)
        return whole(path, *sizes)

    monkeypatch.setattr(prepared, "read_shard_whole", slow)
    got = []
    threads = [threading.Thread(target=lambda: got.append(store.read(2, [0, 3]))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(got) == 2
    np.testing.assert_array_equal(got[0], got[1])
