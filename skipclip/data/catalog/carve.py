"""Held-out parts carved by group, with groups drawn per class so every class is held out.

The validation split is carved from a fold's training videos, and a folder without split files
gets its test split carved the same way. Whole groups (UCF101's ``gNN``: same actors, same
background; HMDB51's source film; a ``--group-pattern`` match; else the video itself) are drawn
in a seeded order, class by class, until each class has at least ``fraction`` of its videos held
out, so a group never straddles the two parts and every class is in both.

Where the groups make that impossible (a class with one group, or whose groups would take the
last training video of a class), the classes are named in a :class:`CoverageWarning` and the
``fallback`` decides: ``videos`` holds out single videos of those classes (their groups then
straddle the parts), ``skip`` leaves them out of the held-out part, ``error`` stops.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from skipclip.errors import InvalidInputError

FALLBACKS = ("videos", "skip", "error")


class CoverageWarning(UserWarning):
    """Some classes cannot be held out by whole groups."""


@dataclass
class Carve:
    """The result of :func:`carve`: index lists, and the classes the groups could not cover."""

    keep: list[int]
    held: list[int]
    uncovered: list[int] = field(default_factory=list)  # labels held out by no whole group
    fallback: str = "videos"


def _name(label: int, classes) -> str:
    if label < 0:
        return "(unlabelled)"
    return str(classes[label]) if classes is not None and label < len(classes) else str(label)


def _fallback_story(alone: list[int], kept: list[int], classes, part: str) -> str:
    """What ``fallback="videos"`` did: single videos held out, or, for a class with one training
    video left, nothing (it stays in training and has no video in ``part``)."""
    said = []
    if alone:
        said.append(
            f"held out single videos of {', '.join(_name(c, classes) for c in alone)} instead (their "
            "groups straddle the parts; --val-fallback skip leaves them out instead)"
        )
    if kept:
        names = ", ".join(_name(c, classes) for c in kept)
        said.append(
            f"{names} {'has' if len(kept) == 1 else 'have'} one training video left, which stays in "
            f"training: no {part} video of {'it' if len(kept) == 1 else 'them'}"
        )
    return "; ".join(said)


def carve(
    entries, indices, fraction: float, seed: int = 0, fallback: str = "videos", classes=None, part: str = "validation"
) -> Carve:
    """Hold out at least ``fraction`` of each class's videos among ``indices``, by whole groups.

    Args:
        entries: every :class:`~skipclip.data.catalog.index.VideoEntry` (``label``, ``group``).
        indices: the entries to split (a fold's training list).
        fraction: share of each class held out, in [0, 1).
        seed: seed of the group draw (the same seed gives the same split).
        fallback: ``videos``, ``skip`` or ``error`` for classes the groups cannot cover.
        classes: class names, for the warning.
        part: what is carved (``validation``, ``test``), for the messages.

    Raises:
        ValueError: ``fraction`` outside [0, 1), an unknown ``fallback``, or ``fallback="error"``
            with a class the groups cannot cover (naming the classes and the choices).
    """
    if not 0 <= fraction < 1:
        raise InvalidInputError(f"the {part} fraction must be in [0, 1), got {fraction!r}")
    if fallback not in FALLBACKS:
        raise InvalidInputError(f"unknown fallback {fallback!r}; choose one of {', '.join(FALLBACKS)}")
    indices = list(indices)
    if fraction == 0 or not indices:
        return Carve(indices, [], [], fallback)
    rng = np.random.default_rng(seed)
    by_class: dict[int, list[int]] = {}
    members: dict[str, list[int]] = {}
    for i in indices:
        by_class.setdefault(entries[i].label, []).append(i)
        members.setdefault(entries[i].group, []).append(i)
    train_left = {c: len(v) for c, v in by_class.items()}
    held_groups: set[str] = set()
    held_count = {c: 0 for c in by_class}
    uncovered = []
    labels = sorted(by_class)
    for c in (labels[j] for j in rng.permutation(len(labels))):
        need = max(1, math.ceil(fraction * len(by_class[c]) - 1e-9))
        groups = sorted({entries[i].group for i in by_class[c]} - held_groups)
        for g in (groups[j] for j in rng.permutation(len(groups))):
            if held_count[c] >= need:
                break
            took: dict[int, int] = {}
            for i in members[g]:
                took[entries[i].label] = took.get(entries[i].label, 0) + 1
            if any(train_left[k] - n < 1 for k, n in took.items()):
                continue  # this group would take the last training video of a class
            held_groups.add(g)
            for k, n in took.items():
                train_left[k] -= n
                held_count[k] += n
        if held_count[c] == 0:
            uncovered.append(c)
    held = {i for i in indices if entries[i].group in held_groups}
    if uncovered:
        names = ", ".join(_name(c, classes) for c in sorted(uncovered))
        why = (
            f"{len(uncovered)} {'class' if len(uncovered) == 1 else 'classes'} cannot be in the {part} split by "
            f"whole groups (one group, or their groups hold another class's last training videos): {names}"
        )
        if fallback == "error":
            raise InvalidInputError(
                f"{why}; record more groups for them, set another --group-pattern, or choose "
                "--val-fallback videos (hold out single videos) or skip (leave them out)"
            )
        if fallback == "videos":
            alone, kept = [], []
            for c in uncovered:
                pool = [i for i in by_class[c] if i not in held]
                take = min(len(pool) - 1, max(1, math.ceil(fraction * len(by_class[c]) - 1e-9)))
                held.update(pool[j] for j in sorted(rng.permutation(len(pool))[: max(take, 0)]))
                (alone if take > 0 else kept).append(c)
            warnings.warn(
                f"{why}; " + _fallback_story(sorted(alone), sorted(kept), classes, part), CoverageWarning, stacklevel=2
            )
        else:
            warnings.warn(
                f"{why}; they are left out of the {part} split (--val-fallback videos holds out "
                "single videos of them instead)",
                CoverageWarning,
                stacklevel=2,
            )
    keep = [i for i in indices if i not in held]
    return Carve(keep, [i for i in indices if i in held], sorted(uncovered), fallback)
