"""``skipclip bench``: measured speed. ``loader``: the data pipeline; ``train``: training steps."""

from __future__ import annotations

import argparse
import importlib

from skipclip.bench.flags import BENCHMARKS
from skipclip.commands.flags import HelpFormatter

HELP = "benchmarks: `bench loader` (prepared store vs on-the-fly decoding), `bench train`"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench", metavar="BENCHMARK")
    for name, bench in BENCHMARKS.items():
        p = sub.add_parser(name, help=bench.help, description=bench.description, formatter_class=HelpFormatter)
        bench.add_arguments(p)
        p.set_defaults(_bench=name)
    parser.set_defaults(_bench_parser=parser)


def run(args: argparse.Namespace) -> int:
    name = getattr(args, "_bench", None)
    if name is None:
        args._bench_parser.print_help()
        return 0
    # imported here, not at the top: the benchmarks import torch (the loader PyAV too), and every
    # `skipclip` command line, --help included, builds this parser
    module = importlib.import_module(f"skipclip.bench.{name}")
    return int(module.run(args) or 0)
