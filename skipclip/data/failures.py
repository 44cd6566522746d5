"""Unreadable videos, reported from any number of DataLoader workers.

A data set running in a worker process cannot tell the main process anything except through
the items it returns, so each item carries the videos it had to pass over as
``item["failed"] = {name: reason}`` (empty when none). :func:`collate` batches the items as the
default collate does and gathers those reports into one list of ``(name, reason)`` pairs per
batch; the main process merges them with :func:`~skipclip.batch.from_batch`, which sits below
the data package (in :mod:`skipclip.batch`) so the engine reads failure records without it.
"""

from __future__ import annotations

from torch.utils.data import default_collate

from skipclip.batch import FAILED, from_batch


def collate(items: list[dict]) -> dict:
    """``default_collate`` of the items without their failure reports, plus
    ``batch["failed"]``: every ``(name, reason)`` the items carried, as a list."""
    reports = [(str(n), str(r)) for item in items for n, r in (item.get(FAILED) or {}).items()]
    batch = default_collate([{k: v for k, v in item.items() if k != FAILED} for item in items])
    batch[FAILED] = reports
    return batch


__all__ = ["FAILED", "collate", "from_batch"]
