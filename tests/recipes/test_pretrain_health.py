"""A tiny pretraining run records pretext health: logged at every validation, the baselines, the
online kNN, ``run.json``'s ``health`` record and the curves figure (docs/pretext-health.md)."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from skipclip.recipes.pretrain import pretrain

from helpers import max_weight_diff, tiny_cfg, weights


@pytest.mark.e2e
def test_tiny_pretraining_records_health(tmp_path):
    cfg = tiny_cfg(optim={"max_epochs": 2}, pretext={"health_windows": 48})
    out = tmp_path / "run"
    module, _, summary = pretrain(cfg, "synthetic", out, progress=False)
    record = json.loads((out / "run.json").read_text())
    h = record["health"]
    assert h == summary.health.to_dict() and h["step"] == summary.steps > 0
    # precise batch norm: the measurements, the final model and last.ckpt hold the same statistics
    assert h["bn_stats"]["kind"] == "precise" and h["bn_stats"]["batches"] == cfg.pretext.precise_bn_batches
    assert record["summary"]["bn_stats"]["in_last_checkpoint"] is True
    saved = weights(out / "checkpoints" / "last.ckpt")
    assert all(torch.equal(saved[f"model.{k}"], v) for k, v in module.model.state_dict().items() if "running" in k)
    assert set(h["vs"]) == {"pixel", "untrained_f", "step0"} and h["verdict"].split(":")[0] in (
        "learned",
        "not shown",
    )  # 16 held-out videos: enough to tell
    assert not any(k.startswith(("knn/", "health/")) for k in record["summary"]["metrics"])  # one kNN figure

    def sane(acc, ci):
        return 0 <= acc <= 1 and 0 <= ci[0] - 1e-9 <= acc <= ci[1] + 1e-9 <= 1 + 1e-9

    assert sane(h["rank_acc"], h["rank_acc_ci"]) and sane(h["train_rank_acc"], h["train_rank_acc_ci"])
    assert h["windows"] == 48 and h["train_windows"] == 48 and h["videos"] == 16  # 2 held-out videos a class
    assert -1 <= h["kendall_tau"] <= 1 and h["pos_neg_gap"] is not None
    assert set(h["baselines"]) == {"pixel", "untrained_f", "step0"} and h["baselines_on"] == "held_out"
    for b in h["baselines"].values():
        assert sane(b["rank_acc"], b["rank_acc_ci"]) and b["windows"] == 48
    # synthetic objects move smoothly: nearer frames look alike, pixels order the targets well above chance
    assert h["baselines"]["pixel"]["rank_acc_ci"][0] > 0.5
    assert 0 <= h["knn_top1"] <= 1 and h["knn_step"] == h["step"]

    rows = list(csv.DictReader((out / "logs" / "metrics.csv").read_text().splitlines()))
    logged = [r for r in rows if r.get("health/rank_acc")]
    assert len(logged) == 2  # one per validation (an epoch each)
    for r in logged:
        assert float(r["health/rank_acc_lo"]) <= float(r["health/rank_acc"]) <= float(r["health/rank_acc_hi"])
        assert r["health/train_rank_acc"] and r["knn/top1"] and r["health/baseline_pixel"]
    assert float(logged[-1]["health/rank_acc"]) == pytest.approx(h["rank_acc"])
    png = (out / "figures" / "pretraining_curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"

    # measuring changes nothing the run trains: the same weights with health off
    off = tmp_path / "off"
    pretrain(tiny_cfg(optim={"max_epochs": 2}, pretext={"health_windows": 0}), "synthetic", off, progress=False)
    assert max_weight_diff(weights(out / "checkpoints" / "last.ckpt"), weights(off / "checkpoints" / "last.ckpt")) == 0
    assert json.loads((off / "run.json").read_text())["health"] is None


@pytest.mark.e2e
def test_health_and_knn_cadence_and_their_time_in_the_summary(tmp_path):
    cfg = tiny_cfg(optim={"max_epochs": 4}, pretext={"health_windows": 24}, trainer={"health_every": 2, "knn_every": 4})
    out = tmp_path / "run"
    _, _, summary = pretrain(cfg, "synthetic", out, progress=False, images_every=0)
    rows = list(csv.DictReader((out / "logs" / "metrics.csv").read_text().splitlines()))
    health = [int(r["step"]) for r in rows if r.get("health/rank_acc")]
    knn = [int(r["step"]) for r in rows if r.get("knn/top1")]
    validations = [int(r["step"]) for r in rows if r.get("val/rank_acc")]
    assert len(validations) == 4
    assert health == validations[1::2] and knn == validations[3:]  # validations 2 and 4; 4
    assert all(r["health/baseline_step0"] for r in rows if r.get("health/rank_acc"))  # with the first measurement
    assert summary.validations == 4 and 0 < summary.monitor_s < summary.wall_s
    record = json.loads((out / "run.json").read_text())["summary"]
    assert record["monitor_s"] == pytest.approx(summary.monitor_s) and record["validations"] == 4
