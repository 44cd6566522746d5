"""Loader throughput with and without decoding on the GPU (data.gpu_decode): pretext batches of a
prepared store of JPEG frames, at the paper's sizes by default, made here from synthetic frames
(no video, no PyAV, no network needed).

- cpu: the loader's own path, one core (``torch.set_num_threads(1)``): read, decode, resize,
  crop, as a DataLoader worker does it; frames/s per core.
- gpu: the loader reads the JPEG bytes and draws the crops (one core), then
  :func:`~skipclip.data.sampling.jpeg_batch.decode_batch` decodes the batch on the GPU in one call
  (nvjpeg) and resizes and crops there; frames/s, and the loader's CPU share per frame.

From the two, the cores of CPU decoding one training step would need at a given step time
(``--step-ms``, e.g. from ``skipclip bench train --accelerator cuda``). Without a CUDA device
only the cpu row is measured (and said so).

    python experiments/jpeg_decode.py [--short-side 256] [--crop 224] [--batch 64] [--step-ms 500] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from skipclip.data.sampling.jpeg_batch import decode_batch
from skipclip.data.sampling.pretext import PretextDataset
from skipclip.data.sampling.window import PretextWindow
from skipclip.data.store.prepared import MANIFEST, PreparedStore
from skipclip.data.store.shard import write_shard


def make_store(root: Path, videos: int, frames: int, short: int) -> PreparedStore:
    """``videos`` shards of ``frames`` smooth synthetic frames (short side ``short``, 4:3), JPEG q90."""
    rng = np.random.default_rng(0)
    h, w = short, short * 4 // 3
    yy, xx = np.mgrid[0:h, 0:w]
    entries = []
    for v in range(videos):
        phase = rng.uniform(0, 6.28, 3)
        clip = np.stack(
            [
                np.stack([127 + 100 * np.sin(xx / 17 + t / 5 + phase[c]) * np.cos(yy / 23 + c) for c in range(3)], -1)
                for t in range(frames)
            ]
        ).astype(np.uint8)
        name = f"v{v}.frames"
        write_shard(root / "videos" / name, clip, {"name": name})
        entries.append(
            {
                "name": name,
                "file": f"videos/{name}",
                "label": v % 2,
                "group": name,
                "frames": frames,
                "height": h,
                "width": w,
                "folds": {"1": "train"},
            }
        )
    manifest = {
        "version": 1,
        "layout": "folder",
        "short_side": short,
        "codec": "jpeg",
        "quality": 90,
        "classes": ["a", "b"],
        "folds": [1],
        "videos": entries,
        "failed": [],
    }
    (root / MANIFEST).write_text(json.dumps(manifest))
    return PreparedStore(root, split="all")


def rate(fn, frames_per_call: int, repeats: int) -> tuple[float, float]:
    """Median frames/s of ``fn`` over ``repeats`` calls (after one untimed), and median CPU s per frame."""
    fn()
    walls, cpus = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return frames_per_call / statistics.median(walls), statistics.median(cpus) / frames_per_call


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--short-side", type=int, default=256)
    p.add_argument("--crop", type=int, default=224)
    p.add_argument("--context", type=int, default=16)
    p.add_argument("--targets", type=int, default=8)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--step-ms", type=float, default=None, help="a GPU training step's time, for the cores needed")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    window = PretextWindow(args.context, args.targets, 4, 1)
    frames_per_item = args.context + args.targets
    with tempfile.TemporaryDirectory() as tmp:
        store = make_store(Path(tmp), videos=args.batch, frames=window.length + 8, short=args.short_side)
        ds = PretextDataset(store, window, args.crop, short_side=args.short_side, seed=0)
        n = args.batch * frames_per_item
        result = {
            "short_side": args.short_side,
            "crop": args.crop,
            "batch": args.batch,
            "frames_per_batch": n,
            "torch": torch.__version__,
        }
        cpu_fps, cpu_s = rate(lambda: PretextDataset.collate([ds[i] for i in range(args.batch)]), n, args.repeats)
        result["cpu_frames_per_s_per_core"] = round(cpu_fps, 1)
        print(f"cpu decode (loader path, 1 core): {cpu_fps:8.0f} frames/s")
        if torch.cuda.is_available():
            dev = torch.device("cuda")
            ds.defer_decoding(True)

            def read():
                return PretextDataset.collate([ds[i] for i in range(args.batch)])

            def gpu():
                decode_batch(read(), dev, args.context, args.targets, 1)
                torch.cuda.synchronize()

            read_fps, read_s = rate(read, n, args.repeats)
            gpu_fps, _ = rate(gpu, n, args.repeats)
            result.update(
                device=torch.cuda.get_device_name(),
                gpu_frames_per_s=round(gpu_fps, 1),
                gpu_loader_frames_per_s_per_core=round(read_fps, 1),
            )
            print(
                f"gpu decode (read + nvjpeg batch + resize/crop on {result['device']}): {gpu_fps:8.0f} frames/s; "
                f"the loader's part alone {read_fps:8.0f} frames/s per core"
            )
        else:
            result["device"] = None
            print("no CUDA device: the GPU decode was not measured")
        if args.step_ms:
            need = n / (args.step_ms / 1e3)
            result["frames_per_s_needed"] = round(need, 1)
            result["cores_needed_cpu_decode"] = round(need / cpu_fps, 2)
            if "gpu_loader_frames_per_s_per_core" in result:
                result["cores_needed_gpu_decode"] = round(need / result["gpu_loader_frames_per_s_per_core"], 2)
            print(
                f"one step of {args.step_ms:.0f} ms needs {need:.0f} frames/s: "
                f"{result['cores_needed_cpu_decode']:.1f} cores decoding on the CPU"
                + (
                    f", {result['cores_needed_gpu_decode']:.1f} reading for the GPU decoder"
                    if "cores_needed_gpu_decode" in result
                    else ""
                )
            )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
