"""The field checks of a resume state: integers and numbers in range, types, tensors of their
parameter's shape and dtype, and structures like a fresh trainer's, each failure one
:class:`~skipclip.errors.InvalidInputError` naming the file and the field."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from skipclip.errors import InvalidInputError

BIG = 2**53  # any counter of a real run is far below this


class FieldChecker:
    """Checks of one resume state's fields; each failure names the file and the field."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def fail(self, field: str, why: str):
        raise InvalidInputError(
            f"{self.path}: resume state field {field} {why}; the file was not written by this "
            "run as it is: restore it, or start afresh (--force, or another --out)"
        )

    def int(self, value, field: str, lo: int = 0, hi: int = BIG) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            self.fail(field, f"is {shown_value(value)}, not an integer in [{lo}, {hi}]")
        return value

    def number(self, value, field: str, lo: float = -math.inf, hi: float = math.inf) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or not lo <= value <= hi
        ):
            self.fail(field, f"is {shown_value(value)}, not a finite number in [{lo}, {hi}]")
        return value

    def kind(self, value, types, field: str):
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in _tuple(types)):
            names = "/".join(t.__name__ for t in _tuple(types))
            self.fail(field, f"is {shown_value(value)}, not {names}")
        return value

    def tensor_like(self, value, ref: torch.Tensor, field: str) -> None:
        if not isinstance(value, torch.Tensor):
            self.fail(field, f"is {shown_value(value)}, not a tensor")
        if value.shape != ref.shape or value.dtype != ref.dtype:
            self.fail(
                field, f"has shape {tuple(value.shape)} {value.dtype}, its parameter {tuple(ref.shape)} {ref.dtype}"
            )

    def weights(self, state, ref: dict, field: str) -> None:
        self.kind(state, dict, field)
        missing, extra = sorted(set(ref) - set(state)), sorted(set(state) - set(ref))
        if missing or extra:
            self.fail(field, f"does not fit the model (missing {missing[:3]}, unexpected {extra[:3]})")
        for k, v in ref.items():
            self.tensor_like(state[k], v, f"{field}[{k!r}]")

    def like(self, value, ref, field: str) -> None:
        """``value`` has ``ref``'s structure: dicts with the same keys, lists of the same length,
        counters as non-negative integers, other leaves of the same type."""
        if isinstance(ref, dict):
            self.kind(value, dict, field)
            if set(value) != set(ref):
                self.fail(field, f"has keys {sorted(map(str, value))[:6]}, expected {sorted(map(str, ref))[:6]}")
            for k in ref:
                self.like(value[k], ref[k], f"{field}.{k}")
        elif isinstance(ref, (list, tuple)):
            self.kind(value, (list, tuple), field)
            if len(value) != len(ref):
                self.fail(field, f"has {len(value)} entries, expected {len(ref)}")
            for i, (v, r) in enumerate(zip(value, ref)):
                self.like(v, r, f"{field}[{i}]")
        elif isinstance(ref, bool):
            self.kind(value, bool, field)
        elif isinstance(ref, int):
            self.int(value, field)
        elif isinstance(ref, float):
            self.number(value, field)
        elif isinstance(ref, torch.Tensor):
            self.tensor_like(value, ref, field)
        elif ref is None:
            if value is not None:
                self.fail(field, f"is {shown_value(value)}, expected None")
        else:
            self.kind(value, type(ref), field)


def _tuple(types) -> tuple:
    return types if isinstance(types, tuple) else (types,)


def shown_value(value) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    if isinstance(value, (bool, int, float)) or value is None:
        return repr(value)
    if isinstance(value, str):
        return repr(value[:40])
    if isinstance(value, torch.Tensor):
        return f"a {tuple(value.shape)} {value.dtype} tensor"
    return f"a {type(value).__name__}"
