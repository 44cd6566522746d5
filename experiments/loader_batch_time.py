"""Milliseconds a training batch costs the loader alone, for one or more prepared stores.

Builds each store's `cpu-real` (or `--config`) training loader exactly as `skipclip pretrain` does,
turns the read-ahead thread off, and reads batches in turn on one thread: `--warmup` batches, then
`--repeats` timings of `--batches` batches each. Prints the best and the median milliseconds a
batch, and a checksum of the last batch's context clips: two stores holding the same pixels give
the same checksum. Stores are timed one after another in one process, so compare them within one
run.

    python experiments/loader_batch_time.py STORE [STORE ...] [--config cpu-real] [--frame-cache-mb N]

The decoded-frame cache (``data.frame_cache_mb``) is the config's unless ``--frame-cache-mb`` is
given. It starts empty in each timing, so ``--batches 150`` times the first 150 steps of a run
(each frame decoded once), ``--batches 40 --warmup 150`` a warm cache.
"""

from __future__ import annotations

import argparse
import time

import torch

from skipclip.config import load_config
from skipclip.recipes.pretext_data import make_loader, pretext_datasets


def _read(loader, dataset, count: int, epoch: int = 0):
    """``count`` batches in order, moving to the next epoch as each one ends; the last batch."""
    last, done = None, 0
    while done < count:
        loader.sampler.epoch = epoch
        dataset.set_epoch(epoch)
        for batch in loader:
            last, done = batch, done + 1
            if done >= count:
                break
        epoch += 1
    return last


def time_store(store: str, config: str, warmup: int, batches: int, repeats: int, cache_mb: int | None = None) -> dict:
    cfg = load_config(config)
    if cache_mb is not None:
        cfg.data.frame_cache_mb = cache_mb
    per_batch = []
    for _ in range(repeats):
        train, _ = pretext_datasets(cfg, store)  # afresh: an empty frame cache each time
        loader = make_loader(train, cfg, shuffle=True, drop_last=True)
        loader.prefetch = 0  # read in turn, in this thread
        _read(loader, train, warmup)
        start = time.perf_counter()
        last = _read(loader, train, batches, epoch=1_000 if warmup else 0)
        per_batch.append(1000 * (time.perf_counter() - start) / batches)
    per_batch.sort()
    return {
        "store": store,
        "best_ms": per_batch[0],
        "median_ms": per_batch[len(per_batch) // 2],
        "checksum": int(last.context.double().sum()),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stores", nargs="+", help="prepared stores (skipclip prepare)")
    p.add_argument("--config", default="cpu-real", help="preset or YAML whose training loader is timed")
    p.add_argument("--warmup", type=int, default=10, help="untimed batches first")
    p.add_argument("--batches", type=int, default=40, help="batches a timing")
    p.add_argument("--repeats", type=int, default=3, help="timings a store")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: the loader's share of 2 cores)")
    p.add_argument("--frame-cache-mb", type=int, default=None, help="data.frame_cache_mb (default: the config's)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{'store':50s} {'best ms/batch':>14s} {'median':>8s}  checksum")
    for store in args.stores:
        r = time_store(store, args.config, args.warmup, args.batches, args.repeats, args.frame_cache_mb)
        print(f"{r['store']:50s} {r['best_ms']:14.1f} {r['median_ms']:8.1f}  {r['checksum']}")


if __name__ == "__main__":
    main()
