"""``skipclip features`` from a raw video folder beside the same videos' prepared store, timed
side by side in one run (the ratio is what to read: absolute times depend on the machine's load,
printed with them).

    OMP_NUM_THREADS=1 python experiments/features_raw_vs_store.py --ckpt RUN --raw FOLDER --store STORE \\
        --out OUT [--num-workers N] [--repeats 1] [-- LAYOUT FLAGS]

Runs, alternating, ``repeats`` times each:

    skipclip features --ckpt RUN --data FOLDER --out OUT/raw.npz --force --no-progress [--num-workers N] FLAGS
    skipclip features --ckpt RUN --data STORE --out OUT/store.npz --force --no-progress [--num-workers N]

and prints each wall time, the 1-minute load average before each, and raw / store.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def timed(cmd: list[str]) -> tuple[float, float]:
    load = os.getloadavg()[0]
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "skipclip", *cmd], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start, load


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", required=True)
    p.add_argument("--raw", required=True)
    p.add_argument("--store", required=True)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--num-workers", type=int)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("flags", nargs="*", help="layout flags for the raw folder (after --)")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    workers = [] if args.num_workers is None else ["--num-workers", str(args.num_workers)]
    runs = {"raw": [], "store": []}
    for _ in range(args.repeats):
        for name, data, flags in (("raw", args.raw, args.flags), ("store", args.store, [])):
            cmd = [
                "features",
                "--ckpt",
                args.ckpt,
                "--data",
                data,
                "--out",
                str(args.out / f"{name}.npz"),
                "--force",
                "--no-progress",
                *workers,
                *flags,
            ]
            wall, load = timed(cmd)
            runs[name].append(wall)
            print(f"{name:6s} {wall:7.1f} s  (load {load:.2f} before)  {data}", flush=True)
    raw, store = min(runs["raw"]), min(runs["store"])
    a, b = np.load(args.out / "raw.npz"), np.load(args.out / "store.npz")
    print(
        f"raw / store: {raw / store:.2f} (fastest of {args.repeats}; {os.cpu_count()} cores, "
        f"workers {args.num_workers if args.num_workers is not None else 'default'}); "
        f"videos {len(a['names'])} raw, {len(b['names'])} store"
    )


if __name__ == "__main__":
    main()
