"""A sampler whose order is a pure function of (seed, epoch), sharded across ranks, that can
start mid-epoch: what exact resume and distributed training need from the data side.

Lightning's default ``DistributedSampler`` cannot skip the batches a killed run already trained
on; this one can (``start``), and every rank derives the same global order from (seed, epoch)
without talking to the others.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from skipclip.data.failures import collate
from skipclip.data.sampling.prefetch import PrefetchLoader, with_prefetch
from skipclip.errors import InvalidInputError
from skipclip.utils import dist


class EpochSampler(Sampler[int]):
    """Indices of one rank for one epoch.

    The global order is a permutation drawn from ``(seed, epoch)`` (or ``0..n-1`` without
    shuffling) and rank ``r`` of ``W`` takes every W-th index from position ``r``, so one global
    batch of ``W*B`` videos is split over the ranks and each video is seen once per epoch across
    ranks. Training (``drop_last``) drops the ``n mod W`` videos at the end of that epoch's
    permutation (different ones each epoch); evaluation pads by repeating the first ones so every
    rank gets as many batches (collectives in the step would otherwise hang).

    Args:
        size: number of items.
        shuffle: permute with ``(seed, epoch)``.
        seed: base seed.
        drop_last: drop the tail that does not split evenly (else pad it).
        rank, world_size: this process and the number of processes; default to the process
            group's, read when the sampler is iterated (after Lightning set up DDP).
        mark_padding: yield a padded repeat of item ``i`` as ``i + size``, so a dataset that
            knows the convention (:class:`~skipclip.data.sampling.pretext.PretextDataset`) can flag it and
            the step leave it out of the negatives and the metrics.

    Raises:
        ValueError: ``size`` < 1.
    """

    def __init__(
        self,
        size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = True,
        rank: int | None = None,
        world_size: int | None = None,
        mark_padding: bool = False,
    ):
        if size < 1:
            raise InvalidInputError(f"EpochSampler needs at least one item, got size={size}")
        self.size = size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self._rank = rank
        self._world_size = world_size
        self.mark_padding = mark_padding
        self.epoch = 0
        self.start = 0  # items of this rank's epoch order to skip (set on a mid-epoch resume)

    @property
    def rank(self) -> int:
        return dist.rank() if self._rank is None else self._rank

    @property
    def world_size(self) -> int:
        return dist.world_size() if self._world_size is None else self._world_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def global_order(self) -> np.ndarray:
        """The epoch's order over all ranks, trimmed or padded to a multiple of the world size."""
        n, w = self.size, self.world_size
        order = np.random.default_rng((self.seed, self.epoch)).permutation(n) if self.shuffle else np.arange(n)
        if self.drop_last and n >= w:
            return order[: n - n % w]
        pad = (-n) % w
        repeats = np.resize(order, pad) + (n if self.mark_padding else 0)
        return np.concatenate([order, repeats]) if pad else order

    def indices(self) -> np.ndarray:
        """This rank's whole order for the current epoch (``start`` not applied)."""
        return self.global_order()[self.rank :: self.world_size]

    def __len__(self) -> int:
        n, w = self.size, self.world_size
        total = n - n % w if self.drop_last and n >= w else n + (-n) % w
        return total // w

    def __iter__(self):
        return iter(self.indices()[self.start :].tolist())


def epoch_loader(
    dataset,
    batch_size: int,
    *,
    shuffle: bool,
    drop_last: bool,
    seed: int = 0,
    num_workers: int = 0,
    pin_memory: bool | None = None,
    collate_fn=None,
    mark_padding: bool = False,
    timeout: float = 0,
    prefetch: int = 0,
) -> DataLoader:
    """A DataLoader over ``dataset`` with an :class:`EpochSampler` (for training and evaluation,
    one process or many). Pass ``use_distributed_sampler=False`` to the Trainer.

    The loader draws its workers' base seed from its own generator, never from the global torch
    stream, so creating it does not shift the training randomness (exact resume needs that).
    ``timeout`` (seconds, workers only): a worker stuck on one batch (a hung decoder) ends the
    run with an error instead of blocking it forever. ``prefetch`` (no workers only): batches read
    ahead on a background thread, across epoch ends when ``shuffle``
    (:class:`~skipclip.data.sampling.prefetch.PrefetchLoader`).
    """
    sampler = EpochSampler(len(dataset), shuffle=shuffle, seed=seed, drop_last=drop_last, mark_padding=mark_padding)
    loader = PrefetchLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        drop_last=drop_last and len(dataset) >= batch_size,
        num_workers=num_workers,
        pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
        persistent_workers=False,  # re-created each epoch, so they see the dataset's epoch
        generator=torch.Generator().manual_seed(seed),
        collate_fn=collate_fn or getattr(dataset, "collate", collate),  # a dataset's own (PretextBatch)
        timeout=timeout if num_workers else 0,
    )
    return with_prefetch(loader, prefetch, across_epochs=shuffle)
