"""A ``--label-pattern`` guessed from file names that carry the class (``person01_boxing_d2.avi``).

A flat folder has no class subfolders, so ``doctor`` reads it as unlabelled; when its file names
split into the same fields (``_`` or ``-`` between them) and one purely alphabetic field takes a
few repeating values while the ones before it are fixed words or word+number ids, that field is
very likely the class. The suggestion is a regular expression whose group is that field,
checked to match every name before it is offered.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

_FIELD = re.compile(r"[_-]")


def _shape(token: str) -> str:
    """A token as a pattern: its letters kept, each run of digits as ``\\d+``."""
    return "".join(r"\d+" if part.isdigit() else re.escape(part) for part in re.split(r"(\d+)", token) if part)


def suggest_label_pattern(names: list[str], min_videos: int = 4) -> str | None:
    """A ``--label-pattern`` whose group picks a class out of each of ``names`` (file paths), or
    ``None`` when the names share no such field. The first field, left to right, that is purely
    alphabetic, takes 2 or more values and repeats (fewer values than files) is the class; the
    fields before it must have one shape in every name (``person01``, ``person03``: ``person\\d+``)."""
    stems = [PurePosixPath(n).stem for n in names]
    if len(stems) < min_videos:
        return None
    fields = [_FIELD.split(s) for s in stems]
    seps = [_FIELD.findall(s) for s in stems]
    width = min(len(f) for f in fields)
    for k in range(width - 1):  # a field followed by another, so the class ends at a separator
        values = {f[k] for f in fields}
        if not all(v.isalpha() for v in values) or not 2 <= len(values) < len(stems):
            continue
        prefix = [{_shape(f[j]) for f in fields} for j in range(k)]
        sep = {s[k] for s in seps}
        if any(len(p) != 1 for p in prefix) or len(sep) != 1 or any(len({s[j] for s in seps}) != 1 for j in range(k)):
            continue
        letters = "[a-z]+" if all(v.islower() for v in values) else "[A-Za-z]+"
        head = "".join(next(iter(prefix[j])) + seps[0][j] for j in range(k))
        pattern = f"{head}({letters}){re.escape(next(iter(sep)))}"
        rx = re.compile(pattern)
        if all((m := rx.match(s)) and m.group(1) == f[k] for s, f in zip(stems, fields)):
            return pattern
    return None


__all__ = ["suggest_label_pattern"]
