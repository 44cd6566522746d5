"""Memory and page-fault readings for the benchmarks: peak memory of a step on CUDA or CPU."""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
from pathlib import Path

import torch

from skipclip.utils import malloc


class PeakMemory:
    """Peak memory of a stretch of code: CUDA allocator statistics, or the CPU resident set size."""

    def __init__(self, device):
        self.device = device
        self.cuda = device.type == "cuda"
        self.base = self.current()

    def current(self) -> int:
        if self.cuda:
            return torch.cuda.memory_allocated(self.device)
        return _status_kb("VmRSS") * 1024

    def reset(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.base = self.current()
            return
        _malloc_trim()  # hand freed heap back, so the peak is not a leftover of earlier steps
        try:
            Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS (Linux >= 4.0)
        except OSError:
            pass  # then the peak is the whole process's, an upper bound
        self.base = self.current()  # after the trim: the peak is measured from here

    def peak_above_base(self) -> int:
        if self.cuda:
            torch.cuda.synchronize(self.device)
            return torch.cuda.max_memory_allocated(self.device) - self.base
        return _status_kb("VmHWM") * 1024 - self.base


def _status_kb(key: str) -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB on Linux; no current RSS elsewhere


def minor_faults() -> int:
    """Minor page faults of this process so far (first touches of memory fresh from the OS)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def malloc_state() -> str:
    return malloc.state if malloc.state != "default" else (os.environ.get("GLIBC_TUNABLES") or "default")


def _malloc_trim() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
