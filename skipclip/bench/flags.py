"""Each benchmark's command line (help, description, flags), apart from the benchmark itself.

``skipclip`` builds every command's parser at start, ``--help`` included; the benchmarks import
torch (and the loader PyAV), so their flags live here, in a module that imports neither, and the
benchmark module is imported only when it runs. Each description repeats a paragraph of its
benchmark's module docstring (tests/bench checks that they agree).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from skipclip.config.load import preset_names
from skipclip.utils.flags import add_with_aliases


@dataclass(frozen=True)
class Benchmark:
    """``skipclip bench NAME``: ``help`` (one line), ``description`` (its ``--help``) and
    ``add_arguments(parser)``; the work is ``skipclip.bench.NAME.run(args)``."""

    help: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]


def _loader_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        default=None,
        help="a raw video folder or a prepared store (default: generate 320x240 test videos, like UCF101's)",
    )
    parser.add_argument("--videos", type=int, default=12, help="videos used (spread over the data set)")
    parser.add_argument("--samples", type=int, default=96, help="pretext samples timed per source")
    parser.add_argument("--short-side", type=int, default=128, help="frames resized to this short side in px")
    add_with_aliases(
        parser, "--crop-size", ["--crop"], dest="crop", type=int, default=112, help="square crop side in px"
    )
    parser.add_argument("--context-frames", type=int, default=16, help="K")
    parser.add_argument("--num-targets", type=int, default=8, help="M")
    parser.add_argument("--sampling-rate", type=int, default=4, help="r")
    parser.add_argument("--target-length", type=int, default=1, help="d")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")


def _train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="cpu", help=f"a preset ({', '.join(preset_names())}) or a YAML file")
    add_with_aliases(
        parser,
        "--accelerator",
        ["--device"],
        dest="device",
        default="cpu",
        choices=["cpu", "cuda", "gpu"],
        help="where to run the steps (gpu = cuda)",
    )
    parser.add_argument("--batch-size", type=int, default=None, help="videos per step (default: the config's)")
    parser.add_argument("--tiny", action="store_true", help="shrink the config to a seconds-long smoke test")
    parser.add_argument("--repeats", type=int, default=7, help="timed steps of each kind (medians reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps of each kind first")
    parser.add_argument(
        "--matmul-size",
        type=int,
        default=None,
        help="side of the square matmul that measures the limit (default 2048 CPU, 8192 CUDA)",
    )
    parser.add_argument("--compile", action="store_true", help="torch.compile both encoders")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    parser.add_argument(
        "--clock",
        default="wall",
        choices=["wall", "cpu"],
        help="'cpu': time by process CPU seconds (needs --threads 1), steadier than wall "
        "time on cores shared with other jobs",
    )
    parser.add_argument(
        "--profile", action="store_true", help="also print the top operators of one Skip-Clip step and one bare step"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")


LOADER = Benchmark(
    help="pretext samples/s and frames/s per core: prepared store vs on-the-fly PyAV decoding",
    description="""\
Both runs use the same :class:`~skipclip.data.sampling.pretext.PretextDataset` (same window, crop, seed)
over the same videos in the same process, one thread, no DataLoader workers, so "per core" is
honest: frames per second of process CPU time (decoding threads included). On-the-fly decoding
reads like torchvision's ``read_video``: seek to the keyframe before the first wanted frame,
decode forward, convert to RGB at the source size, then resize in the transform.
""",
    add_arguments=_loader_arguments,
)

TRAIN = Benchmark(
    help="training step speed: MFU against the matmul rate, Skip-Clip overhead over the bare encoders, memory",
    description="""\
All in one process and one run, after warm-up, medians over repeats; the matmul rate, the
Skip-Clip step and the bare-encoder step are timed interleaved (one of each per repeat), so that
load from other processes hits all three alike:""",
    add_arguments=_train_arguments,
)

# name -> benchmark, in the order `skipclip bench --help` lists them; the module is skipclip.bench.<name>
BENCHMARKS = {"loader": LOADER, "train": TRAIN}
