"""Results as dataclasses, serialised once: :func:`record` is the ``to_dict()`` of the summaries,
histories and protocol results, the JSON-ready dict their fields make. Imports nothing of skipclip."""

from __future__ import annotations

import dataclasses


def record(result, *, omit_none: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> dict:
    """The fields of the dataclass ``result`` as a dict, keyed by field name in declaration order; a
    field holding another result (anything with a ``to_dict()``) becomes that result's dict.

    Args:
        result: a dataclass instance.
        omit_none: fields left out when they hold ``None`` (keys a record has only sometimes).
        exclude: fields never written.

    Raises:
        TypeError: ``result`` is not a dataclass instance.
    """
    if not dataclasses.is_dataclass(result) or isinstance(result, type):
        raise TypeError(f"record() needs a dataclass instance, got {type(result).__name__}")
    out = {}
    for f in dataclasses.fields(result):
        value = getattr(result, f.name)
        if f.name in exclude or (f.name in omit_none and value is None):
            continue
        out[f.name] = value.to_dict() if hasattr(value, "to_dict") else value
    return out
