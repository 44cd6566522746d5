"""Issue 11 cases 5 and 6: a corrupt video in fine-tuning, testing, feature extraction or
pretraining is skipped, counted and named in the report, from any number of loader workers."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from skipclip.data.sampling.clips import ClipDataset
from skipclip.data.sources.base import VideoReadError
from skipclip.data.store.prepare import prepare
from skipclip.data.store.prepared import load_manifest

from helpers import FakeSource, tiny_cfg
from video_factory import make_ucf101, video

TRAIN_BAD = "Basketball/v_Basketball_g03_c01.avi"
TEST_BAD = "YoYo/v_YoYo_g01_c02.avi"
FT = {"finetune": {"max_epochs": 1, "clip_frames": 4, "batch_size": 4, "val_every": 1}}  # bad video: train or val


@pytest.fixture(scope="module")
def master_store(tmp_path_factory):
    ucf = make_ucf101(tmp_path_factory.mktemp("ucf"), groups=3, test_groups=1, frames=12)
    out = tmp_path_factory.mktemp("store")
    assert prepare(ucf, out, short_side=32, workers=0, progress=False).prepared == 18
    return out


@pytest.fixture
def store(master_store, tmp_path):
    """The store with the shards of one training and one test video damaged (read errors)."""
    out = shutil.copytree(master_store, tmp_path / "store")
    files = {v["name"]: v["file"] for v in load_manifest(out)["videos"]}
    for name in (TRAIN_BAD, TEST_BAD):
        (out / files[name]).write_bytes(b"not a shard at all")
    return out


class Flaky(FakeSource):
    """FakeSource whose video ``bad`` cannot be read."""

    def __init__(self, *args, bad=1, **kwargs):
        super().__init__(*args, **kwargs)
        self.bad = bad

    def read(self, index, frames):
        if index == self.bad:
            raise VideoReadError(self.name(index), "corrupt video")
        return super().read(index, frames)


class AllBroken(FakeSource):
    def read(self, index, frames):
        raise VideoReadError(self.name(index), "corrupt video")


def test_a_data_set_with_no_readable_video_is_a_named_input_error_not_a_crash():
    """Every video unreadable: an input error (the CLI's one line, exit 2) naming the videos and
    the doctor command, from the pretext and the clip data sets alike."""
    from skipclip.data import PretextDataset
    from skipclip.data.sampling.window import PretextWindow
    from skipclip.errors import InvalidInputError

    src = AllBroken([40] * 3, size=16, num_classes=2)
    pretext = PretextDataset(src, PretextWindow(4, 2, 2, 1), 16, None, seed=0, train=True)
    with pytest.raises(InvalidInputError, match=r"none of the 3 videos .*v0: corrupt video.*skipclip doctor"):
        pretext[0]
    with pytest.raises(InvalidInputError, match=r"none of the videos .*v1: corrupt video.*skipclip doctor"):
        ClipDataset(src, 4, 16, train=True)[0]


@pytest.mark.parametrize("workers", [0, 2])
def test_clip_dataset_names_unreadable_videos_from_any_worker_count(workers):
    from torch.utils.data import DataLoader

    from skipclip.data.failures import collate, from_batch

    for train in (True, False):
        ds = ClipDataset(Flaky([8] * 4, size=16, num_classes=2), 4, 16, train=train)
        failed, ok = {}, []
        for batch in DataLoader(ds, batch_size=2, num_workers=workers, collate_fn=collate):
            failed.update(from_batch(batch))
            ok += batch["ok"].tolist()
        assert failed == {"v1": "corrupt video"}
        assert ok.count(False) == (0 if train else 2)  # test: both windows of v1 are marked, not scored


def test_finetune_skips_and_names_corrupt_training_and_test_videos(store, tmp_path):
    from skipclip.recipes.finetune import run_finetune

    cfg = tiny_cfg(data={"num_workers": 1}, **FT)
    report = run_finetune(cfg, str(store), tmp_path / "ft", progress=False)
    assert set(report["failed_videos"]) == {TRAIN_BAD, TEST_BAD}
    assert "bad magic" in report["failed_videos"][TEST_BAD]
    assert report["skipped_videos"] == 2
    assert report["results"][0]["test_videos"] == 5  # 6 listed, the corrupt one skipped
    assert json.loads((tmp_path / "ft" / "report.json").read_text())["failed_videos"] == report["failed_videos"]


def test_evaluate_and_features_skip_and_name_corrupt_videos(store):
    from skipclip.data.open import open_data
    from skipclip.eval.features import video_features
    from skipclip.models import ContextEncoder
    from skipclip.recipes.evaluate import evaluate

    cfg = tiny_cfg(**FT)
    splits = open_data(str(store), cfg, need_test=True)
    g = ContextEncoder(cfg.model.context_arch, cfg.model.width)
    failed = {}
    x, y = video_features(g, splits.test, 4, 32, failed=failed)
    assert list(failed) == [TEST_BAD] and len(x) == len(y) == 5
    report = evaluate(
        cfg, g, splits.labelled, splits.val, splits.test, protocols=("linear_probe", "retrieval"), init="random"
    )
    assert TEST_BAD in report["data"]["failed_videos"] and report["data"]["skipped_videos"] >= 1


@pytest.mark.parametrize("workers", [0, 1])
def test_pretraining_reports_unreadable_videos_from_workers(store, tmp_path, workers):
    from skipclip.recipes.pretrain import pretrain

    cfg = tiny_cfg(data={"num_workers": workers, "val_fraction": 0.0}, optim={"max_epochs": 2})
    _, _, summary = pretrain(cfg, str(store), tmp_path / "run", progress=False)
    assert TRAIN_BAD in summary.failed_videos and "bad magic" in summary.failed_videos[TRAIN_BAD]
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert TRAIN_BAD in info["summary"]["failed_videos"]


def test_a_raw_test_video_that_cannot_be_probed_is_skipped_not_a_traceback(tmp_path):
    from skipclip.data.catalog.index import VideoEntry
    from skipclip.data.sources.files import VideoFileSource
    from skipclip.eval.finetune_inputs import check_sources

    video(tmp_path / "a" / "ok.avi", n=12)
    (tmp_path / "a" / "bad.avi").write_bytes(b"\x00garbage" * 100)
    src = VideoFileSource(tmp_path, [VideoEntry("a/ok.avi", 0, "g1"), VideoEntry("a/bad.avi", 1, "g2")], ["a", "b"])
    check_sources(src, None, src, 4)  # no VideoReadError
    ds = ClipDataset(src, 4, 32, 32, train=False)
    assert list(ds.failed) == ["a/bad.avi"] and {v for v, _ in ds.items} == {0}
    assert isinstance(ds[0]["clip"], torch.Tensor) and np.all(ds[0]["ok"])
