"""``skipclip prepare``: decode a data set once into a prepared store."""

from __future__ import annotations

import argparse

HELP = "decode a data set (UCF101, HMDB51, Kinetics, SSv2, list files, split folders, any folder) into a fast store"

LAYOUT_OVERRIDES = {
    "layout": "data.layout",
    "test_fraction": "data.test_fraction",
    "group_pattern": "data.group_pattern",
    "label_pattern": "data.label_pattern",
    "val_fallback": "data.val_fallback",
}


def add_layout_arguments(parser: argparse.ArgumentParser, with_defaults: bool = True) -> None:
    """--layout, --test-fraction, --group-pattern, --val-fallback: how a raw folder is read and split."""
    from skipclip.config.sections import LAYOUTS

    parser.add_argument("--layout", choices=LAYOUTS, default=None, help="force a layout (detected when omitted)")
    parser.add_argument(
        "--test-fraction",
        type=float,
        default=0.2 if with_defaults else None,
        help="share of each class a folder without split files holds out as test (by group)",
    )
    parser.add_argument(
        "--group-pattern",
        default=None,
        metavar="REGEX",
        help="regular expression whose match (first group) is a video's recording session, "
        r"e.g. 'person\d+'; default: UCF-style gNN names, else one group per video",
    )
    parser.add_argument(
        "--label-pattern",
        default=None,
        metavar="REGEX",
        help="regular expression whose first group, searched in a video's path, is its class, for "
        r"folders whose file names carry the class: KTH's person01_boxing_d2_uncomp.avi with "
        r"'person\d+_([a-z]+)_' (folder layout; replaces class subfolders)",
    )
    parser.add_argument(
        "--val-fallback",
        choices=("videos", "skip", "error"),
        default="videos" if with_defaults else None,
        help="classes whose groups cannot be held out: hold out single videos, leave them out of validation, or stop",
    )


DESCRIPTION = (
    "Decode every listed video once with PyAV, resized to a short side, into a store that gives "
    "random access to any frames (one file per video, JPEG frames behind an offset table). "
    "Resumable: run it again to finish an interrupted run (a video changed since is decoded again). Bad "
    "videos are listed and skipped; the exit status is non-zero when the split files are wrong, no usable "
    "video is left, the disk fills up, or --out holds what this run would replace without --force (split "
    "files skipclip did not write, a store of another video folder)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from skipclip.commands.flags import add_with_aliases

    add_with_aliases(
        parser,
        "--data",
        ["--videos"],
        required=True,
        help="the video folder in any layout of docs/data-layouts.md (class subfolders, flat with "
        "--label-pattern, train/ val/ trees, list files, Kinetics CSVs, SSv2 JSON, UCF101, HMDB51)",
    )
    parser.add_argument("--out", required=True, help="the store directory to create or complete")
    parser.add_argument(
        "--splits",
        default=None,
        help="split folder (ucfTrainTestlist/ or testTrainMulti_7030_splits/) when it is not next to the videos",
    )
    add_layout_arguments(parser)
    parser.add_argument(
        "--config",
        default="cpu-real",
        metavar="PRESET_OR_YAML",
        help="the preset (or YAML) the store is for: frames are stored at the largest short side it "
        "reads (data.short_side, finetune.short_side): 56 px for cpu-real (the default) and cpu, "
        "256 px for paper. A store serves any run that reads frames at most that size",
    )
    parser.add_argument(
        "--short-side",
        type=int,
        default=None,
        help="short side of the stored frames in px, instead of --config's (e.g. 128 for one store "
        "serving the CPU presets and the paper's 112-px fine-tuning crops)",
    )
    add_with_aliases(
        parser,
        "--num-workers",
        ["--workers"],
        type=int,
        default=None,
        metavar="N",
        help="decoding processes (default: all cores; 0 = in this process)",
    )
    parser.add_argument(
        "--codec", choices=("jpeg", "raw"), default="jpeg", help="frame storage (raw: no decoding, ~16x bigger)"
    )
    parser.add_argument("--quality", type=int, default=90, help="JPEG quality")
    parser.add_argument(
        "--time-limit",
        type=float,
        default=1800.0,
        metavar="SECONDS",
        help="per-video decoding time limit; a video past it is recorded as failed and skipped",
    )
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="decode again videos that killed a decoding process in an earlier run",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace OUT/splits/ as a whole even where it holds files skipclip did not write, and "
        "turn a store of another video folder into one of --data (changed videos are decoded again)",
    )
    parser.add_argument("--check", action="store_true", help="run `skipclip doctor` on the store afterwards")
    parser.add_argument("--no-progress", action="store_true", help="no progress")


def store_short_side(config: str) -> int:
    """The short side a store for ``config`` (a preset name or YAML) needs: the largest its runs
    resize frames to (``data.short_side``, ``finetune.short_side``)."""
    from skipclip.config import load_config
    from skipclip.config.finetune_settings import finetune_settings

    cfg = load_config(config)
    return max(cfg.data.short_side, finetune_settings(cfg).short_side)


def default_short_side(out: str, config: str) -> tuple[int, str]:
    """``--short-side`` when it is not given, and why: an existing store's own (a resumed or
    completed store keeps its size), else what ``config`` reads (:func:`store_short_side`)."""
    from pathlib import Path

    from skipclip.data import MANIFEST, load_manifest

    if (Path(out) / MANIFEST).is_file():
        stored = load_manifest(out).get("short_side")
        if isinstance(stored, int) and not isinstance(stored, bool):
            return stored, f"the size of the store already in {out}"
    return store_short_side(config), f"what --config {config} reads"


def run(args: argparse.Namespace) -> int:
    from skipclip.data import prepare

    if args.short_side is None:
        args.short_side, why = default_short_side(args.out, args.config)
        print(f"frames stored at a {args.short_side} px short side ({why})")
    report = prepare(
        args.data,
        args.out,
        splits=args.splits,
        layout=args.layout,
        short_side=args.short_side,
        workers=args.num_workers,
        label_pattern=args.label_pattern,
        codec=args.codec,
        quality=args.quality,
        progress=not args.no_progress,
        time_limit=args.time_limit or None,
        retry_failed=args.retry_failed,
        test_fraction=args.test_fraction,
        group_pattern=args.group_pattern,
        fallback=args.val_fallback,
        force=args.force,
    )
    print(report.summary())
    if not report.ok:
        print(f"skipclip prepare: error: no usable video in {args.out}; see the reasons above")
        return 1
    if args.check:
        from skipclip.data import examine

        print(examine(args.out, fallback=args.val_fallback).text())
    from skipclip.commands.next_step import quote, say_next

    store = quote(args.out)
    say_next(
        f"the store is in {args.out}",
        f"skipclip doctor --data {store}",
        f"skipclip pretrain --config {quote(args.config)} --data {store} --out runs/pretrain",
    )
    return 0
