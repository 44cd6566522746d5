"""``skipclip doctor``: counts per split and class, and every problem of a data set."""

from __future__ import annotations

import argparse

HELP = "check a data set or prepared store: counts per split and class, missing, unlisted and short videos"
DESCRIPTION = (
    "Count the videos of a raw data set or a prepared store per split and class, compare with the "
    "official figures (UCF101 split 1: 9537 train / 3783 test), and list files listed but missing, "
    "files present but listed nowhere, unreadable files and videos too short for the pretext window. "
    "Exit status 0 when a run can use the data set (warnings are listed: runs leave those videos "
    "out), 1 when it cannot (no readable video long enough), or with --strict when anything is warned about."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from skipclip.config import Config

    parser.add_argument("--data", required=True, help="a prepared store or a raw video folder")
    parser.add_argument("--split", type=int, default=1, choices=(1, 2, 3), help="official fold")
    parser.add_argument("--splits", default=None, help="split folder when it is not next to the videos")
    from skipclip.commands.prepare import add_layout_arguments

    add_layout_arguments(parser)
    parser.add_argument(
        "--min-frames",
        type=int,
        default=Config().window_length,
        help="pretext window K + M*r + d - 1 (the default is the paper's)",
    )
    parser.add_argument("--val-fraction", type=float, default=0.1, help="share of the training list held out by group")
    parser.add_argument("--max-list", type=int, default=20, help="names printed per problem")
    parser.add_argument("--no-progress", action="store_true", help="no progress while a raw folder is read")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 on any warning too (missing, unlisted, unreadable or short videos, splits)",
    )


def run(args: argparse.Namespace) -> int:
    from skipclip.data import examine

    report = examine(
        args.data,
        fold=args.split,
        min_frames=args.min_frames,
        val_fraction=args.val_fraction,
        splits=args.splits,
        layout=args.layout,
        test_fraction=args.test_fraction,
        group_pattern=args.group_pattern,
        fallback=args.val_fallback,
        label_pattern=args.label_pattern,
        progress=not args.no_progress,
    )
    print(report.text(args.max_list))
    from skipclip.commands.next_step import data_flags, quote, say_next

    data, flags = quote(args.data), data_flags(args)
    if report.label_hint:
        flags += f" --label-pattern {quote(report.label_hint)}"
    if report.blocking:
        return 1
    if report.kind == "raw":
        say_next(
            None,
            f"skipclip prepare --data {data}{flags} --out STORE",
            f"skipclip pretrain --config cpu-real --data {data}{flags} --out runs/pretrain",
        )
    else:
        say_next(None, f"skipclip pretrain --config cpu-real --data {data} --out runs/pretrain")
    return 1 if args.strict and report.warnings else 0
