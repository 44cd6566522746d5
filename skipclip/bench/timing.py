"""Timing for the benchmarks: device-synchronised timers and the machine's matmul rate."""

from __future__ import annotations

import time

import torch


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def timed(fn, device, clock=time.perf_counter) -> float:
    """Seconds ``clock`` counts for one call of ``fn``, the device synchronised on both sides."""
    sync(device)
    t0 = clock()
    fn()
    sync(device)
    return clock() - t0


def matmul_timer(device, n: int, clock=time.perf_counter):
    """A function timing one ``n x n @ n x n`` product (fp32 on CPU, bf16 on CUDA); returns GFLOP/s."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
    b = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
    out = torch.empty(n, n, device=device, dtype=dtype)
    reps = 10 if device.type == "cuda" else 1  # a CUDA product is too short to time alone

    def once() -> float:
        seconds = timed(lambda: [torch.mm(a, b, out=out) for _ in range(reps)], device, clock)
        return 2 * n**3 * reps / seconds / 1e9

    return once
