"""What a GPU run of the paper's pretraining needs: memory per sample, FLOPs per sample, and a
projected wall time of the 600-epoch UCF101 run (issue 13).

One Skip-Clip training step (both encoders, rotated copies, scores, all losses, backward) at the
paper's shapes: K=16 context frames, M=8 target frames (plus one rotated copy each), 224x224
crops, width 64 (r3d18_hara g, ResNet-18 f), in fp32 and under bf16 autocast, at batch 1 and 2.
Activations grow linearly with the batch, so

    per-sample memory = peak(batch 2) - peak(batch 1)
    fixed memory      = peak(batch 1) - per-sample + Adam's two moments (2 x parameter bytes)

where a peak counts everything the step allocates on top of the weights (gradients,
activations, workspaces). CPU: the peak resident set size (``VmHWM`` reset before the step); CUDA:
``max_memory_allocated``. The bytes autograd saves for backward (activations proper, counted
through ``saved_tensors_hooks``, unique storages) are printed beside it: a device-independent
check of the per-sample figure.

From those: the largest per-GPU batch for 24, 40 and 80 GB (10 % of the card kept back for the
CUDA context, cuDNN workspaces and fragmentation), and the GPUs needed for the paper's global batch
of 128 (a divisor of 128, since ``data.batch_per: global`` splits it evenly).

FLOPs per sample come from ``torch.utils.flop_counter`` (forward and backward, one untimed
warm-up step at batch 1). The wall time of 600 epochs on UCF101 split 1 (9,537 training videos,
74 full batches of 128 an epoch) is a PROJECTION: FLOPs / (the GPU's dense bf16 peak x an assumed
MFU), data loading assumed hidden behind compute.

Usage (CPU: ~2 min of 2 cores; the bf16 CPU run keeps channels_last off, since oneDNN's 7x7x7
bf16 convolution backward crashes on channels_last_3d here):

    python benchmarks/paper_memory.py [--device cuda] [--mfu 0.35] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

GIB = 1024**3
CARDS_GB = (24, 40, 80)
HEADROOM = 0.10  # share of a card kept for the CUDA context, cuDNN workspaces, fragmentation
GLOBAL_BATCH = 128
EPOCHS = 600
UCF101_SPLIT1_TRAIN = 9537
# dense bf16 peak of common cards, TFLOP/s (vendor data sheets, no sparsity)
PEAK_TFLOPS = {"A100": 312.0, "H100 SXM": 989.0}


def saved_bytes(step) -> int:
    """Bytes of the unique storages autograd saves for backward during ``step()``."""
    import torch

    seen: dict[tuple, int] = {}

    def pack(t):
        try:
            key = (t.untyped_storage().data_ptr(), t.device.type)
            seen[key] = t.untyped_storage().nbytes()
        except (RuntimeError, NotImplementedError):
            pass
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        step()
    return sum(seen.values())


def measure(device_name: str, precision: str, mfu: float) -> dict:
    """Peaks at batch 1 and 2 for one precision; returns the figures of the module doc."""
    import torch

    from skipclip.bench.memory import PeakMemory
    from skipclip.bench.steps import count_flops, make_batch
    from skipclip.config import load_config
    from skipclip.method.model import build_skipclip

    device = torch.device(device_name)
    on_cuda = device.type == "cuda"
    cfg = load_config("paper", {"trainer.channels_last": on_cuda})
    torch.manual_seed(0)
    model = build_skipclip(cfg).to(device).train()
    params = sum(p.numel() * p.element_size() for p in model.parameters())

    def autocast():
        if precision == "bf16":
            return torch.autocast(device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def step_of(batch_size: int):
        cfg.data.batch_size = batch_size
        batch = {k: v.to(device) for k, v in make_batch(cfg, device).items()}

        def step():
            model.zero_grad(set_to_none=True)
            with autocast():
                terms, _ = model(batch)
                loss = sum(terms.values())
            loss.backward()
        return step

    flops = count_flops(step_of(1))  # also the warm-up: one-time allocations happen here
    memory = PeakMemory(device)
    peaks, saved = {}, {}
    for b in (1, 2):
        step = step_of(b)
        model.zero_grad(set_to_none=True)
        memory.reset()
        saved[b] = saved_bytes(step)
        peaks[b] = memory.peak_above_base()
        del step
    per_sample = max(peaks[2] - peaks[1], 1)
    fixed = params + max(peaks[1] - per_sample, 0) + 2 * params  # weights, grads+workspace, Adam moments
    cards = {}
    for gb in CARDS_GB:
        usable = gb * 1e9 * (1 - HEADROOM) - fixed
        per_gpu = max(int(usable // per_sample), 0)
        gpus = next((w for w in range(1, GLOBAL_BATCH + 1) if GLOBAL_BATCH % w == 0 and GLOBAL_BATCH // w <= per_gpu),
                    None)
        cards[f"{gb}GB"] = {"max_batch_per_gpu": per_gpu, "gpus_for_global_128": gpus}
    steps_per_epoch = UCF101_SPLIT1_TRAIN // GLOBAL_BATCH
    total_flops = flops * GLOBAL_BATCH * steps_per_epoch * EPOCHS
    projection = {name: total_flops / (peak * 1e12 * mfu) / 3600 for name, peak in PEAK_TFLOPS.items()}
    return {
        "device": device_name, "precision": precision, "channels_last": on_cuda,
        "params_mb": params / 2**20, "peak_b1_mb": peaks[1] / 2**20, "peak_b2_mb": peaks[2] / 2**20,
        "per_sample_mb": per_sample / 2**20, "saved_per_sample_mb": (saved[2] - saved[1]) / 2**20,
        "fixed_mb": fixed / 2**20, "cards": cards, "gflop_per_sample": flops / 1e9,
        "mfu_assumed": mfu, "steps_per_epoch": steps_per_epoch,
        "projected_gpu_hours_600_epochs": projection,
    }


def table(results: list[dict]) -> str:
    lines = ["paper shapes: K=16, M=8 (+8 rotated), 224x224, width 64; one training step (fwd+bwd)",
             f"{'precision':<10}{'MB/sample':>10}{'saved MB/s.':>12}{'fixed MB':>10}{'GFLOP/s.':>10}"
             + "".join(f"{gb + ' GB: batch, GPUs':>22}" for gb in map(str, CARDS_GB))]
    for r in results:
        cells = "".join(f"{c['max_batch_per_gpu']:>15}, {str(c['gpus_for_global_128']):>5}" for c in r["cards"].values())
        lines.append(f"{r['precision']:<10}{r['per_sample_mb']:>10.0f}{r['saved_per_sample_mb']:>12.0f}"
                     f"{r['fixed_mb']:>10.0f}{r['gflop_per_sample']:>10.1f}{cells}")
    r = results[-1]
    lines.append(f"PROJECTION (not a measurement): 600 epochs x {r['steps_per_epoch']} steps x 128 videos at "
                 f"MFU {r['mfu_assumed']:.2f}: "
                 + ", ".join(f"{name} {h:.0f} GPU-hours" for name, h in r["projected_gpu_hours_600_epochs"].items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--mfu", type=float, default=0.35, help="assumed MFU of the projection")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if not 0 < args.mfu <= 1:
        raise SystemExit(f"--mfu must be in (0, 1], got {args.mfu}")
    results = [measure(args.device, p, args.mfu) for p in args.precision]
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
