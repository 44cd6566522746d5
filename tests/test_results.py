"""Summaries, histories and protocol results are dataclasses; ``to_dict()`` gives the JSON that
run.json, report.json and best.ckpt have always held: the same keys, in the same order."""

import dataclasses
import json
from types import SimpleNamespace

import numpy as np
import pytest

from skipclip.config.budget import BudgetUsed, make_budget
from skipclip.eval.finetune_history import FinetuneHistory
from skipclip.eval.finetune_result import FROZEN_METHOD, FinetuneResult
from skipclip.eval.knn import KnnResult, knn, knn_accuracy
from skipclip.eval.linear_probe import METHOD, LinearProbeResult, linear_probe
from skipclip.eval.pretext_health import PretextHealth
from skipclip.eval.retrieval import RetrievalResult, retrieval, retrieval_recall
from skipclip.eval.video_level import VideoLevelResult
from skipclip.method.pretext_metrics import RankSummary
from skipclip.utils.records import record

from helpers import pretrain_summary

BUDGET_KEYS = ["budget", "max_steps", "max_epochs", "time_budget_min", "steps", "epochs", "stopped_by"]
VIDEO_LEVEL_KEYS = [
    "top1",
    "top5",
    "clip_top1",
    "clip_top5",
    "test_videos",
    "windows_per_video",
    "skipped_test_videos",
    "failed_test_videos",
]


def test_record_keeps_field_order_nests_results_and_leaves_out_what_it_is_told():
    @dataclasses.dataclass
    class Inner:
        a: int

        def to_dict(self):
            return {"a": self.a * 10}

    @dataclasses.dataclass
    class Outer:
        z: int
        inner: Inner
        maybe: int | None = None
        never: str = "x"

    assert list(record(Outer(1, Inner(2)))) == ["z", "inner", "maybe", "never"]
    assert record(Outer(1, Inner(2)), omit_none=("maybe",), exclude=("never",)) == {"z": 1, "inner": {"a": 20}}
    assert record(Outer(1, Inner(2), maybe=0), omit_none=("maybe",))["maybe"] == 0  # only None is left out
    with pytest.raises(TypeError, match="dataclass instance"):
        record(Outer)


def test_budget_used_is_the_budget_record():
    trainer = SimpleNamespace(global_step=20, current_epoch=3)
    used = make_budget(20, 5, minutes=2.0).used(trainer, wall_s=10.0)
    assert isinstance(used, BudgetUsed) and used.stopped_by == "max_steps"
    assert used.to_dict() == {
        "budget": "20 steps (validation every 2), at most 2 min",
        "max_steps": 20,
        "max_epochs": 5,
        "time_budget_min": 2.0,
        "steps": 20,
        "epochs": 3,
        "stopped_by": "max_steps",
    }
    assert list(used.to_dict()) == BUDGET_KEYS
    assert make_budget(None, 5).used(trainer, 10.0).stopped_by == "interrupted"  # 3 of 5 epochs, no time cap


def _features(seed=0):
    rng = np.random.default_rng(seed)
    xl, xt = rng.normal(size=(12, 6)), rng.normal(size=(5, 6))
    return (xl, np.arange(12) % 3), (xt, np.arange(5) % 3)


def test_frozen_feature_protocols_give_their_rows():
    feats = _features()
    (xl, yl), (xt, yt) = feats
    train = SimpleNamespace(classes=["a", "b", "c"])
    k = knn(None, None, train, None, features=feats, k=4)
    assert isinstance(k, KnnResult) and k.init is None
    assert k.to_dict() == {
        "protocol": "knn",
        **knn_accuracy(xt, yt, xl, yl, 3, 4),
        "k": 4,
        "temperature": 0.07,
        "queries": 5,
        "gallery": 12,
    }
    r = retrieval(None, None, train, None, features=feats)
    recall = retrieval_recall(xt, yt, xl, yl)
    assert isinstance(r, RetrievalResult)
    assert r.to_dict() == {
        "protocol": "retrieval",
        "top1": recall[1],
        "top5": recall[5],
        "recall": {str(k): v for k, v in recall.items()},
        "queries": 5,
        "gallery": 12,
    }
    p = linear_probe(None, None, train, None, seed=3, features=feats)
    assert isinstance(p, LinearProbeResult)
    assert list(p.to_dict()) == ["protocol", "method", "top1", "top5", "train_videos", "test_videos", "seed"]
    assert p.method == METHOD and (p.train_videos, p.test_videos, p.seed) == (12, 5, 3)
    for row in (k, r, p):  # the evaluate recipe says where g started: first key, the rest unchanged
        named = dataclasses.replace(row, init="random").to_dict()
        assert list(named) == ["init", *row.to_dict()] and named == {"init": "random", **row.to_dict()}


def _history(**kw) -> FinetuneHistory:
    used = BudgetUsed("2 epochs (validation every 1)", None, 2, None, 8, 2, "max_epochs")
    fields = dict(
        epochs=2,
        steps=8,
        wall_s=3.5,
        budget=used,
        best_epoch=1,
        best_step=8,
        val_top1=0.5,
        val_curve=[(0, 4, 0.25), (1, 8, 0.5)],
        batch_per_process=4,
        selected_by="best validation video top-1",
        too_short_train_videos=0,
        world_size=1,
        failed_videos={"v.avi": "bad"},
        global_zero=True,
        resumed_from=None,
    )
    return FinetuneHistory(**{**fields, **kw})


def test_finetune_history_is_the_report_history():
    d = _history().to_dict()
    assert list(d) == [
        "epochs",
        "steps",
        "wall_s",
        "budget",
        "best_epoch",
        "best_step",
        "val_top1",
        "val_curve",
        "batch_per_process",
        "selected_by",
        "too_short_train_videos",
        "world_size",
        "failed_videos",
        "global_zero",
        "resumed_from",
    ]
    assert list(d["budget"]) == BUDGET_KEYS and d["budget"]["stopped_by"] == "max_epochs"
    assert json.loads(json.dumps(d))["val_curve"] == [[0, 4, 0.25], [1, 8, 0.5]]


def test_finetune_result_row_puts_the_test_after_the_protocol():
    test = VideoLevelResult(
        0.5, 1.0, 0.4, 0.9, 4, {"min": 1, "mean": 2.0, "max": 3, "total": 8, "videos": 4}, 1, {"t.avi": "unreadable"}
    )
    assert list(test.to_dict()) == VIDEO_LEVEL_KEYS
    r = FinetuneResult(
        protocol="finetune",
        test=test,
        val_top1=0.5,
        best_epoch=1,
        epochs=2,
        best_step=8,
        steps=8,
        budget="2 epochs (validation every 1)",
        selected_by="best validation video top-1",
        seed=0,
        train_s=3.5,
        failed_videos={"v.avi": "bad", "t.avi": "unreadable"},
        wall_s=4.0,
    )
    after = [
        "val_top1",
        "best_epoch",
        "epochs",
        "best_step",
        "steps",
        "budget",
        "selected_by",
        "seed",
        "train_s",
        "failed_videos",
    ]
    assert list(r.to_dict()) == ["protocol", *VIDEO_LEVEL_KEYS, *after, "wall_s"]
    assert r.to_dict()["top1"] == 0.5 and r.to_dict()["wall_s"] == 4.0
    frozen = dataclasses.replace(r, protocol="finetune_frozen", method=FROZEN_METHOD, init="random").to_dict()
    assert list(frozen) == ["init", "protocol", *VIDEO_LEVEL_KEYS, *after, "method", "wall_s"]
    assert frozen["method"] == FROZEN_METHOD


def test_pretrain_summary_is_run_json_summary_and_carries_health_beside_it():
    used = BudgetUsed("20 steps (validation every 2)", 20, 30, None, 20, 1, "max_steps")
    s = pretrain_summary(used)
    keys = [
        "wall_s",
        "budget",
        "epochs",
        "steps",
        "world_size",
        "batch_per_process",
        "global_batch",
        "resumed_from",
        "train_videos",
        "too_short_videos",
        "failed_videos",
        "skipped_videos",
        "skipped_nonfinite_batches",
        "metrics",
        "last_checkpoint",
        "monitor_s",
        "validations",
        "figures_s",
        "figure_sets",
        "frame_cache",
        "precision",
        "bn_stats",
        "val_videos",
        "test_videos",
    ]
    assert list(s.to_dict()) == keys and s.to_dict()["budget"] == used.to_dict()
    assert s.to_dict(with_health=True) == {**s.to_dict(), "health": None}
    rank = RankSummary(0.6, (0.5, 0.7), 0.2, None, 10, 2)
    health = PretextHealth(step=20, held_out=rank, baselines={"pixel": rank})
    with_health = dataclasses.replace(s, health=health)
    assert with_health.to_dict() == s.to_dict()  # run.json keeps the health beside the summary
    assert list(with_health.to_dict(with_health=True)) == [*keys, "health"]
    assert with_health.to_dict(with_health=True)["health"] == health.to_dict()
