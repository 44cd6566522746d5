"""``skipclip bench loader``: the pretext loader reading a prepared store vs decoding the files.

Both runs use the same :class:`~skipclip.data.sampling.pretext.PretextDataset` (same window, crop, seed)
over the same videos in the same process, one thread, no DataLoader workers, so "per core" is
honest: frames per second of process CPU time (decoding threads included). On-the-fly decoding
reads like torchvision's ``read_video``: seek to the keyframe before the first wanted frame,
decode forward, convert to RGB at the source size, then resize in the transform.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import torch

from skipclip.data import (
    MANIFEST,
    PreparedStore,
    PretextDataset,
    PretextWindow,
    VideoEntry,
    VideoFileSource,
    load_index,
    load_manifest,
    prepare,
    write_video,
)
from skipclip.errors import InvalidInputError


def make_videos(root: Path, count: int, frames: int = 160, size: tuple[int, int] = (240, 320), fps: int = 25) -> None:
    """Write ``count`` moving-pattern videos in UCF101's naming, MPEG-4 in AVI (as UCF101 ships)."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    for v in range(count):
        cls = f"Class{v % 4}"
        rng = np.random.default_rng(v)
        base = rng.integers(0, 255, (h // 8, w // 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
        clip = np.empty((frames, h, w, 3), dtype=np.uint8)
        for t in range(frames):
            shifted = np.roll(base, (t * (1 + v % 3), t * 2), axis=(0, 1))
            blob = ((yy - (h / 2 + h / 3 * np.sin(t / 9 + v))) ** 2 + (xx - (t * 3 + v * 20) % w) ** 2) < 400
            clip[t] = shifted
            clip[t][blob] = (255, 255, 255)
        path = root / cls / f"v_{cls}_g{v + 1:02d}_c01.avi"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_video(path, clip, fps=fps)


def _subset_folder(index, count: int, dest: Path) -> None:
    """Symlink ``count`` videos spread over the data set into ``dest`` (keeping their relative paths)."""
    present = [e for e in index.entries if (index.root / e.path).is_file()]
    if not present:
        raise InvalidInputError(f"no video file of {index.root} is present")
    step = max(1, len(present) // count)
    for e in present[::step][:count]:
        link = dest / e.path
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink((index.root / e.path).resolve(), link)


def _time(dataset, samples: int) -> dict:
    proc = psutil.Process()
    for i in range(4):  # warm-up: imports, first file opens, allocator pools
        dataset[i % len(dataset)]
    rss_start = proc.memory_info().rss
    peak = rss_start
    cpu0, t0 = sum(proc.cpu_times()[:2]), time.perf_counter()
    for i in range(samples):
        dataset.set_epoch(i // len(dataset))
        dataset[i % len(dataset)]
        if i % 8 == 0:
            peak = max(peak, proc.memory_info().rss)
    wall, cpu = time.perf_counter() - t0, sum(proc.cpu_times()[:2]) - cpu0
    rss_end = proc.memory_info().rss
    w = dataset.window
    frames = samples * (w.context_frames + w.num_targets * w.target_length)
    return {
        "samples_per_s": samples / wall,
        "frames_per_s": frames / wall,
        "frames_per_s_per_core": frames / max(cpu, wall * 1e-3, 1e-9),
        "cpu_s": cpu,
        "wall_s": wall,
        "peak_rss_mb": max(peak, rss_end) / 2**20,
        "rss_growth_mb": (rss_end - rss_start) / 2**20,
    }


def _store_and_source(data: str | None, videos: int, short_side: int, tmp: Path) -> tuple[Path, Path]:
    """The prepared store and its source videos: ``data`` itself when it is a store, else a store
    prepared in ``tmp`` from ``videos`` videos of ``data`` (generated ones when it is None).

    Raises:
        ValueError: no usable video, or a store whose source videos are gone.
    """
    if data is not None and (Path(data) / MANIFEST).is_file():
        source_root = Path(load_manifest(Path(data)).get("source", ""))
        if not source_root.is_dir():
            raise InvalidInputError(
                f"the source videos of {data} ({source_root}) are gone; on-the-fly decoding needs "
                "them: pass the raw video folder as --data instead"
            )
        return Path(data), source_root
    source_root = tmp / "videos"
    if data is None:
        make_videos(source_root, videos)
    else:
        _subset_folder(load_index(data), videos, source_root)
    store_dir = tmp / "store"
    report = prepare(source_root, store_dir, layout="folder", short_side=short_side, workers=0, progress=False)
    if not report.ok:
        raise InvalidInputError(f"no usable video among those picked from {data}:\n{report.summary()}")
    return store_dir, source_root


def benchmark(
    data: str | None = None,
    videos: int = 12,
    samples: int = 96,
    short_side: int = 128,
    crop: int = 112,
    window=None,
    workdir: str | Path | None = None,
) -> dict:
    """Time the pretext loader on a prepared store and on the video files it was prepared from.

    Raises:
        ValueError: no usable video, or a store whose source videos are gone.
    """
    window = window or PretextWindow(16, 8, 4, 1)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        tmp = Path(tmp)
        store_dir, source_root = _store_and_source(data, videos, short_side, tmp)
        store = PreparedStore(store_dir, split="all")
        if len(store) > videos:
            store.videos = store.videos[:: max(1, len(store) // videos)][:videos]
        entries = [VideoEntry(v["name"], v["label"], v["group"]) for v in store.videos]
        files = VideoFileSource(source_root, entries, store.classes)
        results = {}
        for key, source in (("store", store), ("onthefly", files)):
            ds = PretextDataset(source, window, crop, short_side=short_side, seed=0)
            results[key] = _time(ds, samples)
        manifest = load_manifest(store_dir)
        shapes = {(v["source_height"], v["source_width"]) for v in store.videos if "source_height" in v}
        hours = manifest.get("hours") or 0.0
    s, f = results["store"], results["onthefly"]
    return {
        "videos": len(store.videos),
        "samples": samples,
        "window": {
            "K": window.context_frames,
            "M": window.num_targets,
            "r": window.sampling_rate,
            "d": window.target_length,
        },
        "frames_per_sample": window.context_frames + window.num_targets * window.target_length,
        "short_side": short_side,
        "crop": crop,
        "source_sizes": sorted(f"{w}x{h}" for h, w in shapes),
        "store_samples_per_s": s["samples_per_s"],
        "onthefly_samples_per_s": f["samples_per_s"],
        "store_frames_per_s_per_core": s["frames_per_s_per_core"],
        "onthefly_frames_per_s_per_core": f["frames_per_s_per_core"],
        "ratio": s["frames_per_s_per_core"] / f["frames_per_s_per_core"],
        "peak_rss_mb": max(s["peak_rss_mb"], f["peak_rss_mb"]),
        "store_rss_growth_mb": s["rss_growth_mb"],
        "onthefly_rss_growth_mb": f["rss_growth_mb"],
        "store_gb_per_hour": (manifest.get("bytes", 0) / 1e9 / hours) if hours else None,
        "codec": manifest.get("codec"),
        "goals": {
            "ratio_at_least_3": s["frames_per_s_per_core"] >= 3 * f["frames_per_s_per_core"],
            "store_at_least_1000_frames_per_s_per_core": s["frames_per_s_per_core"] >= 1000,
        },
        "detail": results,
    }


def table(r: dict) -> str:
    w = r["window"]
    rows = [
        f"loader benchmark: {r['videos']} videos ({', '.join(r['source_sizes'])}), window K={w['K']} M={w['M']} "
        f"r={w['r']} d={w['d']} ({r['frames_per_sample']} frames/sample), short side {r['short_side']}, "
        f"crop {r['crop']}, {r['samples']} samples, 1 thread",
        f"{'source':<22}{'samples/s':>12}{'frames/s/core':>16}{'peak RSS MB':>14}{'RSS growth MB':>16}",
    ]
    for key, title in (("store", f"prepared store ({r['codec']})"), ("onthefly", "on-the-fly (PyAV)")):
        d = r["detail"][key]
        rows.append(
            f"{title:<22}{d['samples_per_s']:>12.1f}{d['frames_per_s_per_core']:>16.0f}"
            f"{d['peak_rss_mb']:>14.0f}{d['rss_growth_mb']:>16.1f}"
        )
    goals = {k: "met" if v else "NOT met" for k, v in r["goals"].items()}
    rows.append(
        f"ratio store / on-the-fly: {r['ratio']:.1f}x (goal >= 3x: {goals['ratio_at_least_3']}); "
        f"store >= 1000 frames/s/core: {goals['store_at_least_1000_frames_per_s_per_core']}"
    )
    if r["store_gb_per_hour"]:
        rows.append(f"store size: {r['store_gb_per_hour']:.2f} GB per hour of video at short side {r['short_side']}")
    return "\n".join(rows)


def run(args: argparse.Namespace) -> int:
    window = PretextWindow(args.context_frames, args.num_targets, args.sampling_rate, args.target_length)
    result = benchmark(args.data, args.videos, args.samples, args.short_side, args.crop, window)
    print(table(result))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1))
        print(f"wrote {args.json}")
    return 0
