"""How a configuration error shows what it got: a value from a file may be huge or nested, so it
is shown by its type and size rather than its ``repr``; and the one-line check that raises."""

from __future__ import annotations

from skipclip.errors import InvalidInputError


def shown(v) -> str:
    """``repr(v)`` for a scalar, else its type and size: a value from a file may be huge or nested."""
    if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > 64:
        return f"an integer of {v.bit_length()} bits"
    if isinstance(v, (bool, int, float, type(None))) or (isinstance(v, str) and len(v) <= 80):
        return repr(v)
    return f"a {type(v).__name__} of {len(v)} items" if isinstance(v, (list, dict)) else f"a long {type(v).__name__}"


def require(cond: bool, message: str) -> None:
    if not cond:
        raise InvalidInputError(message)
