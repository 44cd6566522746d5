"""Keep freed heap memory in the process instead of handing it back to the OS (glibc only).

A training step allocates and frees ~100 MB of activations. With glibc's defaults large blocks
are mmap-ed and freed blocks trimmed, so every step takes them fresh from the OS: ~20-30 k page
faults a step on the CPU preset, 12-15 % of the step (experiments/NOTES.md). ``mallopt`` applies
the same setting as ``GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=...``
from inside the process. The `skipclip` command calls it at start; set ``SKIPCLIP_MALLOC=default``
to keep glibc's defaults.
"""

from __future__ import annotations

import ctypes
import os

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_MAX = -4

state = "default"


def keep_freed_memory() -> str:
    """Apply the setting where glibc is present; returns a description of what is in force."""
    global state
    if os.environ.get("SKIPCLIP_MALLOC") == "default" or os.environ.get("GLIBC_TUNABLES"):
        state = os.environ.get("GLIBC_TUNABLES") or "default"
        return state
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (macOS, musl): nothing to do
        return state
    if libc.mallopt(M_MMAP_MAX, 0) == 1 and libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1) == 1:
        state = "mallopt(M_MMAP_MAX=0, M_TRIM_THRESHOLD=2^31-1)"
    return state
