"""``skipclip bench train``: a pretraining step against the machine's limit and the bare encoders.

All in one process and one run, after warm-up, medians over repeats; the matmul rate, the
Skip-Clip step and the bare-encoder step are timed interleaved (one of each per repeat), so that
load from other processes hits all three alike:

- limit: a large matrix product's rate, fp32 on CPU, bf16 on CUDA;
- Skip-Clip step: a batch of sampler output (uint8 context clips and target frames, in memory;
  on CUDA copied from pinned memory with ``non_blocking``), both encoders, all losses and the
  pretext health metrics, backward, optimiser -> FLOPs (``torch.utils.flop_counter``) per second
  over the limit = model FLOPs utilisation (MFU);
- bare encoders: g on the same context clips and f on as many frames as the Skip-Clip step feeds
  it (targets plus rotated copies), already normalised and on the device, a mean as the loss,
  backward, the same optimiser -> their MFU, and the Skip-Clip overhead ratio = Skip-Clip step
  time / bare step time (normalisation, rotation, scoring, losses, health metrics, rotation head);
- peak memory per sample: the step's peak (parameters, gradients, optimiser state, batch and
  activations) over the batch size; CUDA: ``max_memory_allocated``, CPU: the peak resident set
  size (``VmHWM``, reset before the step) above the process's size before the model was built.

On CUDA the forward runs under bf16 autocast, the encoders take channels_last(_3d) tensors, and
``--compile`` compiles both encoders (compile time stays in the warm-up). Nothing here imports
video decoding, so the benchmark runs where PyAV is missing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
from pathlib import Path

import torch

from skipclip.bench.flags import TRAIN
from skipclip.bench.memory import PeakMemory, malloc_state, minor_faults
from skipclip.bench.steps import count_flops, make_batch, make_steps, profile_table
from skipclip.bench.timing import CLOCKS, matmul_timer, timed
from skipclip.config import load_config
from skipclip.errors import InvalidInputError
from skipclip.method.build import build_skipclip
from skipclip.utils.flags import HelpFormatter
from skipclip.utils.malloc import keep_freed_memory

# --tiny: every shape of the method at a size that runs in seconds on one core (a smoke run)
SMOKE = {
    "model.width": 8,  # width 4 + channels-last + 1 thread corrupts the heap in oneDNN (torch 2.14.1, AVX2)
    "pretext.context_frames": 4,
    "pretext.num_targets": 3,
    "data.crop_size": 32,
    "data.short_side": 32,
    "data.batch_size": 4,
}


# ---------------------------------------------------------------------------------- the run
def _check(args: argparse.Namespace) -> None:
    if args.device == "gpu":
        args.device = "cuda"
    if args.device == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError("--accelerator cuda asked for, but torch sees no CUDA device; use --accelerator cpu")
    if args.repeats < 1 or args.warmup < 0:
        raise InvalidInputError(f"--repeats must be >= 1 and --warmup >= 0, got {args.repeats} and {args.warmup}")
    if args.threads is not None:
        if args.threads < 1:
            raise InvalidInputError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    if args.clock == "cpu" and (args.device != "cpu" or torch.get_num_threads() != 1):
        raise InvalidInputError(
            "--clock cpu counts process CPU seconds, which equal step time only on one "
            "CPU thread: add --threads 1 (and --accelerator cpu), or use --clock wall"
        )


def _time_steps(args, skipclip_step, bare_step, matmul, device, clock) -> dict:
    """Interleaved repeats (other processes' load hits all three alike); medians and page faults."""
    for _ in range(args.warmup):
        matmul()
        skipclip_step()
        bare_step()
    matmul()  # the compiled or cached kernels are ready; one more product settles the clocks
    rates, full_s, bare_s, full_faults, bare_faults = [], [], [], [], []
    for _ in range(args.repeats):
        rates.append(matmul())
        faults = minor_faults()
        full_s.append(timed(skipclip_step, device, clock))
        full_faults.append(minor_faults() - faults)
        faults = minor_faults()
        bare_s.append(timed(bare_step, device, clock))
        bare_faults.append(minor_faults() - faults)
    return {
        "rate": statistics.median(rates),
        "full": statistics.median(full_s),
        "bare": statistics.median(bare_s),
        "full_s": full_s,
        "bare_s": bare_s,
        "full_faults": statistics.median(full_faults),
        "bare_faults": statistics.median(bare_faults),
    }


def _peaks(device, skipclip_step, bare_step) -> tuple[int, int]:
    """Peak memory above the base of one bare step and one Skip-Clip step, in bytes."""
    memory = PeakMemory(device)
    memory.reset()
    bare_step()
    bare_peak = memory.peak_above_base()
    memory.reset()
    skipclip_step()
    return memory.peak_above_base(), bare_peak


def measure(args: argparse.Namespace) -> dict:
    """Build the model of ``args.config``, time the steps and return the results (see module doc)."""
    _check(args)
    clock = CLOCKS[args.clock]
    device = torch.device(args.device)
    overrides = dict(SMOKE) if args.tiny else {}
    if args.batch_size is not None:
        overrides["data.batch_size"] = args.batch_size
    cfg = load_config(args.config, overrides)
    torch.manual_seed(args.seed)
    on_cuda = device.type == "cuda"
    if on_cuda:
        torch.backends.cudnn.benchmark = True

    def autocast():
        return torch.autocast("cuda", dtype=torch.bfloat16) if on_cuda else contextlib.nullcontext()

    model = build_skipclip(cfg).to(device).train()
    batch = make_batch(cfg, device)
    skipclip_step, bare_step = make_steps(model, batch, device, autocast, cfg.optim.lr)
    flops = {"step": count_flops(skipclip_step), "bare": count_flops(bare_step)}  # eager, before any compile
    if args.compile:
        model.context_encoder.compile()
        model.frame_encoder.compile()
    matmul = matmul_timer(device, args.matmul_size or (8192 if on_cuda else 2048), clock)
    times = _time_steps(args, skipclip_step, bare_step, matmul, device, clock)
    peaks = _peaks(device, skipclip_step, bare_step)
    h2d_ms = None
    if on_cuda:
        h2d_ms = 1e3 * statistics.median(
            timed(lambda: batch.map(lambda v: v.to(device, non_blocking=True)), device, clock) for _ in range(5)
        )
    result = _result(args, cfg, model, device, flops, times, peaks, h2d_ms)
    if args.profile:
        result["profile"] = {"skipclip": profile_table(skipclip_step, device), "bare": profile_table(bare_step, device)}
    return result


def _result(args, cfg, model, device, flops: dict, t: dict, peaks: tuple[int, int], h2d_ms) -> dict:
    on_cuda, (full_peak, bare_peak) = device.type == "cuda", peaks
    b, p, threads = cfg.data.batch_size, cfg.pretext, torch.get_num_threads()
    return {
        "config": str(args.config) + (" --tiny" if args.tiny else ""),
        "device": torch.cuda.get_device_name(device)
        if on_cuda
        else f"cpu ({threads} thread{'s' if threads > 1 else ''})",
        "precision": "bf16 autocast" if on_cuda else "fp32",
        "compile": bool(args.compile),
        "clock": args.clock,
        "torch": torch.__version__,
        "batch_size": b,
        "shapes": {
            "context": [b, 3, p.context_frames, cfg.data.crop_size, cfg.data.crop_size],
            "targets": [b, p.num_targets, p.target_length, 3, cfg.data.crop_size, cfg.data.crop_size],
            "frames_through_f": b * p.num_targets * (2 if model.rotation_head is not None else 1),
            "width": cfg.model.width,
        },
        "repeats": args.repeats,
        "matmul_gflops": t["rate"],
        "step_gflop": flops["step"] / 1e9,
        "bare_step_gflop": flops["bare"] / 1e9,
        "step_ms": 1e3 * t["full"],
        "bare_step_ms": 1e3 * t["bare"],
        "step_ms_all": [1e3 * x for x in t["full_s"]],
        "bare_step_ms_all": [1e3 * x for x in t["bare_s"]],
        "samples_per_s": b / t["full"],
        "mfu": flops["step"] / t["full"] / (t["rate"] * 1e9),
        "bare_encoders_mfu": flops["bare"] / t["bare"] / (t["rate"] * 1e9),
        "overhead_ratio": t["full"] / t["bare"],
        "peak_mem_mb": full_peak / 2**20,
        "peak_mem_mb_per_sample": full_peak / 2**20 / b,
        "bare_peak_mem_mb_per_sample": bare_peak / 2**20 / b,
        "h2d_ms": h2d_ms,
        "page_faults_per_step": t["full_faults"],
        "bare_page_faults_per_step": t["bare_faults"],
        "malloc": malloc_state(),
        "health_metrics": "included in the Skip-Clip step",
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def format_table(r: dict) -> str:
    """The results as a fixed-width table."""
    limit = "bf16" if r["precision"].startswith("bf16") else "fp32"
    head = f"{'':<22}{'ms/step':>10}{'GFLOP/step':>12}{'GFLOP/s':>10}{'MFU':>7}{'peak MB/sample':>16}"
    rows = [
        f"skipclip bench train: config {r['config']}, batch {r['batch_size']}, {r['device']}, "
        f"{r['precision']}{', compiled' if r['compile'] else ''}, median of {r['repeats']}"
        + (", process CPU time" if r["clock"] == "cpu" else ""),
        f"machine limit: {limit} matmul {r['matmul_gflops']:.1f} GFLOP/s",
        head,
        f"{'Skip-Clip step':<22}{r['step_ms']:>10.1f}{r['step_gflop']:>12.2f}"
        f"{r['step_gflop'] / r['step_ms'] * 1e3:>10.1f}{r['mfu']:>7.3f}{r['peak_mem_mb_per_sample']:>16.2f}",
        f"{'bare encoders':<22}{r['bare_step_ms']:>10.1f}{r['bare_step_gflop']:>12.2f}"
        f"{r['bare_step_gflop'] / r['bare_step_ms'] * 1e3:>10.1f}{r['bare_encoders_mfu']:>7.3f}"
        f"{r['bare_peak_mem_mb_per_sample']:>16.2f}",
        f"overhead ratio (Skip-Clip / bare): {r['overhead_ratio']:.3f}; {r['samples_per_s']:.1f} videos/s"
        + (
            f"; host->device copy of the batch {r['h2d_ms']:.1f} ms (in the Skip-Clip step)"
            if r["h2d_ms"] is not None
            else ""
        ),
    ]
    if r["device"].startswith("cpu"):
        rows.append(
            f"minor page faults per step: Skip-Clip {r['page_faults_per_step']:.0f}, "
            f"bare {r['bare_page_faults_per_step']:.0f} (malloc: {r['malloc']})"
        )
    if r.get("load_average") is not None:
        rows.append(f"(1-minute load average {r['load_average']:.2f}: other processes share the cores)")
    return "\n".join(rows)


def run(args: argparse.Namespace) -> int:
    try:
        result = measure(args)
    except torch.OutOfMemoryError as exc:
        print(f"out of memory at batch size {args.batch_size or 'of the config'}: {str(exc).splitlines()[0]}")
        return 3  # experiments/gpu_check.sh then tries a smaller batch
    profile = result.pop("profile", None)
    print(format_table(result))
    if profile:
        print("\ntop operators, Skip-Clip step:\n" + profile["skipclip"])
        print("top operators, bare encoders:\n" + profile["bare"])
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m skipclip.bench.train``: the benchmark without the rest of the CLI's imports."""
    parser = argparse.ArgumentParser(
        prog="python -m skipclip.bench.train", description=TRAIN.description, formatter_class=HelpFormatter
    )
    TRAIN.add_arguments(parser)
    args = parser.parse_args(argv)
    keep_freed_memory()  # as the `skipclip` command does
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
