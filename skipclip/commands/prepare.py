"""``skipclip prepare``: decode a data set once into a prepared store."""

from __future__ import annotations

import argparse

HELP = "decode UCF101, HMDB51 or a folder of videos once into a fast prepared store"
DESCRIPTION = (
    "Decode every listed video once with PyAV, resized to a short side, into a store that gives "
    "random access to any frames (one file per video, JPEG frames behind an offset table). "
    "Resumable: run it again to finish an interrupted run. Bad videos are listed and skipped; the "
    "exit status is non-zero only when the split files are wrong or no usable video is left."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--videos", required=True, help="the video folder (UCF-101/, HMDB51's class folders, or any folder)")
    parser.add_argument("--out", required=True, help="the store directory to create or complete")
    parser.add_argument("--splits", default=None, help="split folder (ucfTrainTestlist/ or testTrainMulti_7030_splits/) "
                        "when it is not next to the videos")
    parser.add_argument("--layout", choices=("ucf101", "hmdb51", "folder"), default=None, help="detected when omitted")
    parser.add_argument("--short-side", type=int, default=128, help="short side of the stored frames in px "
                        "(256 for the paper's 224-px crops)")
    parser.add_argument("--workers", type=int, default=None, help="decoding processes (default: all cores; 0 = in process)")
    parser.add_argument("--codec", choices=("jpeg", "raw"), default="jpeg", help="frame storage (raw: no decoding, ~16x bigger)")
    parser.add_argument("--quality", type=int, default=90, help="JPEG quality")
    parser.add_argument("--time-limit", type=float, default=1800.0, metavar="SECONDS",
                        help="per-video decoding time limit; a video past it is recorded as failed and skipped")
    parser.add_argument("--retry-failed", action="store_true",
                        help="decode again videos that killed a decoding process in an earlier run")
    parser.add_argument("--check", action="store_true", help="run `skipclip doctor` on the store afterwards")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from skipclip.data.prepare import prepare

    report = prepare(args.videos, args.out, splits=args.splits, layout=args.layout, short_side=args.short_side,
                     workers=args.workers, codec=args.codec, quality=args.quality, progress=not args.no_progress,
                     time_limit=args.time_limit or None, retry_failed=args.retry_failed)
    print(report.summary())
    if not report.ok:
        print(f"skipclip prepare: error: no usable video in {args.out}; see the reasons above")
        return 1
    if args.check:
        from skipclip.data.doctor import examine

        print(examine(args.out).text())
    return 0
