"""Batches read on a background thread while the model trains: the in-process loader
(``num_workers: 0``) of a 2-core machine, where worker processes would take a core from the
step. Decoding and resizing run in torch and the JPEG decoder, which release the GIL, so the
thread overlaps the step instead of adding to it.

A training loader also reads ahead across the end of an epoch: an
:class:`~skipclip.data.sampling.epoch_sampler.EpochSampler`'s order and an epoch-aware dataset's
items are pure functions of ``(seed, epoch, index)``, so the first batches of epoch ``e + 1`` are
known before Lightning starts it. When the next epoch turns out otherwise (a resume, a loader
iterated out of turn), the read-ahead is dropped and the batches are read afresh; a batch is the
same either way, so a run trains the same with and without the thread (``data.prefetch: 0``).
"""

from __future__ import annotations

import collections
import copy
import queue
import threading
from typing import Any, cast

import torch
from torch.utils.data import BatchSampler, DataLoader
from torch.utils.data._utils.pin_memory import pin_memory

from skipclip.errors import InvalidInputError


class _Job:
    """One batch to read: ``key`` = (epoch, indices); ``result()`` waits for it (and re-raises)."""

    def __init__(self, key, fn):
        self.key, self.fn = key, fn
        self.done = threading.Event()
        self.value = self.error = None
        self.cancelled = False

    def run(self) -> None:
        if self.cancelled:
            self.done.set()
            return
        try:
            self.value = self.fn()
        except Exception as exc:  # handed to the consumer, raised there  # noqa: BLE001
            self.error = exc
        self.done.set()

    def result(self):
        self.done.wait()
        if self.error is not None:
            raise self.error
        return self.value


class _Reader:
    """A daemon thread that runs :class:`_Job` s in the order they are queued."""

    def __init__(self):
        self.jobs: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._loop, name="skipclip-prefetch", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        # one intra-op thread for the reading (per thread under OpenMP): the step keeps torch's
        # threads, and the resize does not fan out onto the cores the step is using
        torch.set_num_threads(1)
        while True:
            job = self.jobs.get()
            if job is None:
                return
            job.run()

    def submit(self, job: _Job) -> _Job:
        self.jobs.put(job)
        return job


def epoch_keys(loader: DataLoader, epoch: int | None = None, start: int | None = None) -> list[tuple]:
    """The ``(epoch, indices)`` of each batch ``loader`` yields for ``epoch`` from item ``start``
    (default: its sampler's current ones), without changing the sampler."""
    sampler: Any = loader.sampler  # an EpochSampler (epoch, start)
    if epoch is not None or start is not None:
        sampler = copy.copy(sampler)
        sampler.epoch = sampler.epoch if epoch is None else epoch
        sampler.start = sampler.start if start is None else start
    batches = BatchSampler(sampler, cast(int, loader.batch_size), loader.drop_last)
    return [(sampler.epoch, tuple(b)) for b in batches]


class PrefetchLoader(DataLoader):
    """A :class:`~torch.utils.data.DataLoader` that, without worker processes, reads ``prefetch``
    batches ahead on one background thread (with workers, or ``prefetch`` 0, it is the plain loader).

    ``across_epochs`` (training loaders): keep reading into the next epoch, which needs an
    ``EpochSampler`` (``epoch``, ``start``) and a dataset with ``at_epoch(index, epoch)``.
    Set both attributes after construction (:func:`with_prefetch`), so Lightning can rebuild the
    loader from its ``__init__`` arguments.
    """

    prefetch: int = 0
    across_epochs: bool = False
    _reader: _Reader | None = None
    _ahead: collections.deque | None = None

    def _get_iterator(self):
        if self.num_workers or not self.prefetch:
            return super()._get_iterator()
        return self._prefetching()

    def _read(self, key):
        epoch, indices = key
        at = getattr(self.dataset, "at_epoch", None) if self.across_epochs else None
        items = [at(i, epoch) for i in indices] if at is not None else [self.dataset[i] for i in indices]
        batch = self.collate_fn(items)
        return pin_memory(batch) if self.pin_memory else batch

    def _prefetching(self):
        if self._reader is None:
            self._reader, self._ahead = _Reader(), collections.deque()
        keys = epoch_keys(self)
        # the next epoch's first batches, read while this one ends (same order, same items)
        wanted = keys + (epoch_keys(self, keys[0][0] + 1, 0)[: self.prefetch] if self.across_epochs and keys else [])
        ahead = self._ahead
        if [job.key for job in ahead] != wanted[: len(ahead)]:  # read ahead for another epoch: dropped
            self._drop()
        for i in range(len(keys)):  # ahead holds wanted[i : i + len(ahead)]
            while len(ahead) <= self.prefetch and i + len(ahead) < len(wanted):
                key = wanted[i + len(ahead)]
                ahead.append(self._reader.submit(_Job(key, lambda k=key: self._read(k))))
            yield ahead.popleft().result()

    def _drop(self) -> None:
        if self._ahead is None:
            return
        for job in self._ahead:
            job.cancelled = True
        self._ahead.clear()


def with_prefetch(loader: PrefetchLoader, prefetch: int, across_epochs: bool = False) -> PrefetchLoader:
    """``loader`` reading ``prefetch`` batches ahead on a thread (0: none); ``across_epochs``: into
    the next epoch too (a training loader with an ``EpochSampler`` and an ``at_epoch`` dataset).

    Raises:
        ValueError: ``prefetch`` < 0.
    """
    if not isinstance(prefetch, int) or prefetch < 0:
        raise InvalidInputError(f"data.prefetch must be an integer >= 0 batches (0: none), got {prefetch!r}")
    loader.prefetch = prefetch
    loader.across_epochs = across_epochs and hasattr(loader.dataset, "at_epoch") and hasattr(loader.sampler, "start")
    return loader


__all__ = ["PrefetchLoader", "epoch_keys", "with_prefetch"]
