"""`skipclip pretrain`: Skip-Clip pretraining on synthetic videos, a prepared store or a video folder."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # types only: the command defers its heavy imports so --help stays fast
    from skipclip.eval.pretext_health import PretextHealth
    from skipclip.method.pretext_metrics import RankSummary

HELP = "pretrain the encoders with Skip-Clip"
DESCRIPTION = (
    "Pretrain the context encoder g (3D ResNet-18) and the frame encoder f (2D ResNet-18) by ranking "
    "M future target frames, sampled r frames apart after a K-frame context clip, with the ranking, "
    "contrastive and rotation losses of the Skip-Clip paper. Values given on the command line "
    "override the preset's. Checkpoints, the resolved config and CSV logs go to --out."
)

# command-line flag -> dotted config key
OVERRIDES = {
    "context_frames": "pretext.context_frames",
    "num_targets": "pretext.num_targets",
    "sampling_rate": "pretext.sampling_rate",
    "target_length": "pretext.target_length",
    "rank_margin": "pretext.rank_margin",
    "neg_margin": "pretext.neg_margin",
    "max_epochs": "optim.max_epochs",
    "max_steps": "optim.max_steps",
    "time_budget": "trainer.time_budget_min",
    "lr": "optim.lr",
    "batch_size": "data.batch_size",
    "num_workers": "data.num_workers",
    "crop_size": "data.crop_size",
    "devices": "trainer.devices",
    "num_nodes": "trainer.num_nodes",
    "accelerator": "trainer.accelerator",
    "precision": "trainer.precision",
    "seed": "trainer.seed",
    "on_nonfinite": "trainer.on_nonfinite",
    "arch": "model.context_arch",
    "width": "model.width",
}


def add_arguments(p):
    from skipclip.commands.flags import add_common_training_arguments, non_negative

    p.add_argument(
        "--data",
        default="synthetic",
        help="'synthetic' (built in), a prepared store (from `skipclip prepare`) or a video folder",
    )
    p.add_argument("--out", required=True, help="run folder: checkpoints, logs, resolved config")
    from skipclip.commands.prepare import add_layout_arguments

    add_layout_arguments(p, with_defaults=False)
    add_common_training_arguments(p)
    g = p.add_argument_group("pretext task (paper section 3.1)")
    g.add_argument("--context-frames", type=int, metavar="K", help="context clip length K")
    g.add_argument("--num-targets", type=int, metavar="M", help="number of target clips M")
    g.add_argument("--sampling-rate", type=int, metavar="R", help="frames between targets r")
    g.add_argument("--target-length", type=int, metavar="D", help="frames per target clip d")
    g.add_argument("--rank-margin", type=float, metavar="X", help="margin of the ranking loss (Eq. 1)")
    g.add_argument("--neg-margin", type=float, metavar="X", help="margin of the contrastive loss (Eq. 2)")
    g.add_argument("--no-rotation", action="store_true", help="drop the rotation task")
    g.add_argument("--no-negatives", action="store_true", help="drop the contrastive loss")
    m = p.add_argument_group("model")
    m.add_argument("--arch", choices=["r3d18_hara", "r3d_18", "r2plus1d_18"], help="context encoder")
    m.add_argument("--width", type=int, help="channels of the first stage (64 = paper)")
    p.add_argument("--on-nonfinite", choices=["stop", "skip"], help="on a NaN/inf loss: stop, or skip the batch")
    p.add_argument(
        "--log-images-every",
        type=non_negative,
        default=10,
        metavar="EPOCHS",
        help="draw Figure 3 (similarity maps) of 3 fixed validation videos every EPOCHS epochs to "
        "OUT/figures/ and to the TensorBoard / W&B loggers, under a step budget at most 3 times a run "
        "(0: never)",
    )
    p.add_argument(
        "--checkpoint-every",
        type=non_negative,
        default=50,
        metavar="STEPS",
        help="write OUT/checkpoints/last.ckpt every STEPS optimiser steps, so --resume continues "
        "mid-epoch after a crash, and the epoch checkpoints at least STEPS steps apart (always at "
        "the last step) rather than after every validation (0: at every epoch end only)",
    )


def config_from_args(args):
    from skipclip.commands.flags import config_source, epochs_instead_of_steps
    from skipclip.commands.prepare import LAYOUT_OVERRIDES
    from skipclip.config import check_synthetic_window, load_config, parse_sets

    overrides = {key: getattr(args, flag, None) for flag, key in {**OVERRIDES, **LAYOUT_OVERRIDES}.items()}
    if getattr(args, "no_rotation", False):
        overrides["pretext.rotation"] = False
    if getattr(args, "no_negatives", False):
        overrides["pretext.negatives"] = False
    if getattr(args, "config", None) is None:
        args.config = config_source(args, default=None)  # --resume: the run's own OUT/config.yaml
    from skipclip.commands.defaults import choose_preset

    cfg = load_config(choose_preset(args), overrides, sets=parse_sets(getattr(args, "set", None)))
    epochs_instead_of_steps(args, cfg, cfg.optim)
    if str(getattr(args, "data", "synthetic")).startswith("synthetic"):
        check_synthetic_window(cfg)
    return cfg


def run(args) -> int:
    from skipclip.engine.attempts import RunFinished
    from skipclip.engine.loggers import parse_loggers
    from skipclip.recipes.pretrain import pretrain

    cfg = config_from_args(args)  # validated before any work starts
    loggers = parse_loggers(args.logger)
    try:
        _, _, summary = pretrain(
            cfg,
            args.data,
            args.out,
            resume=args.resume,
            force=args.force,
            progress=not args.no_progress,
            checkpoint_every=args.checkpoint_every,
            loggers=loggers,
            images_every=args.log_images_every,
        )
    except RunFinished as done:  # --resume of a finished run asking for no more training
        print(done)
        return 0
    print_summary(summary)
    from pathlib import Path

    from skipclip.commands.next_step import data_flags, quote, say_next

    out, data, ckpt = quote(Path(args.out)), quote(args.data), quote(summary.last_checkpoint)
    config = f" --config {quote(args.config)}" if args.config != str(Path(args.out) / "config.yaml") else ""
    say_next(
        f"the run is in {args.out}: checkpoints/last.ckpt, config.yaml, run.json, logs/",
        f"skipclip finetune{config} --data {data}{data_flags(args)} --ckpt {ckpt} --out {out}-finetune",
        f"skipclip features --ckpt {ckpt} --data {data}{data_flags(args)} --out {out}/features.npz",
        f"skipclip export --ckpt {ckpt} --out {out}/export",
    )
    return 0


def print_summary(summary) -> None:
    """The closing summary of a pretraining run (the command's, and :func:`skipclip.pretrain`'s)."""
    m, b = summary.metrics, summary.budget
    print(
        f"\npretrained {summary.epochs} epoch{'' if summary.epochs == 1 else 's'}, {summary.steps} "
        f"step{'' if summary.steps == 1 else 's'} in {summary.wall_s:.0f} s "
        f"(budget: {b.budget}; stopped by {b.stopped_by})"
    )
    print(videos_line(summary))
    # one held-out rank accuracy: pretext health's when measured (the in-batch val/ figures are in the logs)
    shown = (
        ("train/loss",)
        if summary.health is not None
        else ("val/rank_acc", "val/kendall_tau", "val/pos_neg_gap", "train/loss")
    )
    for key in shown:
        if key in m:
            print(f"  {key + (' (in-batch)' if key.startswith('val/') else ''):18s} {m[key]:.3f}")
    for line in health_lines(summary.health):
        print(line)
    if summary.wall_s > 0:
        print(
            f"  monitoring {summary.monitor_s:.1f} s, {100 * summary.monitor_s / summary.wall_s:.0f}% of the run "
            f"({summary.validations} validations; cadence: optim.val_every_steps, trainer.health_every, "
            "trainer.knn_every)"
        )
    if summary.figure_sets and summary.wall_s > 0:
        print(
            f"  similarity figures {summary.figures_s:.1f} s, {100 * summary.figures_s / summary.wall_s:.0f}% "
            f"of the run ({summary.figure_sets} sets; --log-images-every 0: none)"
        )
    cache = summary.frame_cache
    if cache and cache["hits"] + cache["misses"]:
        print(
            f"  frame cache: {cache['misses']:,} frames decoded, {cache['hits']:,} read from memory "
            f"({100 * cache['hits'] / (cache['hits'] + cache['misses']):.0f}%); {cache['bytes'] / 2**20:.0f} MB "
            f"held of {cache['budget'] / 2**20:.0f} (data.frame_cache_mb)"
        )
    if summary.too_short_videos or summary.failed_videos or summary.skipped_videos:
        print(
            f"  skipped: {summary.too_short_videos} too short, {len(summary.failed_videos)} unreadable, "
            f"{summary.skipped_videos} reads passed over"
        )


def videos_line(summary) -> str:
    """How many videos pretraining used, and why the others were held out."""
    s = summary
    total = s.train_videos + s.too_short_videos + s.val_videos + s.test_videos
    parts = [f"  videos: trained on {s.train_videos} of {total}"]
    if s.too_short_videos:
        parts.append(f"{s.too_short_videos} shorter than the pretext window")
    if s.val_videos:
        parts.append(f"{s.val_videos} held out for validation (the pretext health below, the figures)")
    if s.test_videos:
        parts.append(f"{s.test_videos} in the test split, never read here (kept unseen for evaluation)")
    return "; ".join(parts)


def health_lines(health: PretextHealth | None) -> list[str]:
    """The run's pretext health (docs/pretext-health.md) as lines of the printed summary: the
    verdict, then each ranker with its interval and the model minus it on the same windows."""
    if health is None:
        return []
    vs = health.vs

    def row(name: str, m: RankSummary | None, windows: int = 0, videos: int = 0, key: str | None = None) -> str:
        if m is None:
            return f"    {name:22s} -"
        where = f"  ({windows} windows" + (f" of {videos} videos)" if videos else ")") if windows else ""
        lo, hi = m.rank_acc_ci
        ci = f"[{lo:.3f}, {hi:.3f}]" if lo == lo and hi == hi else "[too few videos]"
        p = vs.get(key) if key else None
        diff = ""
        if p is not None:
            diff = f"  model - it {p.diff:+.3f}" + (f" [{p.ci[0]:+.3f}, {p.ci[1]:+.3f}]" if p.ci is not None else "")
        return f"    {name:22s} {m.rank_acc:.3f} {ci}{where}{diff}"

    h, t = health.held_out, health.train
    bn = "recomputed on training windows" if health.bn_stats.get("kind") == "precise" else "running averages"
    lines = [
        f"  pretext health: {health.verdict}",
        f"  at step {health.step}, rank accuracy [95% interval over videos], batch norm {bn}:",
        row("held-out", h, h.windows if h else 0, h.videos if h else 0),
        row("train sample", t, t.windows if t else 0),
    ]
    for name, b in health.baselines.items():
        lines.append(row(f"{name} (baseline)", b, key=name))
    if health.knn_top1 is not None:
        lines.append(f"    {'kNN top-1':22s} {health.knn_top1:.3f}  (held-out videos, step {health.knn_step})")
    return lines
