"""`skipclip demo --quick` end to end on CPU: the table, report.json and the loss-curve PNG."""

import collections
import json

import numpy as np
import pytest

from skipclip.cli import main


@pytest.mark.e2e
def test_demo_quick_end_to_end(tmp_path, capsys, report_writes, monkeypatch):
    from skipclip.data.sources.synthetic import SyntheticSource

    rendered: collections.Counter = collections.Counter()  # (first video of the split, index) -> renders
    render = SyntheticSource.read

    def counted(self, index, frames):
        rendered[(self.offset, index)] += 1
        return render(self, index, frames)

    monkeypatch.setattr(SyntheticSource, "read", counted)
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out), "--no-progress"]) == 0
    # every synthetic video is rendered once for all four steps (pretraining included), not per step
    assert rendered and max(rendered.values()) == 1
    printed = capsys.readouterr().out
    assert "Pretext health" in printed and "random" in printed and "skipclip" in printed
    assert ("renamed", str(out / "report.json")) in report_writes  # atomically: a temporary file renamed over it
    assert {how for how, _ in report_writes} == {"renamed"}  # no report of the run written in place
    report = json.loads((out / "report.json").read_text())
    rows = {(r["init"], r["protocol"]): r for r in report["results"]}
    assert ("skipclip", "linear_probe") in rows and ("random", "linear_probe") in rows
    assert any(init == "supervised" for init, _ in rows)
    for r in report["results"]:
        assert r["top5"] is None or r["top1"] <= r["top5"]
        if "per_seed" in r:  # the mean and spread are those of the seeds' own results
            seeds = [x["top1"] for x in r["per_seed"]]
            assert r["top1"] == pytest.approx(np.mean(seeds))
            assert r["top1_std"] == pytest.approx(np.std(seeds, ddof=1) if len(seeds) > 1 else 0.0)
    assert rows[("skipclip", "linear_probe")]["seeds"] >= 3
    assert len(rows[("skipclip", "linear_probe")]["per_seed"]) >= 3
    gain = report["skipclip_vs_random"]
    probe = {init: rows[(init, "linear_probe")]["top1"] for init in ("skipclip", "random")}
    assert gain["top1_gain"] == pytest.approx(probe["skipclip"] - probe["random"])
    h = report["pretext_health"]
    for enc in ("untrained", "pretrained"):
        assert 0.0 <= h[enc]["rank_acc"] <= 1.0 and -1.0 <= h[enc]["kendall_tau"] <= 1.0
    assert h["verdict"].split(":")[0] in ("learned", "not shown", "cannot tell") and "step0" in h["vs"]
    # pretraining moved the scores: positives now score above other videos' frames
    assert h["pretrained"]["pos_neg_gap"] > h["untrained"]["pos_neg_gap"]
    png = (out / "loss_curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_few_shot_draws_each_class_its_shots_once():
    from skipclip.recipes.demo import _few_shot

    labels = np.repeat(np.arange(3), [6, 2, 5])
    pick = _few_shot(labels, 4, seed=0)
    assert list(pick) == sorted(set(pick))  # sorted, no video twice
    assert np.bincount(labels[pick]).tolist() == [4, 2, 4]  # a class with fewer videos gives all it has
    assert list(_few_shot(labels, 4, seed=0)) == list(pick)  # the seed decides the draw
    assert any(list(_few_shot(labels, 4, seed=s)) != list(pick) for s in range(1, 5))


def test_the_printed_verdict_is_the_reports(capsys):
    from skipclip.recipes.demo_report import print_report

    health = {
        "rank_acc": 0.5,
        "rank_acc_ci": [0.45, 0.55],
        "kendall_tau": 0.0,
        "pos_neg_gap": 0.1,
        "windows": 40,
        "videos": 8,
    }
    row = {"labelled_videos_per_class": 5, "top1": 0.5, "top1_std": 0.1, "top5": 0.9, "top5_std": 0.05}
    report = {
        "pretext_health": {
            "pixel": {**health, "pos_neg_gap": None},
            "untrained_f": health,
            "untrained": health,
            "pretrained": health,
            "verdict": "learned: above step 0 by +0.100 [+0.050, +0.150]",
        },
        "data": {"test_videos": 32, "classes": list("abcdefgh")},
        "chance_top1": 0.125,
        "results": [{"init": init, "protocol": "linear_probe", **row} for init in ("random", "skipclip")],
        "skipclip_vs_random": {"top1_gain": 0.2, "larger_spread": 0.1, "beats_random_by_more_than_spread": True},
        "skipclip_vs_random_finetune": {
            "top1_gain": 0.05,
            "larger_spread": 0.1,
            "beats_random_by_more_than_spread": False,
        },
        "timings": {"total_s": 12.0},
    }
    print_report(report)
    out = capsys.readouterr().out
    assert "32 held-out test videos (8 classes, chance 12.5 %)" in out
    assert "40 windows of 8 held-out videos" in out and "[0.450, 0.550]" in out
    assert "same windows: learned: above step 0 by +0.100 [+0.050, +0.150]" in out
    assert "linear probe: Skip-Clip beats random initialisation" in out and "top-1 gain +20.0 points" in out
    assert "fine-tuning: Skip-Clip does NOT beat random initialisation" in out
