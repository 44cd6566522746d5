"""The last lines of every long command: where its outputs are, and what a user would run next."""

from __future__ import annotations

import shlex


def quote(path) -> str:
    """A path as a shell word (quoted only when it needs to be)."""
    return shlex.quote(str(path))


def data_flags(args) -> str:
    """The flags that say how ``--data`` is read (layout, label and group patterns), as given, to
    repeat them in the next command."""
    out = ""
    for flag in ("layout", "label_pattern", "group_pattern", "test_fraction", "val_fallback"):
        value = getattr(args, flag, None)
        if (
            value is not None
            and not (flag == "test_fraction" and value == 0.2)
            and not (flag == "val_fallback" and value == "videos")
        ):
            out += f" --{flag.replace('_', '-')} {quote(value)}"
    return out


def say_next(outputs: str | None, *commands: str) -> None:
    """Print ``outputs`` (where the results are), then the next command and its alternatives."""
    print()
    if outputs:
        print(outputs)
    for i, command in enumerate(commands):
        print(f"{'next:' if i == 0 else '  or:'} {command}")


__all__ = ["data_flags", "quote", "say_next"]
