"""Decoded frames kept in memory, within a byte budget, so a short run on a small store decodes
each JPEG frame once instead of once per epoch.

A pretraining run reads every training video again each epoch, at new windows that overlap the
old ones: `cpu-real`'s 150 steps on kinetics-tiny read 38,400 frames, 14,930 of them distinct
(docs/benchmarks.md). On two cores the decoding runs beside the training step and slows it, so
frames decoded once are worth keeping. The cache is least-recently-used, bounded by
``data.frame_cache_mb`` per loading process (each loader worker keeps its own), and returns the
very pixels the decoder gave: a run trains the same with and without it.

Where the whole split fits the budget (kinetics-tiny's 43 training videos at 56 px: 264 MB of
512), each video is decoded whole the first time it is read: its shard is opened, read and
decoded once, in one batched call, and every later read is served from memory. `cpu-real`'s 150
steps read nearly every frame of every training video anyway (15,794 of 18,023).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np


class FrameCache:
    """Least-recently-used decoded frames of a store's shards, at most ``budget_bytes`` in all.

    Args:
        budget_bytes: the most bytes of frames held; 0 holds none.

    Raises:
        ValueError: a negative budget.
    """

    def __init__(self, budget_bytes: int):
        if budget_bytes < 0:
            raise ValueError(f"a frame cache budget must be >= 0 bytes, got {budget_bytes}")
        self.budget = int(budget_bytes)
        self.held = 0  # bytes held now
        self.hits = self.misses = 0  # frames served from memory, frames decoded
        self._frames: collections.OrderedDict[tuple[str, int], np.ndarray] = collections.OrderedDict()
        #: decode each video whole the first time one of its frames is read, where all the videos
        #: fit the budget (:meth:`~skipclip.data.store.prepared.PreparedStore.keep_frames`): the
        #: shard is then opened and decoded once, and every later read is served from memory
        self.whole_videos = False
        self._whole: set[str] = set()  # the videos put in whole
        self._whole_lock = threading.Lock()  # held while a video is decoded whole, so it is decoded once
        self._lock = threading.Lock()  # the read-ahead thread and the training thread may both read

    def __len__(self) -> int:
        return len(self._frames)

    def read(self, path: Path, frames: Sequence[int], decode: Callable[[Path, list[int]], np.ndarray]) -> np.ndarray:
        """``decode(path, frames)``'s result, decoding only the frames not held.

        Args:
            path: the shard; frames: indices in any order, repeats allowed.
            decode: reads ``(n, H, W, 3)`` uint8 frames of a shard (and checks the indices).
        """
        idx = np.asarray(frames, dtype=np.int64)
        unique, inverse = np.unique(idx, return_inverse=True)
        key = str(path)
        with self._lock:
            found = [self._frames.get((key, int(i))) for i in unique]
            for i, frame in zip(unique, found):
                if frame is not None:
                    self._frames.move_to_end((key, int(i)))
        missing = [int(i) for i, frame in zip(unique, found) if frame is None]
        if missing:
            decoded = decode(path, missing)
            fresh = iter(decoded)
            found = [next(fresh) if frame is None else frame for frame in found]
            self._keep(key, missing, decoded)
        with self._lock:
            self.hits += len(unique) - len(missing)
            self.misses += len(missing)
        if not found:
            return decode(path, [])
        return np.stack([found[i] for i in inverse.reshape(-1)])

    def keep_video(self, path: Path, decode_all: Callable[[], list[np.ndarray]]) -> None:
        """Keep every frame of a video the first time it is asked for: ``decode_all()``'s arrays,
        kept as they are (each must own its memory, as
        :func:`~skipclip.data.store.shard.read_shard_whole`'s do) and counted as decoded. Two
        threads asking for one video at once decode it once: the other waits."""
        key = str(path)
        if key in self._whole:
            return
        with self._whole_lock:
            if key in self._whole:
                return
            frames = decode_all()
            self._keep(key, list(range(len(frames))), frames, copy=False)
            with self._lock:
                self.misses += len(frames)
                self._whole.add(key)

    def _keep(self, key: str, indices: list[int], decoded: np.ndarray | list[np.ndarray], copy: bool = True) -> None:
        if not self.budget or not len(decoded):
            return
        size = decoded[0].nbytes
        if size > self.budget:
            return
        with self._lock:
            for i, frame in zip(indices, decoded):
                if (key, i) in self._frames:  # read meanwhile by another thread
                    continue
                while self.held + size > self.budget and self._frames:
                    _, old = self._frames.popitem(last=False)
                    self.held -= old.nbytes
                self._frames[(key, i)] = frame.copy() if copy else frame  # its own memory, not a view into the batch
                self.held += size

    def stats(self) -> dict:
        """``{"hits", "misses", "frames", "bytes", "budget"}`` so far."""
        with self._lock:
            return {
                "hits": self.hits,
                "misses": self.misses,
                "frames": len(self._frames),
                "bytes": self.held,
                "budget": self.budget,
            }


__all__ = ["FrameCache"]
