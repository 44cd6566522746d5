"""``trainer.precision: auto``: bf16 autocast where this machine runs the run's step faster in it,
fp32 elsewhere. A CPU without native bf16 (AMX or AVX512-BF16) gets fp32 untimed; otherwise a
few steps of each at the run's shapes are timed, interleaved, once per machine and shape, and the
choice is kept in ``$XDG_CACHE_HOME/skipclip/precision.json`` (``~/.cache`` by default). bf16 is
taken only when its median step is at least :data:`MARGIN` faster, so ``auto`` is never measured
slower than fp32. Scores and losses stay fp32 under either (:func:`~skipclip.method.losses.fp32`).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from skipclip.batch import PretextBatch
from skipclip.method.build import build_skipclip
from skipclip.models.normalize import normalize
from skipclip.utils.io import atomic_write

log = logging.getLogger(__name__)

AUTO = "auto"
BF16, FP32 = "bf16-mixed", "32-true"
MARGIN = 0.05  # bf16 must be this much faster (median step) to be chosen
NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")
CACHE_MAX_BYTES = 1 << 20

Probe = Callable[[bool], Callable[[], None]]  # bf16? -> one training step at the run's shapes


@dataclass(frozen=True)
class PrecisionChoice:
    """What ``auto`` became and why: ``precision`` (Lightning's name), the median step of each
    (ms; ``None``: not timed), ``reason`` in words, ``cached``: read from the machine's cache."""

    precision: str
    fp32_ms: float | None
    bf16_ms: float | None
    reason: str
    cached: bool = False


def cpu_flags(path: str = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags (empty where ``/proc/cpuinfo`` is not there, e.g. macOS)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cache_path() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "skipclip" / "precision.json"


def machine_key(device: torch.device, shapes: dict) -> str:
    """The cache key: this machine (host, processor), torch, threads, device and the step's shapes."""
    what = {
        "host": platform.node(),
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": str(device),
        **shapes,
    }
    if device.type == "cuda":
        what["gpu"] = torch.cuda.get_device_name(device)
    return json.dumps(what, sort_keys=True)


def _read_cache(path: Path) -> dict:
    try:
        if path.stat().st_size > CACHE_MAX_BYTES:
            return {}
        found = json.loads(path.read_text())
        return found if isinstance(found, dict) else {}
    except (OSError, ValueError):
        return {}  # absent or unreadable: timed again and rewritten


def _write_cache(path: Path, key: str, choice: PrecisionChoice) -> None:
    entries = _read_cache(path)
    entries[key] = {k: v for k, v in asdict(choice).items() if k != "cached"}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: f.write(json.dumps(entries, indent=1).encode()))
    except OSError as exc:  # a read-only home: the choice holds for this run only
        log.warning("could not keep the precision choice in %s: %s", path, exc)


def time_steps(
    probe: Probe, *, repeats: int = 3, warmup: int = 1, timer: Callable[[], float] = time.perf_counter
) -> tuple[float, float]:
    """Median ms of one fp32 step and one bf16 step, ``repeats`` of each, interleaved (load from
    other processes hits both alike) after ``warmup`` untimed steps of each."""
    steps = {False: probe(False), True: probe(True)}
    for _ in range(warmup):
        for step in steps.values():
            step()
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(repeats):
        for bf16, step in steps.items():
            start = timer()
            step()
            times[bf16].append(1e3 * (timer() - start))
    return statistics.median(times[False]), statistics.median(times[True])


def choose_precision(
    probe: Probe,
    shapes: dict,
    device,
    *,
    flags: set[str] | None = None,
    cache: Path | None = None,
    timer: Callable[[], float] = time.perf_counter,
    repeats: int = 3,
) -> PrecisionChoice:
    """What ``auto`` means for a step at ``shapes`` on ``device`` (see the module's docstring)."""
    device = torch.device(device)
    if device.type == "cpu":
        flags = cpu_flags() if flags is None else flags
        if not flags & set(NATIVE_BF16_FLAGS):
            return PrecisionChoice(FP32, None, None, "no native bf16 on this CPU (amx_bf16, avx512_bf16)")
    elif device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return PrecisionChoice(FP32, None, None, "this GPU has no bf16")
    elif device.type != "cuda":
        return PrecisionChoice(FP32, None, None, f"bf16 is not chosen automatically on {device.type}")
    cache = cache_path() if cache is None else cache
    key = machine_key(device, shapes)
    kept = _read_cache(cache).get(key)
    if isinstance(kept, dict) and kept.get("precision") in (BF16, FP32):
        return PrecisionChoice(
            kept["precision"], kept.get("fp32_ms"), kept.get("bf16_ms"), str(kept.get("reason", "")), cached=True
        )
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):  # the run's streams untouched
        fp32_ms, bf16_ms = time_steps(probe, repeats=repeats, timer=timer)
    faster = bf16_ms < (1 - MARGIN) * fp32_ms
    reason = f"bf16 step {bf16_ms:.0f} ms against fp32 {fp32_ms:.0f} ms at these shapes" + (
        "" if faster else f" (bf16 is taken only when at least {MARGIN:.0%} faster)"
    )
    choice = PrecisionChoice(BF16 if faster else FP32, round(fp32_ms, 2), round(bf16_ms, 2), reason)
    _write_cache(cache, key, choice)
    return choice


def _autocast(device: torch.device, bf16: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)


def skipclip_probe(cfg, device) -> tuple[Probe, dict]:
    """A Skip-Clip optimiser step at ``cfg``'s shapes on random clips, and those shapes."""
    device = torch.device(device)
    b, s, p = cfg.data.batch_size, cfg.data.crop_size, cfg.pretext
    shapes = {
        "step": "skipclip",
        "arch": cfg.model.context_arch,
        "width": cfg.model.width,
        "batch": b,
        "crop": s,
        "K": p.context_frames,
        "M": p.num_targets,
        "d": p.target_length,
        "rotation": p.rotation,
    }

    def probe(bf16: bool):
        model = build_skipclip(cfg).to(device).train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-6)
        batch = PretextBatch(
            context=torch.randint(0, 256, (b, 3, p.context_frames, s, s), dtype=torch.uint8),
            targets=torch.randint(0, 256, (b, p.num_targets, p.target_length, 3, s, s), dtype=torch.uint8),
        ).map(lambda t: t.to(device))

        def step():
            opt.zero_grad(set_to_none=True)
            with _autocast(device, bf16):
                terms, _ = model(batch)
            sum(terms.values()).backward()
            opt.step()

        return step

    return probe, shapes


def encoder_probe(cfg, clip_frames: int, crop: int, batch: int, device, frozen: bool = False) -> tuple[Probe, dict]:
    """An optimiser step of the context encoder g alone on ``batch`` clips of ``clip_frames`` x
    ``crop`` px (what fine-tuning spends its time on; ``frozen``: g's forward only, as a linear
    probe trains), and those shapes."""
    device = torch.device(device)
    shapes = {
        "step": "encoder",
        "arch": cfg.model.context_arch,
        "width": cfg.model.width,
        "batch": batch,
        "crop": crop,
        "T": clip_frames,
        "frozen": frozen,
    }

    def probe(bf16: bool):
        g = build_skipclip(cfg).context_encoder.to(device).train()
        opt = torch.optim.Adam(g.parameters(), lr=1e-6)
        x = normalize(torch.randint(0, 256, (batch, 3, clip_frames, crop, crop), dtype=torch.uint8).to(device), 1)

        def step():
            opt.zero_grad(set_to_none=True)
            with torch.set_grad_enabled(not frozen), _autocast(device, bf16):
                y = g.pooled(x)
            if not frozen:
                y.float().mean().backward()
                opt.step()

        return step

    return probe, shapes


def resolved(cfg, probe_and_shapes: Callable[[], tuple[Probe, dict]], device) -> PrecisionChoice | None:
    """``cfg.trainer.precision`` unless it is ``auto``: then the choice (logged), else ``None``."""
    if cfg.trainer.precision != AUTO:
        return None
    probe, shapes = probe_and_shapes()
    choice = choose_precision(probe, shapes, device)
    log.info("precision auto: %s (%s%s)", choice.precision, choice.reason, ", cached" if choice.cached else "")
    return choice


__all__ = [
    "AUTO",
    "PrecisionChoice",
    "choose_precision",
    "cpu_flags",
    "encoder_probe",
    "resolved",
    "skipclip_probe",
    "time_steps",
]
