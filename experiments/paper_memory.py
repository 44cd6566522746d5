"""What a GPU run of the paper's pretraining needs: memory per sample, FLOPs per sample, and a
projected wall time of the 600-epoch UCF101 run (issue 13).

One Skip-Clip training step (both encoders, rotated copies, scores, losses, backward) at the
paper's shapes: K=16 context frames, M=8 target frames (plus one rotated copy each), 224x224
crops, width 64 (r3d18_hara g with type A shortcuts, ResNet-18 f), in fp32 and under bf16
autocast, at batch 1 and 2. Activations grow linearly with the batch, so a per-sample figure is
the batch-2 figure minus the batch-1 one, and the rest is fixed:

- counted (always, seconds): the bytes autograd saves for backward (unique storages, through
  ``saved_tensors_hooks``) and the FLOPs (``torch.utils.flop_counter``, forward and backward),
  on fake tensors (``FakeTensorMode``: exact shapes and dtypes, no arithmetic);
- measured (``--measure-peak``, always on CUDA): the peak of a real step above the weights,
  CUDA ``max_memory_allocated`` or the CPU's peak resident set size (``VmHWM`` reset before the
  step); the per-sample figure then comes from the peaks.

Fixed memory: weights, gradients and Adam's two moments (4 x the fp32 parameter bytes), plus what
a step holds whatever its batch (autocast's bf16 weight copies saved for backward, workspaces).

From those: the largest per-GPU batch for 24, 40 and 80 GB (10 % of the card kept back for the
CUDA context, cuDNN workspaces and fragmentation), and the GPUs needed for the paper's global batch
of 128 (a divisor of 128, since ``data.batch_per: global`` splits it evenly).

The wall time of 600 epochs on UCF101 split 1 (9,537 training videos,
74 full batches of 128 an epoch) is a PROJECTION: FLOPs / (the GPU's dense bf16 peak x an assumed
MFU), data loading assumed hidden behind compute.

Usage (counted: ~2 min on 2 shared CPU cores; CPU steps keep channels_last off, since oneDNN's
7x7x7 bf16 convolution backward crashes on channels_last_3d here):

    python experiments/paper_memory.py [--device cuda] [--measure-peak] [--mfu 0.35] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
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
    """Bytes of the unique storages autograd saves for backward during ``step()`` (real or fake
    tensors; a storage shared by views counts once)."""
    import torch

    seen: dict[int, int] = {}

    def pack(t):
        storage = t.untyped_storage()
        seen[storage._cdata] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        step()
    return sum(seen.values())


CROP = {"size": 224}  # --crop-size: a smaller crop checks the count against a measured peak quickly


def paper_model(device, channels_last: bool):
    import torch

    from skipclip.config import load_config
    from skipclip.method.build import build_skipclip

    crop = CROP["size"]
    cfg = load_config(
        "paper", {"trainer.channels_last": channels_last, "data.crop_size": crop, "data.short_side": max(256, crop)}
    )
    torch.manual_seed(0)
    return cfg, build_skipclip(cfg).to(device).train()


def step_of(model, cfg, batch_size: int, device, precision: str, fake_mode=None):
    """One forward and backward at ``batch_size``; with ``fake_mode`` on fake tensors (shapes and
    dtypes only, no arithmetic)."""
    import torch

    from skipclip.bench.steps import make_batch

    cfg.data.batch_size = batch_size
    batch = make_batch(cfg, device).map(lambda v: v.to(device))
    if fake_mode is not None:
        batch = {k: fake_mode.from_tensor(v) for k, v in batch.items()}

    def step():
        model.zero_grad(set_to_none=True)
        autocast = (
            torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
        )
        with autocast:
            terms, _ = model(batch)
            loss = sum(terms.values())
        loss.backward()

    return step


def count(device_name: str, precision: str) -> dict:
    """Saved activations at batch 1 and 2 and FLOPs per sample, on fake tensors (seconds, exact
    shapes and dtypes). The contrastive term is left out here (its data-dependent checks cannot
    run on fake tensors); it adds a (B, B*M) score matrix, nothing beside the encoders."""
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.utils.flop_counter import FlopCounterMode

    device = torch.device(device_name)
    cfg, model = paper_model(device, channels_last=device.type == "cuda")
    model.negatives = False
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    saved, flops = {}, {}
    for b in (1, 2):
        with FakeTensorMode(allow_non_fake_inputs=True) as mode:
            step = step_of(model, cfg, b, device, precision, mode)
            with FlopCounterMode(display=False) as counter:
                saved[b] = saved_bytes(step)
            flops[b] = counter.get_total_flops()
        model.zero_grad(set_to_none=True)
    return {"params_bytes": params, "saved": saved, "flops": flops}


def measure_peak(device_name: str, precision: str) -> dict[int, int]:
    """Peak memory of a real step at batch 1 and 2, above the weights (gradients, activations,
    workspaces); one untimed warm-up step at batch 1 first."""
    import torch

    from skipclip.bench.memory import PeakMemory

    device = torch.device(device_name)
    cfg, model = paper_model(device, channels_last=device.type == "cuda")
    step_of(model, cfg, 1, device, precision)()  # warm-up: one-time allocations happen here
    memory = PeakMemory(device)
    peaks = {}
    for b in (1, 2):
        step = step_of(model, cfg, b, device, precision)
        model.zero_grad(set_to_none=True)
        memory.reset()
        step()
        peaks[b] = memory.peak_above_base()
        del step
    return peaks


def measure(device_name: str, precision: str, mfu: float, peak: bool) -> dict:
    """The figures of the module doc for one precision."""
    c = count(device_name, precision)
    params = c["params_bytes"]
    saved_per_sample = c["saved"][2] - c["saved"][1]
    peaks = measure_peak(device_name, precision) if peak else None
    if peaks and peaks[2] <= peaks[1]:  # allocator noise above the batch's growth (seen: CPU bf16)
        print(
            f"{precision}: the measured peak did not grow with the batch ({peaks[1] / 2**20:.0f} MB at 1, "
            f"{peaks[2] / 2**20:.0f} MB at 2); the per-sample figure falls back to the count",
            flush=True,
        )
        peaks = None
    per_sample = peaks[2] - peaks[1] if peaks else saved_per_sample
    # weights, gradients and Adam's two moments (fp32 under autocast too) + what a step holds
    # whatever the batch (the bf16 weight copies autocast saves, workspaces)
    base = (peaks[1] - per_sample) if peaks else (c["saved"][1] - saved_per_sample + params)  # + grads
    fixed = 3 * params + max(base, 0)
    cards = {}
    for gb in CARDS_GB:
        usable = gb * 1e9 * (1 - HEADROOM) - fixed
        per_gpu = max(int(usable // per_sample), 0)
        gpus = next(
            (w for w in range(1, GLOBAL_BATCH + 1) if GLOBAL_BATCH % w == 0 and GLOBAL_BATCH // w <= per_gpu), None
        )
        cards[f"{gb}GB"] = {"max_batch_per_gpu": per_gpu, "gpus_for_global_128": gpus}
    flops = c["flops"][2] - c["flops"][1]  # per sample (both encoders, forward and backward)
    steps_per_epoch = UCF101_SPLIT1_TRAIN // GLOBAL_BATCH
    total_flops = flops * GLOBAL_BATCH * steps_per_epoch * EPOCHS
    projection = {name: total_flops / (tflops * 1e12 * mfu) / 3600 for name, tflops in PEAK_TFLOPS.items()}
    return {
        "device": device_name,
        "precision": precision,
        "channels_last": device_name == "cuda",
        "params_mb": params / 2**20,
        "saved_per_sample_mb": saved_per_sample / 2**20,
        "peak_b1_mb": peaks[1] / 2**20 if peaks else None,
        "peak_b2_mb": peaks[2] / 2**20 if peaks else None,
        "per_sample_mb": per_sample / 2**20,
        "per_sample_from": "measured peak" if peaks else "saved activations",
        "fixed_mb": fixed / 2**20,
        "cards": cards,
        "gflop_per_sample": flops / 1e9,
        "mfu_assumed": mfu,
        "steps_per_epoch": steps_per_epoch,
        "projected_gpu_hours_600_epochs": projection,
    }


def table(results: list[dict]) -> str:
    lines = [
        f"paper shapes: K=16, M=8 (+8 rotated), {CROP['size']}x{CROP['size']}, width 64; one training step (fwd+bwd)",
        f"{'precision':<10}{'MB/sample':>10}{'saved MB/s.':>12}{'fixed MB':>10}{'GFLOP/s.':>10}"
        + "".join(f"{gb + ' GB: batch, GPUs':>22}" for gb in map(str, CARDS_GB)),
    ]
    for r in results:
        cells = "".join(
            f"{c['max_batch_per_gpu']:>15}, {str(c['gpus_for_global_128']):>5}" for c in r["cards"].values()
        )
        lines.append(
            f"{r['precision']:<10}{r['per_sample_mb']:>10.0f}{r['saved_per_sample_mb']:>12.0f}"
            f"{r['fixed_mb']:>10.0f}{r['gflop_per_sample']:>10.1f}{cells}"
        )
    r = results[-1]
    lines.append(
        f"PROJECTION (not a measurement): 600 epochs x {r['steps_per_epoch']} steps x 128 videos at "
        f"MFU {r['mfu_assumed']:.2f}: "
        + ", ".join(f"{name} {h:.1f} GPU-hours" for name, h in r["projected_gpu_hours_600_epochs"].items())
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--mfu", type=float, default=0.35, help="assumed MFU of the projection")
    parser.add_argument(
        "--measure-peak",
        action="store_true",
        help="also run real steps and measure the peak (CUDA: always; CPU: minutes of 2 cores)",
    )
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument(
        "--crop-size",
        type=int,
        default=224,
        help="crop side (224: the paper's); smaller to check the count against --measure-peak cheaply",
    )
    args = parser.parse_args(argv)
    CROP["size"] = args.crop_size
    if not 0 < args.mfu <= 1:
        raise SystemExit(f"--mfu must be in (0, 1], got {args.mfu}")
    peak = args.measure_peak or args.device == "cuda"
    results = []
    for p in args.precision:  # each precision's figures as soon as they are known
        results.append(measure(args.device, p, args.mfu, peak))
        print(json.dumps({k: v for k, v in results[-1].items() if k != "cards"}), flush=True)
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
