"""Pretext health over many windows: the rankers' signs, ties, the baselines, the online kNN and
the run.json record (eval/pretext_health.py, eval/health_callback.py)."""

from __future__ import annotations

import json

import lightning as L
import numpy as np
import pytest
import torch

from skipclip.commands.pretrain import health_lines
from skipclip.data import HealthDataset, PretextWindow, open_data
from skipclip.eval.features import CachedBatches
from skipclip.eval.health_callback import KnnProbe, PretextHealthMonitor, is_labelled
from skipclip.eval.knn import knn_accuracy
from skipclip.eval.pretext_health import (
    BASELINES,
    PretextHealth,
    measure,
    measure_baselines,
    measure_model,
    pixel_ranker,
    window_scores,
)
from skipclip.method.build import build_skipclip

from helpers import FakeSource, tiny_cfg

W = PretextWindow(context_frames=4, num_targets=3, sampling_rate=1)


def windows(source, **kw):
    return CachedBatches(HealthDataset(source, W, crop_size=16, max_windows=None, **kw), batch_size=8)


def test_pixel_ranker_on_drifting_frames_is_perfect_and_the_sign_is_right():
    # FakeSource frames brighten by one level a frame: a further target differs more from the
    # last context frame, in either direction of the video
    batches = windows(FakeSource([20, 24, 30]))
    s = measure(pixel_ranker(), batches, "cpu")
    assert s.rank_acc == 1.0 and s.kendall_tau == 1.0 and s.rank_acc_ci == (1.0, 1.0)
    assert s.windows == 2 * (4 + 5 + 6) and s.videos == 3  # starts 0, 4, ... while 7 frames fit
    flipped = [{**b, "targets": b["targets"].flip(1)} for b in batches]  # farthest target first
    assert measure(pixel_ranker(), flipped, "cpu").rank_acc == 0.0


class StillSource(FakeSource):
    """Every frame the same: nothing tells the targets apart."""

    def read(self, index, frames):
        return np.full((len(list(frames)), self.size, self.size, 3), 100 + index, np.uint8)


def test_ties_count_half_not_right():
    acc, tau, gap, videos = window_scores(pixel_ranker(), windows(StillSource([12, 12])), "cpu")
    assert (acc == 0.5).all() and (tau == 0).all()
    assert np.isfinite(gap).all() and (gap > 0).all()  # another video's frames are further away


def test_model_and_baselines_on_the_same_windows_leave_the_model_alone():
    cfg = tiny_cfg()
    L.seed_everything(0, verbose=False)
    model = build_skipclip(cfg)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    src = open_data("synthetic", cfg).val
    batches = CachedBatches(
        HealthDataset(src, PretextWindow.from_config(cfg), cfg.data.crop_size, max_windows=40), batch_size=8
    )
    base = measure_baselines(model, batches, "cpu")
    assert set(base) == set(BASELINES) == {"pixel", "untrained_f", "step0"}
    step0 = measure_model(model, batches, "cpu")
    assert step0 == base["step0"]  # the baseline is the model before training, on the same windows
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    for s in base.values():
        assert s.windows == 40 and 0 <= s.rank_acc_ci[0] <= s.rank_acc <= s.rank_acc_ci[1] <= 1
    assert batches.cached is not None and len(batches.cached) == 5  # read once, kept


class ClassSource(FakeSource):
    """Class 0 videos dark, class 1 videos bright."""

    def read(self, index, frames):
        return np.full((len(list(frames)), self.size, self.size, 3), 20 if self.label(index) == 0 else 230, np.uint8)


class MeanEncoder(torch.nn.Module):
    """A stand-in g: pooled features ``[mean pixel, 1]`` (separates dark from bright by angle)."""

    def pooled(self, x):
        m = x.float().mean(dim=(1, 2, 3, 4))
        return torch.stack([m, torch.ones_like(m)], 1)


def test_knn_top1_on_separable_features_is_one():
    rng = np.random.default_rng(0)
    centres = np.eye(3) * 5
    labels = np.repeat(np.arange(3), 10)
    feats = centres[labels] + rng.normal(0, 0.1, (30, 3))
    assert knn_accuracy(feats[1::2], labels[1::2], feats[::2], labels[::2], 3)["top1"] == 1.0
    probe = KnnProbe(ClassSource([12] * 6, num_classes=2), ClassSource([12] * 4, num_classes=2), 4, 16, None)
    assert probe.top1(MeanEncoder(), "cpu") == 1.0
    with pytest.raises(ValueError, match="labelled"):
        KnnProbe(FakeSource([12] * 4), ClassSource([12] * 4, num_classes=2), 4, 16, None)
    assert not is_labelled(FakeSource([12])) and is_labelled(ClassSource([12, 12], num_classes=2))


def test_record_has_every_field_and_is_json():
    cfg = tiny_cfg()
    model = build_skipclip(cfg)
    batches = windows(FakeSource([20, 24]))
    s = measure_model(model, batches, "cpu")
    h = PretextHealth(step=5, held_out=s, train=s, baselines=measure_baselines(model, batches, "cpu"))
    d = json.loads(json.dumps(h.to_dict(), allow_nan=False))
    assert d["rank_acc"] == s.rank_acc and d["rank_acc_ci"] == list(s.rank_acc_ci) and d["windows"] == s.windows
    assert d["train_rank_acc"] == s.rank_acc and set(d["baselines"]) == {"pixel", "untrained_f", "step0"}
    assert all({"rank_acc", "rank_acc_ci"} <= set(b) for b in d["baselines"].values())
    assert PretextHealth(step=0).to_dict()["rank_acc"] is None
    printed = "\n".join(health_lines(h))
    lo, hi = s.rank_acc_ci
    assert f"{s.rank_acc:.3f} [{lo:.3f}, {hi:.3f}]" in printed and f"{s.windows} windows of 2 videos" in printed
    assert f"{s.rank_acc:.3f} [{lo:.3f}, {hi:.3f}]  ({s.windows} windows)" in printed  # the training sample
    assert all(f"{name} (baseline)" in printed for name in BASELINES)
    unmeasured = health_lines(PretextHealth(step=0))
    assert unmeasured[2].split() == ["held-out", "-"] and unmeasured[3].split() == ["train", "sample", "-"]
    # two videos: a paired difference to step 0 but no interval, said in words
    assert set(d["vs"]) == {"pixel", "untrained_f", "step0"} and d["vs"]["step0"] == {
        "diff": 0.0,
        "ci": None,
        "videos": 2,
    }
    assert d["verdict"].startswith("cannot tell: too few held-out videos to tell (2;")
    assert printed.splitlines()[0] == f"  pretext health: {d['verdict']}"
    assert health_lines(None) == []


def test_monitor_off_and_refusals():
    cfg = tiny_cfg(pretext={"health_windows": 0})
    assert PretextHealthMonitor.from_config(cfg, open_data("synthetic", cfg), build_skipclip(cfg)) is None
    with pytest.raises(ValueError, match="held-out or training"):
        PretextHealthMonitor(build_skipclip(cfg), None, None)
    with pytest.raises(ValueError, match="health_windows"):
        tiny_cfg(pretext={"health_windows": -1})
    with pytest.raises(ValueError, match="knn_every"):
        tiny_cfg(trainer={"knn_every": -2})


def test_windows_read_by_a_loader_worker_are_the_same():
    ds = HealthDataset(FakeSource([20, 24]), W, crop_size=16, max_windows=None)
    here, worker = CachedBatches(ds, 8), CachedBatches(ds, 8, num_workers=1)
    assert measure(pixel_ranker(), here, "cpu") == measure(pixel_ranker(), worker, "cpu")
    assert all(torch.equal(a["targets"], b["targets"]) for a, b in zip(here.cached, worker.cached))
