"""`skipclip finetune`: fine-tune the context encoder g for action recognition (section 4.2)."""

from skipclip.commands.flags import (
    add_device_arguments,
    add_logger_argument,
    add_set_argument,
    config_source,
    epochs_instead_of_steps,
    positive_int,
)

HELP = "fine-tune the context encoder for action recognition and test it (paper section 4.2)"


def _keeps() -> str:
    from skipclip.commands.flags import by_value, preset_values

    return by_value(
        preset_values("finetune", "selection"),
        {
            "best": "the best validation video accuracy (finetune.selection: best)",
            "last": "the last, training on the whole training list (finetune.selection: last, "
            "finetune.val_fraction: 0, the paper's reading)",
        },
    )


_DESCRIPTION = (
    "Fine-tune g + global average pooling + a linear layer on the labelled training split, keep "
    "the weights the preset selects, never by the test split; then test the paper's way: centre "
    "crop, every non-overlapping window of each test video, softmax averaged per video. Which "
    "weights are kept: {keeps}. Start g at random (--ckpt random, to be spelled out), from a Skip-Clip "
    "checkpoint (--ckpt CKPT), or from 2D weights inflated into 3D (--inflate FILE: a torchvision "
    "ResNet-18 state dict, or a Skip-Clip checkpoint whose frame encoder is inflated). --linear "
    "trains only the linear layer on frozen g (the finetune_frozen protocol). Writes "
    "OUT/report.json, OUT/checkpoints/best.ckpt (the selected weights), OUT/checkpoints/last.ckpt "
    "(atomic, at each epoch end, for --resume after a crash or preemption) and the logs."
)

DESCRIPTION = _DESCRIPTION.format(keeps=_keeps())

OVERRIDES = {
    "max_epochs": "finetune.max_epochs",
    "max_steps": "finetune.max_steps",
    "time_budget": "trainer.time_budget_min",
    "lr": "finetune.lr",
    "batch_size": "finetune.batch_size",
    "clip_frames": "finetune.clip_frames",
    "crop_size": "finetune.crop_size",
    "seed": "trainer.seed",
    "num_workers": "data.num_workers",
    "devices": "trainer.devices",
    "num_nodes": "trainer.num_nodes",
    "accelerator": "trainer.accelerator",
    "val_fraction": "data.val_fraction",
}


def add_data_arguments(p):
    from skipclip.commands.prepare import add_layout_arguments

    p.add_argument(
        "--data",
        default="synthetic",
        help="'synthetic' (built in), a prepared store or a labelled video folder in any layout "
        "(class subfolders, train/ val/ trees, list files, Kinetics, SSv2, UCF101, HMDB51)",
    )
    add_layout_arguments(p, with_defaults=False)
    from skipclip.commands.flags import batch_help, preset_help

    p.add_argument(
        "--val-fraction",
        type=float,
        help="share of each class's training videos held out by group "
        "for model selection (default: finetune.val_fraction, else data.val_fraction)",
    )
    p.add_argument(
        "--config",
        help=preset_help(
            "; its finetune section. Default: cpu for --data synthetic, cpu-real "
            "for a store or video folder (the preset used is printed); with "
            "--resume, the run's own OUT/config.yaml"
        ),
    )
    p.add_argument(
        "--max-steps",
        type=positive_int,
        metavar="N",
        help="fine-tuning optimiser steps (default: finetune.max_steps; epochs without it)",
    )
    p.add_argument(
        "--max-epochs",
        type=int,
        help="fine-tune this many epochs instead of a step budget (alone: overrides the preset's steps)",
    )
    p.add_argument("--time-budget", type=float, metavar="MIN", help="stop fine-tuning after this many minutes")
    p.add_argument(
        "--seeds",
        type=positive_int,
        default=1,
        metavar="N",
        help="repeat with seeds SEED..SEED+N-1 and report mean and spread (default 1)",
    )
    p.add_argument("--lr", type=float, help="fine-tuning learning rate")
    p.add_argument("--batch-size", type=int, help=batch_help("clips", "finetune.batch_size"))
    p.add_argument("--clip-frames", type=int, help="frames per clip and test window (paper: 16)")
    p.add_argument("--crop-size", type=int, help="crop side in pixels (paper: 112)")
    p.add_argument("--num-workers", type=int, help="data-loading worker processes")
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress (shown on stderr: a bar on a terminal, a line every 30 s in a file)",
    )
    add_device_arguments(p)
    add_set_argument(p)


def add_arguments(p):
    p.add_argument("--out", required=True, help="run folder: report.json, checkpoints, logs")
    from skipclip.commands.flags import add_with_aliases

    add_with_aliases(
        p,
        "--ckpt",
        ["--init"],
        dest="init",
        metavar="CKPT",
        help="where g starts: a Skip-Clip checkpoint (RUN/checkpoints/last.ckpt), an exported "
        "context_encoder.safetensors, a run folder, or 'random' (the baseline; spelled out, "
        "never a silent default)",
    )
    p.add_argument(
        "--inflate",
        metavar="FILE",
        help="start g from inflated 2D weights: a torchvision ResNet-18 state dict, or a Skip-Clip "
        "checkpoint (its frame encoder)",
    )
    p.add_argument("--linear", action="store_true", help="train the linear layer only, on frozen g")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from OUT/checkpoints/last.ckpt")
    p.add_argument("--force", action="store_true", help="overwrite a run or report already in --out")
    add_logger_argument(p)
    add_data_arguments(p)


def config_from_args(args):
    from skipclip.commands.prepare import LAYOUT_OVERRIDES
    from skipclip.config import load_config, parse_sets

    flags = {**OVERRIDES, **LAYOUT_OVERRIDES}
    if args.config is None:
        args.config = config_source(args, default=None)  # --resume: the run's own OUT/config.yaml
    from skipclip.commands.defaults import choose_preset

    cfg = load_config(
        choose_preset(args), {key: getattr(args, flag, None) for flag, key in flags.items()}, sets=parse_sets(args.set)
    )
    epochs_instead_of_steps(args, cfg, cfg.finetune)
    return cfg


def run(args) -> int:
    if args.init is None and not args.inflate:
        from skipclip.errors import InvalidInputError

        raise InvalidInputError(
            "say where g starts: --ckpt RUN/checkpoints/last.ckpt (or a run folder or export) "
            "for Skip-Clip weights, --ckpt random for the random-initialisation baseline, or "
            "--inflate FILE"
        )
    args.init = args.init or "random"
    from skipclip.data import per_class_table
    from skipclip.engine.attempts import RunFinished
    from skipclip.engine.loggers import parse_loggers
    from skipclip.eval.report import results_table
    from skipclip.recipes.finetune import run_finetune

    cfg, loggers = config_from_args(args), parse_loggers(args.logger)
    from skipclip.weights import resolve_weights

    init = args.init if args.init == "random" else str(resolve_weights(args.init))
    try:
        report = run_finetune(
            cfg,
            args.data,
            args.out,
            init=init,
            inflate=args.inflate,
            frozen=args.linear,
            force=args.force,
            resume=args.resume,
            progress=not args.no_progress,
            loggers=loggers,
            seeds=args.seeds,
        )
    except RunFinished as done:  # --resume of a finished run asking for no more training
        print(done)
        return 0
    if not report:
        return 0
    history, test = report["history"], report["results"][0]
    print("\n" + per_class_table(report["data"]["per_class"]))
    print("\n" + results_table(report["results"]))
    for r in report.get("per_seed", [report["results"][0]]):
        print(
            f"seed {r['seed']}: top-1 {100 * r['top1']:.1f} %, selected epoch {r['best_epoch']} / step "
            f"{r.get('best_step')} of {r.get('steps')} ({history['selected_by']}; budget {r.get('budget')}, "
            f"{r.get('train_s', 0):.0f} s)"
        )
    print(f"{test['windows_per_video']['mean']:.1f} windows per test video")
    if report.get("failed_videos"):
        from skipclip.data import printable

        print(
            f"skipped {len(report['failed_videos'])} unreadable videos (named in report.json), e.g. "
            + "; ".join(f"{printable(n)}: {r}" for n, r in list(report["failed_videos"].items())[:3])
        )
    from pathlib import Path

    from skipclip.commands.next_step import data_flags, quote, say_next

    out, data, best = Path(args.out), quote(args.data), quote(report["checkpoint"])
    say_next(
        f"the report is {out / 'report.json'}; the selected weights {report['checkpoint']}",
        f"skipclip evaluate --ckpt {best} --data {data}{data_flags(args)}",
        f"skipclip features --ckpt {best} --data {data}{data_flags(args)} --out {quote(out / 'features.npz')}",
        f"skipclip export --ckpt {best} --out {quote(out / 'export')}",
    )
    return 0
