"""The batch between ``data/`` and ``method/``: a typed :class:`PretextBatch`, not a dict of string keys,
and the failure records any batch carries (:func:`from_batch`).

It sits below both (it imports torch only), so the method, the engine and the benchmarks read it
without importing the data package (and PyAV, which the GPU machines lack); ``data/`` makes it
(:meth:`skipclip.data.PretextDataset.collate`, :func:`skipclip.data.collate`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

FAILED = "failed"  # the key (or field) of the videos an item or a batch passed over


@dataclass
class PretextBatch:
    """B Skip-Clip samples, uint8 (normalised later, on the device).

    Lightning moves it to the device field by field (``apply_to_collection`` handles dataclasses),
    and a DataLoader with ``pin_memory`` pins it through :meth:`pin_memory`.

    Attributes:
        context: ``(B, 3, K, S, S)`` context clips.
        targets: ``(B, M, d, 3, S, S)`` target clips, nearest first.
        video: ``(B,)`` source index of each sample (``None``: every row a different video).
        group: ``(B,)`` recording id (clips of one recording are not each other's negatives).
        pad: ``(B,)`` ``True`` for a padded repeat (counts for nothing).
        skipped: ``(B,)`` unreadable videos passed over for each sample.
        failed: ``(name, reason)`` of every video passed over, from any loader worker.
    """

    context: Tensor
    targets: Tensor
    video: Tensor | None = None
    group: Tensor | None = None
    pad: Tensor | None = None
    skipped: Tensor | None = None
    failed: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.context.shape[0])

    def map(self, fn: Callable[[Tensor], Tensor]) -> PretextBatch:
        """A batch with ``fn`` applied to every tensor field (``failed`` kept)."""
        changes: dict[str, Any] = {
            f.name: fn(v) for f in dataclasses.fields(self) if isinstance(v := getattr(self, f.name), Tensor)
        }
        return dataclasses.replace(self, **changes)

    def pin_memory(self) -> PretextBatch:
        """Every tensor in page-locked memory (what ``DataLoader(pin_memory=True)`` calls)."""
        return self.map(Tensor.pin_memory)


def from_batch(batch: object) -> dict[str, str]:
    """The videos a collated batch (a dict, or a typed batch with a ``failed`` field) or a single
    item passed over, ``{name: reason}``."""
    if not isinstance(batch, dict):
        return dict(getattr(batch, FAILED, None) or [])
    if FAILED not in batch:
        return {}
    value = batch[FAILED]
    return dict(value.items() if isinstance(value, dict) else value)


__all__ = ["FAILED", "PretextBatch", "from_batch"]
