"""A tiny pretraining run records pretext health: logged at every validation, the baselines, the
online kNN, ``run.json``'s ``health`` record and the curves figure (docs/pretext-health.md)."""

from __future__ import annotations

import csv
import json

import pytest

from skipclip.recipes.pretrain import pretrain

from helpers import max_weight_diff, tiny_cfg, weights


@pytest.mark.e2e
def test_tiny_pretraining_records_health(tmp_path):
    cfg = tiny_cfg(optim={"max_epochs": 2}, pretext={"health_windows": 48})
    out = tmp_path / "run"
    _, _, summary = pretrain(cfg, "synthetic", out, progress=False)
    h = json.loads((out / "run.json").read_text())["health"]
    assert h == summary.health.to_dict() and h["step"] == summary.steps > 0

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
