"""Unreadable videos, reported from any number of DataLoader workers.

A data set running in a worker process cannot tell the main process anything except through
the items it returns, so each item carries the videos it had to pass over (``item["failed"]``,
one ``name<TAB>reason`` line each, ``""`` when none); the default collate turns them into a list
of strings per batch, and the main process merges them with :func:`from_batch`.
"""

from __future__ import annotations

FAILED = "failed"


def encode(failures: dict[str, str]) -> str:
    """``{name: reason}`` as one string a batch can carry."""
    return "\n".join(f"{_clean(n)}\t{_clean(r)}" for n, r in failures.items())


def _clean(text: str) -> str:
    return str(text).replace("\t", " ").replace("\n", " ")


def decode(text: str) -> dict[str, str]:
    out = {}
    for line in text.split("\n"):
        if line:
            name, _, reason = line.partition("\t")
            out[name] = reason
    return out


def from_batch(batch) -> dict[str, str]:
    """The videos a collated batch (or a single item) passed over, ``{name: reason}``."""
    if not isinstance(batch, dict) or FAILED not in batch:
        return {}
    value = batch[FAILED]
    out: dict[str, str] = {}
    for text in [value] if isinstance(value, str) else value:
        out.update(decode(text))
    return out
