"""``skipclip bench``: measured speed. ``loader``: the data pipeline; ``train``: training steps."""

from __future__ import annotations

import argparse
import importlib

HELP = "benchmarks: `bench loader` (prepared store vs on-the-fly decoding), `bench train`"

SUBCOMMANDS = {
    "loader": "pretext samples/s and frames/s per core from the prepared store and from the video files",
    "train": "training steps per second",
}


def _module(name: str):
    try:
        return importlib.import_module(f"skipclip.bench.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"skipclip.bench.{name}":
            return None  # not built yet
        raise


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from skipclip.utils.flags import HelpFormatter

    sub = parser.add_subparsers(dest="bench", metavar="BENCHMARK")
    for name, help_ in SUBCOMMANDS.items():
        module = _module(name)
        if module is None:
            continue
        p = sub.add_parser(name, help=getattr(module, "HELP", help_), description=getattr(module, "DESCRIPTION", help_),
                           formatter_class=HelpFormatter)
        module.add_arguments(p)
        p.set_defaults(_bench=module)
    parser.set_defaults(_bench_parser=parser)


def run(args: argparse.Namespace) -> int:
    module = getattr(args, "_bench", None)
    if module is None:
        args._bench_parser.print_help()
        return 0
    return int(module.run(args) or 0)
