"""A run folder's own files are data: ``run.json`` and ``config.yaml`` are read only when they are
regular files (a link to ``/dev/zero`` or a FIFO is refused, never read or waited on), with the
size bound checked on the opened file before a byte is read, and ``run.json``'s fields are
type-checked before any code uses them.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from skipclip.errors import InvalidInputError

RUN_RECORD_MAX_BYTES = 16 * 2**20  # a run.json is a few kB; anything this large is not one
RUN_CONFIG_MAX_BYTES = 1 << 20  # a resolved config.yaml is 2 kB


def read_regular(path: str | Path, max_bytes: int, what: str) -> bytes | None:
    """The bytes of ``path`` (``None`` when it does not exist), read only when it is a regular
    file of at most ``max_bytes`` (checked with ``fstat`` on the opened descriptor, so what is
    checked is what is read). Opened non-blocking: a FIFO is refused, not waited on.

    Raises:
        InvalidInputError: not a regular file, too large, or unreadable; the message names it,
            ``what`` it should be, and what to do.
    """
    path = Path(path)
    fix = "move it away, or pass --out to use another folder"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        if path.is_symlink():
            raise InvalidInputError(f"{path} is a symbolic link to nothing, not {what}; {fix}") from None
        return None
    except OSError as exc:
        raise InvalidInputError(f"{path} cannot be read as {what} ({exc.strerror}); {fix}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = (
                "a FIFO"
                if stat.S_ISFIFO(st.st_mode)
                else "a device"
                if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                else "a folder"
                if stat.S_ISDIR(st.st_mode)
                else "not a file"
            )
            raise InvalidInputError(f"{path} is {kind}, not {what} (a regular file); {fix}")
        if st.st_size > max_bytes:
            raise InvalidInputError(f"{path} is {st.st_size} bytes, more than {what}'s {max_bytes}; {fix}")
        chunks, left = [], max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > max_bytes:  # grew while read
            raise InvalidInputError(f"{path} is more than {what}'s {max_bytes} bytes; {fix}")
        return data
    except OSError as exc:
        raise InvalidInputError(f"{path} cannot be read as {what} ({exc.strerror}); {fix}") from None
    finally:
        os.close(fd)


_INT = (int,)
# run.json field -> (allowed types, check on the value, what it should be)
_FIELDS = {
    "kind": ((str,), None, "a run kind"),
    "status": ((str,), None, "a status"),
    "started": ((str,), None, "a time"),
    "ended": ((str,), None, "a time"),
    "seed": ((int, type(None)), None, "an integer seed"),
    "command": ((str,), None, "a command line"),
    "resumes": (_INT, lambda v: 0 <= v < 2**31, "a count >= 0"),
    "resumed_from_status": ((str, type(None)), None, "a status"),
    "attempts": ((list,), lambda v: all(isinstance(a, dict) for a in v), "a list of attempt records"),
    "summary": ((dict, type(None)), None, "a summary record"),
    "health": ((dict, type(None)), None, "a health record"),
    "finetune": ((dict, type(None)), None, "a starting-point record"),
    "versions": ((dict,), None, "a versions record"),
    "first_step": (_INT, lambda v: 0 <= v < 2**62, "a step >= 0"),
    "wall_s_before": ((int, float), lambda v: 0 <= v < 1e12, "seconds >= 0"),
}


def check_run_fields(info: dict, path: Path) -> dict:
    """``info`` when each field skipclip reads has its type and range.

    Raises:
        InvalidInputError: naming the file and the field.
    """
    for name, (types, ok, should) in _FIELDS.items():
        if name not in info:
            continue
        value = info[name]
        bad = not isinstance(value, types) or (isinstance(value, bool) and bool not in types)
        if not bad and ok is not None and not isinstance(value, (type(None), bool)):
            bad = not ok(value)
        if bad:
            shown = (
                repr(value)[:60]
                if isinstance(value, (str, float)) or (isinstance(value, int) and value.bit_length() <= 64)
                else type(value).__name__
            )
            raise InvalidInputError(
                f"{path}: field {name!r} is {shown}, not {should}; the run record was altered: "
                "restore it, move it away to start over, or pass --out to use another folder"
            )
    return info


def load_run_record(out: str | Path) -> dict | None:
    """``out/run.json`` as a dict (``None`` when there is none), read safely and type-checked.

    Raises:
        InvalidInputError: not a regular file, too large, not JSON, not an object, or a field of
            the wrong type; the message names the file (and field) and what to do.
    """
    path = Path(out) / "run.json"
    data = read_regular(path, RUN_RECORD_MAX_BYTES, "a run record")
    if data is None:
        return None
    what = (
        f"{path} is not a readable run record ({{}}); move it away to start over in {out}, "
        "or pass --out to use another folder"
    )
    try:
        info = json.loads(data)
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, an integer of over 4300 digits
        raise InvalidInputError(what.format(type(exc).__name__ if isinstance(exc, RecursionError) else exc)) from None
    if not isinstance(info, dict):
        raise InvalidInputError(what.format(f"a JSON {type(info).__name__}, not an object"))
    return check_run_fields(info, path)


def read_run_config(out: str | Path) -> bytes | None:
    """The bytes of ``out/config.yaml`` (``None`` when there is none), read safely.

    Raises:
        InvalidInputError: as :func:`read_regular`.
    """
    return read_regular(Path(out) / "config.yaml", RUN_CONFIG_MAX_BYTES, "a run's configuration")


__all__ = [
    "RUN_CONFIG_MAX_BYTES",
    "RUN_RECORD_MAX_BYTES",
    "check_run_fields",
    "load_run_record",
    "read_regular",
    "read_run_config",
]
