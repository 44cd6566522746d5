"""The shape of the paper's Tables 1 and 2 on a given data set, measured by fine-tuning.

Table 1 compares initialisations of g: random, inflated 2D weights, Skip-Clip. Table 2 is the
ablation: basic Skip-Clip (ranking loss only), + rotation, + rotation + negatives (the full model,
the same pretrained encoder as Table 1's Skip-Clip row). Each variant is pretrained once; every
row is fine-tuned and tested over several seeds (clip sampling, crops, batch order, classifier
and, for the random row, g's initialisation), reported as mean and standard deviation.

The inflation row inflates the frame encoder f of the full Skip-Clip checkpoint into g (or a 2D
ResNet-18 state dict given with ``inflate``): on the synthetic data there are no ImageNet weights,
so this is the frame-encoder variant of the paper's "ImageNet inflation" baseline.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from skipclip.config import Config, apply_overrides, finetune_settings, validate
from skipclip.data import open_data
from skipclip.engine.runs import check_output_dir
from skipclip.errors import InvalidInputError
from skipclip.eval.finetune import finetune_and_test
from skipclip.eval.finetune_inputs import check_sources
from skipclip.eval.report import finetune_card, mean_std, summary_table, write_report
from skipclip.recipes.pretrain import pretrain
from skipclip.utils.io import atomic_write_text
from skipclip.viz.bars import plot_tables
from skipclip.weights.initialise import initial_encoder

VARIANTS = {  # Table 2 rows: name -> pretext overrides
    "basic": {"pretext.rotation": False, "pretext.negatives": False},
    "rotation": {"pretext.rotation": True, "pretext.negatives": False},
    "rotation+negatives": {"pretext.rotation": True, "pretext.negatives": True},
}
ROW_NAMES = {
    "random": "Random initialization",
    "inflation": "Inflation (2D f -> 3D g)",
    "skipclip": "Skip-Clip",
    "basic": "Skip-Clip",
    "rotation": "Skip-Clip + rotation",
    "rotation+negatives": "Skip-Clip + rotation + negative sampling",
}


@dataclass
class ReproduceBudget:
    """How much work each part gets. ``None`` leaves the config's value."""

    pretrain_epochs: int
    finetune_epochs: int
    seeds: int = 3
    videos_per_class: int | None = None  # synthetic pretraining videos per class
    overrides: dict = dataclasses.field(default_factory=dict)


# about 15-20 minutes on 2 idle CPU cores with the cpu preset
DEFAULT = ReproduceBudget(pretrain_epochs=30, finetune_epochs=30)
# seconds, for tests: tiny data, one epoch each
QUICK = ReproduceBudget(
    pretrain_epochs=1,
    finetune_epochs=1,
    seeds=3,
    videos_per_class=4,
    overrides={
        "model.width": 8,
        "data.batch_size": 8,
        "finetune.batch_size": 16,
        "data.synthetic_frames": 32,
        "data.synthetic_classes": 4,
    },
)


def variant_config(cfg: Config, name: str) -> Config:
    """``cfg`` with the pretext switches of Table 2 row ``name``."""
    c = dataclasses.replace(cfg, pretext=dataclasses.replace(cfg.pretext))
    apply_overrides(c, VARIANTS[name])
    return validate(c)


def reproduce(
    cfg: Config,
    data: str,
    out: str | Path,
    *,
    budget: ReproduceBudget = DEFAULT,
    inflate: str | Path | None = None,
    progress: bool = False,
    log=print,
    force: bool = False,
) -> dict:
    """Pretrain the three Skip-Clip variants, fine-tune and test every row over ``budget.seeds``
    seeds, write ``OUT/report.json``, ``OUT/tables.txt`` and ``OUT/tables.png``.

    Returns:
        The report: ``results`` (one row per init and seed), ``tables`` (mean/std per row), the
        protocol card, timings.

    Raises:
        ValueError: unusable data (checked before pretraining starts).
        FileExistsError: ``out`` already holds a report or pretraining runs and ``force`` is not given.
    """

    start = time.time()
    out = Path(out)
    check_output_dir(out, force)
    if budget.videos_per_class is not None:
        apply_overrides(cfg, {"data.synthetic_videos_per_class": budget.videos_per_class})
    apply_overrides(cfg, {"optim.max_epochs": budget.pretrain_epochs, **budget.overrides})
    validate(cfg)
    if budget.seeds < 1:
        raise InvalidInputError(f"--seeds must be >= 1 (the paper's tables need >= 3 for a spread), got {budget.seeds}")
    splits = open_data(data, cfg, need_test=True)
    train_src, val_src, test_src = splits.labelled, splits.val, splits.test
    ft = finetune_settings(cfg)
    check_sources(train_src, val_src, test_src, ft.clip_frames)
    timings: dict[str, float] = {}

    ckpts = pretrain_variants(cfg, data, out, force, progress, timings, log, start)
    results = finetune_rows(cfg, ckpts, inflate, (train_src, val_src, test_src), budget, progress, timings, log, start)
    tables = [
        {
            "title": "Table 1. Top-1 video accuracy by initialisation, fine-tuned",
            "rows": [
                summarise(results, "random", ROW_NAMES["random"]),
                summarise(results, "inflation", ROW_NAMES["inflation"]),
                summarise(results, "rotation+negatives", ROW_NAMES["skipclip"]),
            ],
        },
        {
            "title": "Table 2. Ablation, top-1 video accuracy, fine-tuned",
            "rows": [summarise(results, v, ROW_NAMES[v]) for v in VARIANTS],
        },
    ]
    chance = 1.0 / len(train_src.classes)
    text = "\n\n".join(summary_table(t["title"], t["rows"]) for t in tables)
    text += (
        f"\n\n{budget.seeds} fine-tuning seeds per row (mean ± sample std); one pretraining per variant. "
        f"Chance top-1 {100 * chance:.1f}%. Inflation: "
        + (
            f"2D state dict {inflate}."
            if inflate
            else "frame encoder f of the full Skip-Clip checkpoint (no ImageNet weights here)."
        )
    )
    timings["total_s"] = time.time() - start
    report = {
        "results": results,
        "tables": tables,
        "protocol_card": {
            "finetune": finetune_card(ft, results[0]["windows_per_video"]),
            "pretraining": {"epochs": budget.pretrain_epochs, "variants": VARIANTS, "checkpoints": ckpts},
            "inflation": "2D state dict " + str(inflate)
            if inflate
            else "frame encoder f of the full Skip-Clip checkpoint inflated into g "
            "(each 2D kernel repeated along time, divided by the temporal kernel size); "
            "not ImageNet weights",
            "seeds": budget.seeds,
            "finetune_epochs": budget.finetune_epochs,
        },
        "chance_top1": chance,
        "data": {
            "data": data,
            "classes": list(train_src.classes),
            "train_videos": len(train_src),
            "val_videos": len(val_src) if val_src is not None else 0,
            "test_videos": len(test_src),
        },
        "config": cfg.to_dict(),
        "timings": timings,
    }
    write_report(out / "report.json", report)
    atomic_write_text(out / "tables.txt", text + "\n")
    plot_tables(tables, out / "tables.png", chance=chance)
    log("\n" + text)
    log(
        f"\nwrote {out / 'report.json'}, {out / 'tables.txt'} and {out / 'tables.png'} "
        f"({timings['total_s'] / 60:.1f} min)"
    )
    return report


def pretrain_variants(
    cfg: Config, data: str, out: Path, force: bool, progress: bool, timings: dict, log, start: float
) -> dict[str, str]:
    """One pretraining run per Table 2 variant; their ``last.ckpt`` paths."""
    ckpts = {}
    for name in VARIANTS:
        t0 = time.time()
        _, _, summary = pretrain(
            variant_config(cfg, name), data, out / "pretrain" / name.replace("+", "_"), force=force, progress=progress
        )
        ckpts[name] = summary.last_checkpoint
        timings[f"pretrain_{name}_s"] = time.time() - t0
        log(
            f"[{time.time() - start:6.0f} s] pretrained {name}: {summary.epochs} epochs, "
            f"{summary.wall_s:.0f} s -> {ckpts[name]}"
        )
    return ckpts


def finetune_rows(
    cfg: Config,
    ckpts: dict,
    inflate,
    splits: tuple,
    budget: ReproduceBudget,
    progress: bool,
    timings: dict,
    log,
    start: float,
) -> list[dict]:
    """Fine-tune and test every row of Tables 1 and 2 for every seed."""
    train_src, val_src, test_src = splits
    rows = {
        "random": ("random", None),
        "inflation": ("random", inflate or ckpts["rotation+negatives"]),
        **{name: (ckpts[name], None) for name in VARIANTS},
    }
    results = []
    for seed in range(budget.seeds):
        for row, (init, infl) in rows.items():
            t0 = time.time()
            g, info = initial_encoder(cfg, init, infl, seed=1000 + seed)
            r = finetune_and_test(
                cfg, g, train_src, val_src, test_src, epochs=budget.finetune_epochs, seed=seed, progress=progress
            )
            results.append({**dataclasses.replace(r, init=row).to_dict(), "init_info": info})
            timings[f"finetune_{row}_{seed}_s"] = time.time() - t0
            log(
                f"[{time.time() - start:6.0f} s] seed {seed} {row:20s} video top-1 {100 * r.test.top1:5.1f} %  "
                + (f"top-5 {100 * r.test.top5:5.1f} %  " if r.test.top5 is not None else "")
                + f"clip top-1 {100 * r.test.clip_top1:5.1f} %  "
                + f"(val {100 * (r.val_top1 or 0):.1f} % @ epoch {r.best_epoch})"
            )
    return results


def summarise(results: list[dict], row: str, name: str) -> dict:
    """One table row: top-1, top-5 and clip top-1 over the seeds of ``row``."""
    rs = [r for r in results if r["init"] == row]
    m1, s1 = mean_std([r["top1"] for r in rs])
    m5, s5 = mean_std([r["top5"] for r in rs])
    mc, sc = mean_std([r["clip_top1"] for r in rs])
    return {
        "row": row,
        "name": name,
        "mean": m1,
        "std": s1,
        "top5_mean": m5,
        "top5_std": s5,
        "clip_top1_mean": mc,
        "clip_top1_std": sc,
        "values": [r["top1"] for r in rs],
        "seeds": len(rs),
    }


__all__ = ["DEFAULT", "QUICK", "ROW_NAMES", "ReproduceBudget", "VARIANTS", "reproduce"]
