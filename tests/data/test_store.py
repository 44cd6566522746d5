"""The prepared store: same frames as decoding, random access, resumable prepare, manifest."""

from __future__ import annotations

import json

import numpy as np
import pytest

from skipclip.data.open import open_split as open_source
from skipclip.data.sampling.pretext import PretextDataset
from skipclip.data.sampling.window import PretextWindow
from skipclip.data.sources.base import VideoReadError, VideoSource
from skipclip.data.sources.files import VideoFileSource
from skipclip.data.store.prepare import prepare
from skipclip.data.store.prepared import PreparedStore, load_manifest
from skipclip.data.video.pyav import decode

from video_factory import make_folder, make_hmdb51, make_ucf101, video


@pytest.fixture(scope="module")
def ucf(tmp_path_factory):
    return make_ucf101(tmp_path_factory.mktemp("ucf"), groups=3, test_groups=1, frames=24)


@pytest.fixture(scope="module")
def ucf_store(ucf, tmp_path_factory):
    out = tmp_path_factory.mktemp("store")
    report = prepare(ucf, out, short_side=32, workers=0, progress=False)
    assert report.ok and report.prepared == 18 and not report.failed
    return out


def test_manifest_records_every_video(ucf_store):
    m = load_manifest(ucf_store)
    assert m["layout"] == "ucf101" and m["short_side"] == 32 and len(m["videos"]) == 18
    v = {x["name"]: x for x in m["videos"]}["YoYo/v_YoYo_g01_c02.avi"]
    assert (v["frames"], v["height"], v["width"], v["label"], v["group"]) == (24, 32, 43, 2, "g01")
    assert v["fps"] == pytest.approx(25, rel=0.01) and v["folds"] == {"1": "test"}
    assert m["failed"] == [] and m["bytes"] > 0 and m["hours"] == pytest.approx(18 * 24 / 25 / 3600, rel=0.01)


@pytest.mark.parametrize("codec,tol", [("jpeg", 4.0), ("raw", 0.0)])
def test_store_returns_the_decoded_frames_in_any_order(ucf, tmp_path, codec, tol):
    report = prepare(ucf, tmp_path, short_side=32, workers=0, codec=codec, progress=False)
    store = PreparedStore(tmp_path, split="all")
    assert isinstance(store, VideoSource) and report.ok
    i = [store.name(k) for k in range(len(store))].index("Basketball/v_Basketball_g02_c01.avi")
    full, _ = decode(ucf / "UCF-101" / store.name(i), 32)
    idx = [23, 0, 7, 7, 12]
    got = store.read(i, idx)
    assert got.shape == (5, 32, 43, 3) and got.dtype == np.uint8
    assert np.abs(got.astype(int) - full[idx]).mean() <= tol
    np.testing.assert_array_equal(got[2], got[3])
    with pytest.raises(VideoReadError, match="out of range"):
        store.read(i, [24])


def test_store_and_files_give_the_same_pretext_samples(ucf, ucf_store):
    store = PreparedStore(ucf_store, split="all")
    files = open_source(ucf, split="all")
    assert isinstance(files, VideoFileSource)
    assert [files.name(i) for i in range(len(files))] == [store.name(i) for i in range(len(store))]
    window = PretextWindow(4, 2, 3, 1)
    a = PretextDataset(store, window, 32, short_side=32, seed=3)[5]
    b = PretextDataset(files, window, 32, short_side=32, seed=3)[5]
    assert a["video"] == b["video"] and a["context"].shape == (3, 4, 32, 32)
    assert (a["context"].float() - b["context"].float()).abs().mean() < 6


def test_splits_of_a_store(ucf_store):
    train, val = PreparedStore(ucf_store, "train", val_fraction=0.3), PreparedStore(ucf_store, "val", val_fraction=0.3)
    test = PreparedStore(ucf_store, "test")

    def groups(s):
        return {s.group(i) for i in range(len(s))}

    assert groups(test) == {"g01"} and len(test) == 6
    assert len(train) + len(val) == 12 and not groups(train) & groups(val) and not groups(val) & {"g01"}
    assert open_source(ucf_store, split="test").__class__ is PreparedStore


def test_prepare_resumes(ucf, tmp_path):
    first = prepare(ucf, tmp_path, short_side=32, workers=0, progress=False)
    shard = tmp_path / "videos" / "YoYo" / "v_YoYo_g03_c01.avi.frames"
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "videos").rglob("*.frames")}
    shard.unlink()  # as if killed before this video
    damaged = tmp_path / "videos" / "YoYo" / "v_YoYo_g02_c01.avi.frames"
    damaged.write_bytes(damaged.read_bytes()[:-10])  # cut short
    (tmp_path / "videos" / "YoYo" / "x.frames.tmp123").write_bytes(b"partial")  # leftover temp file
    (tmp_path / "manifest.json").unlink()  # as if killed before the first manifest save
    second = prepare(ucf, tmp_path, short_side=32, workers=0, progress=False)
    assert (first.prepared, second.prepared, second.skipped) == (18, 2, 16)
    assert shard.exists() and len(PreparedStore(tmp_path)) == 18
    untouched = [p for p in mtimes if p not in (shard, damaged)]
    assert all(p.stat().st_mtime_ns == mtimes[p] for p in untouched)
    third = prepare(ucf, tmp_path, short_side=32, workers=0, progress=False)
    assert (third.prepared, third.skipped) == (0, 18)
    with pytest.raises(ValueError, match="short_side=32, not 64"):
        prepare(ucf, tmp_path, short_side=64, workers=0, progress=False)


@pytest.mark.e2e
def test_prepare_with_worker_processes(tmp_path):
    make_folder(tmp_path / "v", classes=("a", "b"), per_class=2, frames=12)
    report = prepare(tmp_path / "v", tmp_path / "s", short_side=24, workers=2, progress=False)
    assert report.ok and report.prepared == 4 and PreparedStore(tmp_path / "s").classes == ["a", "b"]


def test_hmdb51_and_flat_folder_stores(tmp_path):
    prepare(make_hmdb51(tmp_path / "h", films=3, frames=12), tmp_path / "hs", short_side=24, workers=0, progress=False)
    assert len(PreparedStore(tmp_path / "hs", "test", fold=2)) == 4
    for i in range(2):
        video(tmp_path / "flat" / f"clip{i}.mp4", n=12)
    prepare(tmp_path / "flat", tmp_path / "fs", short_side=24, workers=0, progress=False)
    s = PreparedStore(tmp_path / "fs")
    assert s.classes == [] and [s.label(i) for i in range(len(s))] == [-1, -1]
    assert json.loads((tmp_path / "fs" / "manifest.json").read_text())["layout"] == "folder"


def test_open_source_synthetic_and_missing_folder(tmp_path):
    val = open_source("synthetic", split="val")
    assert isinstance(val, VideoSource) and len(val) > 0
    with pytest.raises(FileNotFoundError, match="no such folder"):
        open_source(tmp_path / "nope")


def test_a_store_smaller_than_the_run_needs_is_refused(ucf_store):
    """A store prepared at 32 px is refused by a run resizing to 40 px (it would be upsampled
    silently), naming both sizes and the prepare command; smaller runs read it."""
    from skipclip.data.open import open_data

    from helpers import tiny_cfg

    too_big = tiny_cfg(data={"short_side": 40, "crop_size": 32})
    with pytest.raises(ValueError, match=r"prepared with a 32 px short side.*resizes frames to 40 px.*--short-side 40"):
        open_data(ucf_store, too_big)
    fits = open_data(ucf_store, tiny_cfg(data={"short_side": 32, "crop_size": 32}))
    assert fits.short_side == 32 and len(fits.train) > 0
    # fine-tuning checks its own size: 24 px clips from the 32 px store, whatever data.short_side says
    assert open_data(ucf_store, too_big, short_side=24).short_side == 24


def test_whole_training_list_when_nothing_is_held_out(ucf_store):
    from skipclip.data.open import open_data

    from helpers import tiny_cfg

    whole = open_data(ucf_store, tiny_cfg(data={"val_fraction": 0.0}))
    carved = open_data(ucf_store, tiny_cfg(data={"val_fraction": 0.3}))
    assert whole.val is None and carved.val is not None
    assert len(whole.train) == len(carved.train) + len(carved.val) == len(PreparedStore(ucf_store, "trainval"))
    assert len(open_data(ucf_store, tiny_cfg(data={"val_fraction": 0.3}), val_fraction=0.0).train) == len(whole.train)


def test_a_damaged_frame_among_good_ones_is_named(tmp_path):
    """The frames of a read are decoded in one call; when that call fails, the message still names
    the frame (decoded one at a time to find it), and the good frames read the same either way."""
    import torch
    from crafted import raw_shard
    from torchvision.io import encode_jpeg

    from skipclip.data.store.shard import read_shard

    ramp = torch.arange(24).repeat(3, 16, 1) * 4  # smooth frames, each a different grey level
    frames = [(ramp + 30 * i).to(torch.uint8) for i in range(4)]
    chunks = [bytes(encode_jpeg(f, quality=95).numpy()) for f in frames]
    header = {"frames": 4, "height": 16, "width": 24, "codec": "jpeg"}
    good = raw_shard(tmp_path / "good.frames", header, chunks)
    read = read_shard(good, [3, 0, 0, 2])
    assert read.shape == (4, 16, 24, 3) and np.array_equal(read[1], read[2])
    assert np.abs(read[0].astype(int) - frames[3].permute(1, 2, 0).numpy()).mean() < 4  # JPEG at quality 95
    chunks[2] = chunks[2][: len(chunks[2]) // 2]  # its header intact, its scan cut
    bad = raw_shard(tmp_path / "bad.frames", header, chunks)
    assert np.array_equal(read_shard(bad, [3, 0, 0]), read[:3])
    with pytest.raises(VideoReadError, match="damaged frame 2"):
        read_shard(bad, [0, 1, 2, 3])


def test_prepare_sizes_the_store_for_its_preset(tmp_path, capsys):
    """``skipclip prepare`` stores frames at the largest short side ``--config`` reads (cpu-real's
    56 px by default); ``--short-side`` overrides it; a store being completed keeps its own size."""
    from skipclip.cli import main
    from skipclip.commands.prepare import store_short_side

    assert (store_short_side("cpu-real"), store_short_side("cpu"), store_short_side("paper")) == (56, 56, 256)
    videos = make_folder(tmp_path / "videos", per_class=2, frames=12)
    args = ["prepare", "--data", str(videos), "--workers", "0", "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert load_manifest(tmp_path / "a")["short_side"] == 56
    assert "56 px short side (what --config cpu-real reads)" in capsys.readouterr().out
    assert main([*args, "--out", str(tmp_path / "b"), "--short-side", "40"]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0  # completes it at 40 px, not 56
    assert load_manifest(tmp_path / "b")["short_side"] == 40
    assert "the size of the store already in" in capsys.readouterr().out
    yaml = tmp_path / "mine.yaml"
    yaml.write_text("base: cpu-real\ndata:\n  short_side: 72\n  crop_size: 64\n")
    assert main([*args, "--out", str(tmp_path / "c"), "--config", str(yaml)]) == 0
    assert load_manifest(tmp_path / "c")["short_side"] == 72
    assert f"--config {yaml}" in capsys.readouterr().out  # the next step names the same preset


def _sampling_factors(jpeg: bytes) -> list[int]:
    """Each component's sampling byte in a baseline JPEG's SOF0 (0x11: full resolution)."""
    i = jpeg.index(b"\xff\xc0")
    return [jpeg[i + 11 + 3 * c] for c in range(jpeg[i + 9])]


def test_small_frames_keep_their_colour_resolution(tmp_path):
    """JPEG frames under 128 px are stored 4:4:4 (at 56 px, 4:2:0 leaves 28 px of colour and
    cpu-real's held-out health fell), larger ones 4:2:0 as before; both read back alike."""

    from skipclip.data.store.shard import FULL_CHROMA_BELOW, ShardWriter, read_shard

    rng = np.random.default_rng(0)
    for h, w, factors in ((56, 100, [0x11, 0x11, 0x11]), (FULL_CHROMA_BELOW, 200, [0x22, 0x11, 0x11])):
        ramp = np.linspace(0, 200, w, dtype=np.float32)[None, :, None]
        frame = (ramp + rng.integers(0, 8, (h, w, 3))).astype(np.uint8)
        frame[..., 2] = 255 - frame[..., 2]  # colour that changes across the frame
        dest = tmp_path / f"v{h}.frames"
        with ShardWriter(dest, "jpeg", 90) as writer:
            writer.add(frame)
            writer.add(frame[:, ::-1])
            writer.finish({})
        raw = dest.read_bytes()
        assert _sampling_factors(raw[raw.index(b"\xff\xd8") :]) == factors
        back = read_shard(dest, [1, 0])
        assert back.shape == (2, h, w, 3) and np.abs(back[1].astype(int) - frame).mean() < 3
