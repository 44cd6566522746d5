"""Unreadable videos, reported from any number of DataLoader workers.

A data set running in a worker process cannot tell the main process anything except through
the items it returns, so each item carries the videos it had to pass over as
``item["failed"] = {name: reason}`` (empty when none). :func:`collate` batches the items as the
default collate does and gathers those reports into one list of ``(name, reason)`` pairs per
batch; the main process merges them with :func:`from_batch`.
"""

from __future__ import annotations

from torch.utils.data import default_collate

FAILED = "failed"


def collate(items: list[dict]) -> dict:
    """``default_collate`` of the items without their failure reports, plus
    ``batch["failed"]``: every ``(name, reason)`` the items carried, as a list."""
    reports = [(str(n), str(r)) for item in items for n, r in (item.get(FAILED) or {}).items()]
    batch = default_collate([{k: v for k, v in item.items() if k != FAILED} for item in items])
    batch[FAILED] = reports
    return batch


def from_batch(batch: object) -> dict[str, str]:
    """The videos a collated batch (a dict, or a typed batch with a ``failed`` field) or a single
    item passed over, ``{name: reason}``."""
    if not isinstance(batch, dict):
        return dict(getattr(batch, FAILED, None) or [])
    if FAILED not in batch:
        return {}
    value = batch[FAILED]
    return dict(value.items() if isinstance(value, dict) else value)


__all__ = ["FAILED", "collate", "from_batch"]
