"""`skipclip demo`: the main job on the built-in synthetic videos.

1. Pretrain Skip-Clip on unlabelled synthetic videos.
2. Pretext health (pairwise ranking accuracy with its 95 % interval, Kendall's tau,
   positive-negative gap) on many fixed windows of the held-out videos: the pretrained encoders
   against untrained ones and two rankers that learn nothing, pixels and an untrained frame
   encoder against itself (docs/pretext-health.md).
3. A linear probe on frozen context-encoder features, and fine-tuning of the whole context
   encoder, pretrained against randomly initialised, trained on few labelled videos held apart
   from pretraining, over several seeds (each seed draws its own few-shot subset, classifier
   initialisation and random encoder).
4. Upper bound: the same encoder trained with all labels of the pretraining videos.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from skipclip.config import load_config
from skipclip.data import (
    ClipDataset,
    HealthDataset,
    InMemorySource,
    PretextWindow,
    Splits,
    SubsetSource,
    collate,
    synthetic_sources,
)
from skipclip.engine.precision import encoder_probe, resolved
from skipclip.engine.runs import check_output_dir
from skipclip.engine.trainer import make_trainer
from skipclip.eval.classifier import ActionClassifier
from skipclip.eval.features import CachedBatches, video_features
from skipclip.eval.finetune import finetune_and_test
from skipclip.eval.linear_probe import fit_linear_probe
from skipclip.eval.metrics import topk_accuracy
from skipclip.eval.precise_bn import PreciseBatchNorm
from skipclip.eval.pretext_health import (
    frame_ranker,
    measure,
    measure_model,
    paired,
    pixel_ranker,
    verdict,
)
from skipclip.eval.report import write_report
from skipclip.eval.video_level import video_level_predictions
from skipclip.method.build import build_skipclip
from skipclip.models import ContextEncoder
from skipclip.recipes.demo_report import print_report, result_rows, versus
from skipclip.recipes.pretrain import pretrain
from skipclip.viz.curves import plot_pretraining_curves


@dataclass
class DemoBudget:
    pretrain_epochs: int
    supervised_epochs: int
    videos_per_class: int  # pretraining videos per class
    shots: int  # labelled videos per class for the probe
    finetune_epochs: int
    seeds: int = 3
    finetune_val_every: int = 3  # epochs between fine-tuning validations (model selection)


# 5 minutes on 2 idle cores (docs/benchmarks.md, "The demo in five minutes"): 560 pretraining steps, the
# supervised bound at 15 epochs, fine-tuning validated every 5 of its 30 epochs
DEFAULT = DemoBudget(
    pretrain_epochs=28, supervised_epochs=15, videos_per_class=80, shots=10, finetune_epochs=30, finetune_val_every=5
)
QUICK = DemoBudget(pretrain_epochs=6, supervised_epochs=6, videos_per_class=24, shots=5, finetune_epochs=3)


def pretext_health(cfg, untrained, pretrained, source, seed: int = 0, train_source=None) -> dict:
    """Pretext health (docs/pretext-health.md) of the untrained and the pretrained model and of the
    pixel and untrained-f rankers, all on the same health windows of ``source`` (at most
    ``pretext.health_windows``): ``{row: RankSummary.to_dict()}``, rows as in
    :data:`~skipclip.recipes.demo_report.HEALTH_ROWS`,
    with ``vs`` (the pretrained model minus each of the others on the same windows) and ``verdict``.
    Both models are read with batch-norm statistics recomputed on windows of ``train_source``
    (copies; ``None``: their running averages)."""
    cap = cfg.pretext.health_windows or None
    window = PretextWindow.from_config(cfg)
    windows = CachedBatches(
        HealthDataset(source, window, cfg.data.crop_size, max_windows=cap, seed=seed), cfg.data.batch_size
    )
    n = cfg.pretext.precise_bn_batches
    if train_source is not None and n:
        precise = PreciseBatchNorm(
            HealthDataset(train_source, window, cfg.data.crop_size, max_windows=n * cfg.data.batch_size, seed=seed),
            n,
            cfg.data.batch_size,
        )
        untrained, pretrained = (precise.copy_of(m, step, "cpu") for step, m in ((0, untrained), (1, pretrained)))
    untrained.eval()
    rows = {
        "pixel": measure(pixel_ranker(), windows, "cpu", seed=seed),
        "untrained_f": measure(frame_ranker(untrained.frame_encoder), windows, "cpu", seed=seed),
        "untrained": measure_model(untrained, windows, "cpu", seed=seed),
        "pretrained": measure_model(pretrained, windows, "cpu", seed=seed),
    }
    vs = paired(
        rows["pretrained"], {"pixel": rows["pixel"], "untrained_f": rows["untrained_f"], "step0": rows["untrained"]}
    )
    return {
        **{k: v.to_dict() for k, v in rows.items()},
        "vs": {k: v.to_dict() for k, v in vs.items()},
        "verdict": verdict(vs),
    }


def stage(message: str) -> None:
    print(message, flush=True)


def _few_shot(labels: np.ndarray, shots: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picks = [
        rng.choice(np.flatnonzero(labels == c), size=min(shots, int((labels == c).sum())), replace=False)
        for c in np.unique(labels)
    ]
    return np.sort(np.concatenate(picks))


def train_supervised(cfg, train_src, test_src, epochs: int, seed: int, progress: bool) -> dict:
    """The upper bound: g trained from scratch with every label of ``train_src``; video-level
    accuracy on ``test_src`` by averaging softmax over all non-overlapping windows."""

    L.seed_everything(seed, verbose=False)
    k, d = cfg.pretext.context_frames, cfg.data
    model = ActionClassifier(
        ContextEncoder(cfg.model.context_arch, cfg.model.width),
        len(train_src.classes),
        lr=1e-3,
        weight_decay=1e-4,
        lr_step_epochs=max(1, epochs // 2),
        lr_gamma=0.3,
        lr_last_step_epoch=epochs,
    )
    train_ds = ClipDataset(train_src, k, d.crop_size, train=True, seed=seed)
    choice = resolved(cfg, lambda: encoder_probe(cfg, k, d.crop_size, d.batch_size, "cpu"), "cpu")
    trainer = make_trainer(
        cfg,
        max_epochs=epochs,
        progress=progress,
        devices=1,
        num_nodes=1,
        precision=choice.precision if choice is not None else None,
    )
    trainer.fit(model, DataLoader(train_ds, batch_size=d.batch_size, shuffle=True, drop_last=True, collate_fn=collate))
    scores, labels, _ = video_level_predictions(model, ClipDataset(test_src, k, d.crop_size, train=False))
    return {"top1": topk_accuracy(scores, labels, 1), "top5": topk_accuracy(scores, labels, 5)}


def run_demo(
    out: str | Path = "demo-out",
    quick: bool = False,
    seed: int = 0,
    progress: bool = True,
    force: bool = False,
    precision: str | None = None,
) -> dict:
    """Run the demo into ``out`` (see the module's docstring); returns the report. ``precision``:
    ``trainer.precision`` of every training in it (``None``: the ``cpu`` preset's).

    Raises:
        FileExistsError: ``out`` already holds a report or a pretraining run and ``force`` is not given.
    """
    budget = QUICK if quick else DEFAULT
    start = time.time()
    out = Path(out)
    check_output_dir(out, force)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    cfg = load_config(
        "cpu",
        {
            "trainer.seed": seed,
            "optim.max_epochs": budget.pretrain_epochs,
            "data.synthetic_videos_per_class": budget.videos_per_class,
            # the run's own pretext health and online kNN a few times, not at each of its validations
            # (step [2/4] measures the pretrained model on the held-out videos anyway)
            "trainer.health_every": max(1, budget.pretrain_epochs // 4),
            "trainer.knn_every": max(1, budget.pretrain_epochs // 2),
            "finetune.val_every": budget.finetune_val_every,
            **({"trainer.precision": precision} if precision is not None else {}),
        },
    )
    sources = {k: InMemorySource(v) for k, v in synthetic_sources(cfg).items()}
    timings = {}

    # 1. untrained reference (the same initialisation pretraining starts from) and pretraining
    stage(
        f"[1/4] pretraining Skip-Clip on {len(sources['train'])} unlabelled synthetic videos, "
        f"{budget.pretrain_epochs} epochs"
    )
    L.seed_everything(seed, verbose=False)
    untrained = build_skipclip(cfg)
    t0 = time.time()
    pretrained_module, _, summary = pretrain(
        cfg,
        "synthetic",
        out / "pretrain",
        force=force,
        progress=progress,
        images_every=max(1, budget.pretrain_epochs // 2),
        splits=Splits(**sources, short_side=None),  # rendered once (8 s), not again inside pretrain
    )
    timings["pretrain_s"] = time.time() - t0
    pretrained = pretrained_module.model

    # 2. pretext health on held-out videos
    stage(f"[2/4] pretext health on {len(sources['val'])} held-out videos")
    health = pretext_health(cfg, untrained, pretrained.cpu(), sources["val"], seed, train_source=sources["train"])

    # 3. few labels: linear probe and fine-tuning, pretrained against random initialisation
    stage(
        f"[3/4] linear probe and fine-tuning from {budget.shots} labelled videos per class, "
        f"{budget.seeds} seeds, pretrained vs random initialisation"
    )
    probe, tuned = few_label_runs(cfg, budget, pretrained.context_encoder, sources, timings)

    # 4. supervised upper bound: all labels of the pretraining videos
    stage(f"[4/4] supervised upper bound: all labels of the {len(sources['train'])} pretraining videos")
    t0 = time.time()
    sup = train_supervised(cfg, sources["train"], sources["test"], budget.supervised_epochs, seed, progress)
    timings["supervised_s"] = time.time() - t0

    results = result_rows(probe, tuned, sup, budget)
    timings["total_s"] = time.time() - start
    report = {
        "results": results,
        "pretext_health": health,
        "skipclip_vs_random": versus(results, "linear_probe"),
        "skipclip_vs_random_finetune": versus(results, "finetune"),
        "chance_top1": 1.0 / len(sources["labelled"].classes),
        "data": {
            "classes": sources["labelled"].classes,
            "pretrain_videos": len(sources["train"]),
            "labelled_pool_videos": len(sources["labelled"]),
            "test_videos": len(sources["test"]),
            "frames_per_video": cfg.data.synthetic_frames,
            "frame_size": cfg.data.synthetic_size,
        },
        "pretraining": {k: v for k, v in summary.to_dict(with_health=True).items() if k != "metrics"},
        "config": cfg.to_dict(),
        "quick": quick,
        "seed": seed,
        "timings": timings,
    }
    write_report(out / "report.json", report)
    plot_pretraining_curves(
        out / "pretrain" / "logs" / "metrics.csv",
        out / "loss_curves.png",
        baselines=summary.health.baselines if summary.health is not None else None,
    )
    print_report(report)
    print(f"\nwrote {out / 'report.json'} and {out / 'loss_curves.png'}")
    return report


def few_label_runs(cfg, budget: DemoBudget, pretrained_g, sources: dict, timings: dict):
    """Linear probe and fine-tuning from ``budget.shots`` labelled videos per class, for the
    pretrained g and for a random g, over ``budget.seeds`` seeds (each draws its own labelled
    subset, classifier initialisation and random encoder); per-seed rows of each."""
    t0 = time.time()
    k, crop = cfg.pretext.context_frames, cfg.data.crop_size
    lab_src, test_src = sources["labelled"], sources["test"]
    num_classes = len(lab_src.classes)
    feats = {
        "skipclip": (video_features(pretrained_g, lab_src, k, crop), video_features(pretrained_g, test_src, k, crop))
    }
    probe: dict[str, list[dict]] = {"skipclip": [], "random": []}
    tuned: dict[str, list[dict]] = {"skipclip": [], "random": []}
    finetune_s = 0.0
    for s in range(budget.seeds):
        torch.manual_seed(1000 + s)
        rand_enc = ContextEncoder(cfg.model.context_arch, cfg.model.width)
        feats["random"] = (video_features(rand_enc, lab_src, k, crop), video_features(rand_enc, test_src, k, crop))
        pick = _few_shot(feats["skipclip"][0][1], budget.shots, seed=s)  # this seed's labelled videos
        for init in ("skipclip", "random"):
            (xl, yl), (xt, yt) = feats[init]
            scores = fit_linear_probe(xl[pick], yl[pick], num_classes, seed=s)(xt)
            probe[init].append({"seed": s, "top1": topk_accuracy(scores, yt, 1), "top5": topk_accuracy(scores, yt, 5)})
        # fine-tuning g end to end on the same few labelled videos (paper section 4.2, CPU scale)
        t1 = time.time()
        for init, encoder in (("skipclip", pretrained_g), ("random", rand_enc)):
            r = finetune_and_test(
                cfg,
                encoder,
                SubsetSource(lab_src, pick),
                sources["val"],
                test_src,
                epochs=budget.finetune_epochs,
                seed=s,
                progress=False,
            )
            tuned[init].append(
                {
                    "seed": s,
                    "top1": r.test.top1,
                    "top5": r.test.top5,
                    "clip_top1": r.test.clip_top1,
                    "best_epoch": r.best_epoch,
                }
            )
        finetune_s += time.time() - t1
    timings["linear_probe_s"] = time.time() - t0 - finetune_s
    timings["finetune_s"] = finetune_s
    return probe, tuned
