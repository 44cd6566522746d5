"""Something-Something v2 as it ships: ``labels.json`` (``{"Putting something on something": "0",
...}``), ``train.json`` and ``validation.json`` (``[{"id": "78687", "template": "Putting [something]
on [something]", ...}]``), ``test.json`` (ids only) and the videos ``<id>.webm``. The JSON files may
sit in the root or ``labels/``, the videos in the root, ``videos/`` or
``20bn-something-something-v2/``. ``validation.json`` is the test split (as SSv2 is evaluated);
validation is carved from ``train.json``; ``test.json`` is read as unused (no labels)."""

from __future__ import annotations

import json
from pathlib import Path

from skipclip.data.catalog.index import SplitError, VideoEntry, read_text
from skipclip.data.catalog.layouts.base import Layout, ParsedLayout, ReadOptions

EXPECTED = {"classes": 174, 1: (168913, 24777)}
FILES = {"train": "train.json", "test": "validation.json", "unused": "test.json"}
VIDEO_DIRS = ("20bn-something-something-v2", "videos", "")


def find(root: Path) -> Path | None:
    """The folder holding ``labels.json`` (root or ``labels/``); ``None`` when there is none."""
    for where in (root, root / "labels"):
        for prefix in ("", "something-something-v2-"):
            if (where / f"{prefix}labels.json").is_file() and (where / f"{prefix}train.json").is_file():
                return where / f"{prefix}labels.json"
    return None


def _load(path: Path):
    try:
        return json.loads(read_text(path, "Something-Something JSON file"))
    except (ValueError, RecursionError) as exc:
        raise SplitError(f"{path} is not valid JSON ({str(exc)[:200]}); re-extract the labels archive") from None


def parse(root: str | Path, labels: Path | None = None) -> tuple[list[str], list[VideoEntry], dict[str, str]]:
    """Entries of ``train.json``, ``validation.json`` and ``test.json``.

    Raises:
        SplitError: naming the file and entry: an empty or malformed file, a template that
            ``labels.json`` does not have, an id that is not a plain name, an id listed twice.
    """
    root = Path(root)
    labels = find(root) if labels is None else labels
    if labels is None:
        raise SplitError(f"{root} holds no Something-Something v2 labels.json next to train.json")
    prefix = labels.name[: -len("labels.json")]
    table = _load(labels)
    if not isinstance(table, dict) or not table:
        raise SplitError(f"{labels} should map each template to its label index, got {type(table).__name__}")
    try:
        order = sorted(table, key=lambda k: int(table[k]))
    except (TypeError, ValueError, OverflowError):
        raise SplitError(f"{labels}: label indices must be integers") from None
    label_of = {name: i for i, name in enumerate(order)}
    video_dir = next((d for d in VIDEO_DIRS if (root / d).is_dir() and any((root / d).glob("*.webm"))), "")
    entries, listed_in, seen = [], {}, {}
    for role, name in FILES.items():
        f = labels.parent / f"{prefix}{name}"
        if not f.is_file():
            if role == "train":
                raise SplitError(f"{f} is missing; re-extract the labels archive")
            continue
        items = _load(f)
        if not isinstance(items, list) or not items:
            raise SplitError(f"{f} lists no videos: the {role} split is empty; re-extract the labels archive")
        for n, item in enumerate(items):
            where = f"{f} entry {n}"
            vid = str(item.get("id", "")) if isinstance(item, dict) else ""
            if not vid or "/" in vid or "\\" in vid or vid.startswith("."):
                raise SplitError(f"{where}: id {vid!r} is not a plain video name (it would point outside the root)")
            if vid in seen:
                raise SplitError(f"{where}: video {vid} is listed twice (first at {seen[vid]}); keep one entry")
            seen[vid] = where
            label = -1
            if role != "unused":
                template = str(item.get("template", "")).replace("[", "").replace("]", "")
                if template not in label_of:
                    raise SplitError(
                        f"{where}: unknown label {template!r}, not in {labels.name}; the files come "
                        "from different releases"
                    )
                label = label_of[template]
            path = f"{video_dir}/{vid}.webm" if video_dir else f"{vid}.webm"
            entries.append(VideoEntry(path, label, vid, {1: role}))
            listed_in[path] = f.name
    return order, entries, listed_in


def _read(root: Path, options: ReadOptions) -> ParsedLayout:
    classes, entries, listed_in = parse(root)
    return ParsedLayout(classes, entries, listed_in=listed_in)


LAYOUT = Layout("ssv2", _read, find)
