"""The cell grid Skip-Clip scores against its step time, for CPU geometries side by side.

The score (Eq. 3) is a per-cell cosine over the maps of g and f; the paper scores 7 x 7 cells at
224 px. At `cpu-real`'s 48 px a ResNet-18 (total stride 32) leaves 2 x 2 cells. This times one
full Skip-Clip training step (both encoders, rotation copies, Adam) of `cpu-real` at each geometry,
interleaved (one step of each per repeat, so other processes' load hits them alike), by process
CPU seconds on one thread, and prints the grid, the median step time and its ratio to `cpu-real`.

    OMP_NUM_THREADS=1 python experiments/cell_grid.py [--repeats 5] [--json OUT.json]

Geometries change the modules after building (a benchmark, not a model option): `no max-pool`
replaces the stem's max-pool of both encoders by identity (total stride 16; g keeps twice the
frames too, the 3D pool also strides time), `layer4 stride 1` takes the spatial stride out of the
last stage of both encoders (total stride 16, time strides kept).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time

import torch
from torch import nn

from skipclip.bench.steps import make_batch, make_steps
from skipclip.config import load_config
from skipclip.method.build import build_skipclip
from skipclip.models.normalize import normalize

GEOMETRIES = [  # (name, crop, remove max-pool, layer4 without spatial stride)
    ("cpu-real (48 px)", 48, False, False),
    ("64 px", 64, False, False),
    ("48 px, no max-pool", 48, True, False),
    ("64 px, no max-pool", 64, True, False),
    ("48 px, layer4 stride 1", 48, False, True),
    ("52 px, layer4 stride 1", 52, False, True),
    ("56 px, layer4 stride 1", 56, False, True),
    ("64 px, layer4 stride 1", 64, False, True),
]


def reshape(model, no_pool: bool, layer4_stride1: bool):
    g, f = model.context_encoder, model.frame_encoder
    if no_pool:
        f.maxpool = nn.Identity()
        g.trunk.stem[3] = nn.Identity()
    if layer4_stride1:
        for enc, stride in ((f, (1, 1)), (g, (2, 1, 1))):
            trunk = getattr(enc, "trunk", enc)
            block = trunk.layer4[0]
            conv = block.conv1[0] if isinstance(block.conv1, nn.Sequential) else block.conv1
            conv.stride = stride
            if block.downsample is not None:
                block.downsample[0].stride = stride
    return model


def build(crop: int, no_pool: bool, layer4_stride1: bool):
    cfg = load_config("cpu-real", {"data.crop_size": crop, "data.short_side": crop + 8})
    torch.manual_seed(0)
    model = reshape(build_skipclip(cfg), no_pool, layer4_stride1).train()
    batch = make_batch(cfg, torch.device("cpu"))
    with torch.no_grad():
        enc = model.encode(batch.context, batch.targets, rotation=False)
        g_map = model.context_encoder(normalize(batch.context, 1))  # B x C x T x H x W, before f's grid
    step, _ = make_steps(model, batch, torch.device("cpu"), contextlib.nullcontext, cfg.optim.lr)
    return step, tuple(enc.z.shape[-2:]), tuple(g_map.shape[-2:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    built = [(name, *build(crop, pool, s4)) for name, crop, pool, s4 in GEOMETRIES]
    times: dict[str, list[float]] = {name: [] for name, *_ in built}
    for rep in range(args.warmup + args.repeats):
        for name, step, *_ in built:
            t0 = time.process_time()
            step()
            if rep >= args.warmup:
                times[name].append(time.process_time() - t0)
    base = statistics.median(times[built[0][0]])
    rows = []
    print(f"{'geometry':26s} {'f cells':>8s} {'g cells':>8s} {'step s':>8s} {'x cpu-real':>10s}")
    for name, _, z, h in built:
        med = statistics.median(times[name])
        rows.append(
            {
                "geometry": name,
                "f_cells": list(z),
                "g_cells": list(h),
                "step_s": med,
                "ratio": med / base,
                "steps_s": times[name],
            }
        )
        print(f"{name:26s} {'x'.join(map(str, z)):>8s} {'x'.join(map(str, h)):>8s} {med:8.2f} {med / base:10.2f}")
    print(
        "(cpu-real batch 16, K 8, M 8, rotation copies; median process CPU seconds of one training step on one "
        f"thread over {args.repeats} interleaved repeats)"
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
