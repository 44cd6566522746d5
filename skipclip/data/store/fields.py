"""The fields of a store's ``manifest.json``, checked when the store is opened.

A manifest travels with a store, so it is data from whoever made the store: every field a reader
uses is checked for its type and range before anything is built from it (a label out of range
would stop fine-tuning mid-run; a frame count of 10^8 would build a window list of 10^8 entries),
and a bad field is an :class:`~skipclip.errors.InvalidInputError` naming the file and the field.
Frame counts are further compared with each shard's own header when a video is first used
(:meth:`skipclip.data.store.prepared.PreparedStore.num_frames`).
"""

from __future__ import annotations

from pathlib import Path

from skipclip.data.catalog.index import MAX_CLASSES
from skipclip.data.store.shard import CODECS, MAX_FRAMES, MAX_SIDE
from skipclip.errors import InvalidInputError

ROLES = ("train", "val", "test", "unused")
MAX_FOLD = 1000  # fold numbers: the official splits have 1-3


def _fail(path: Path, field: str, value, want: str) -> InvalidInputError:
    shown = (
        repr(value)
        if isinstance(value, (int, float, bool, type(None))) or (isinstance(value, str) and len(value) < 60)
        else f"a {type(value).__name__}"
    )
    return InvalidInputError(
        f"{path}: {field} is {shown}, expected {want}; the manifest was altered or damaged: "
        "delete it and run `skipclip prepare` again (finished shards are kept)"
    )


def _int(value, path, field, low, high) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _fail(path, field, value, f"an integer in [{low}, {high}]")
    return value


def _str(value, path, field) -> str:
    if not isinstance(value, str):
        raise _fail(path, field, value, "a string")
    return value


def _strings(value, path, field) -> list:
    if not isinstance(value, list):
        raise _fail(path, field, value, "a list of strings")
    for i, item in enumerate(value):
        _str(item, path, f"{field}[{i}]")
    return value


def _number(value, path, field) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < float("inf"):
        raise _fail(path, field, value, "a number >= 0")


def check_video(v, n: int, path: Path, classes: int) -> None:
    """One entry of ``videos`` (``n``: its position, for the message).

    Raises:
        InvalidInputError: naming ``videos[n].<field>``.
    """
    where = f"videos[{n}]"
    if not isinstance(v, dict):
        raise _fail(path, where, v, "a mapping of the video's fields")
    for key in ("name", "file", "group"):
        _str(v.get(key), path, f"{where}.{key}")
    _int(v.get("label"), path, f"{where}.label", -1, classes - 1)
    _int(v.get("frames"), path, f"{where}.frames", 0, MAX_FRAMES)
    folds = v.get("folds", {})
    if not isinstance(folds, dict):
        raise _fail(path, f"{where}.folds", folds, "a mapping of fold number to role")
    for k, role in folds.items():
        if not (isinstance(k, str) and k.isascii() and k.isdigit() and len(k) < 5 and 0 <= int(k) <= MAX_FOLD):
            raise _fail(path, f"{where}.folds key", k, f"a fold number in [0, {MAX_FOLD}]")
        if role not in ROLES:
            raise _fail(path, f"{where}.folds[{k!r}]", role, f"one of {', '.join(ROLES)}")
    for key in ("height", "width"):
        if key in v:
            _int(v[key], path, f"{where}.{key}", 1, MAX_SIDE)
    for key in ("fps", "duration", "bytes"):
        if key in v:
            _number(v[key], path, f"{where}.{key}")


def check_manifest(manifest, path: Path) -> dict:
    """``manifest`` (read from ``path``) with every field a reader uses checked; returns it.

    Raises:
        InvalidInputError: naming the file and the first bad field (``videos[3].label``...).
    """
    if not isinstance(manifest, dict):
        raise _fail(path, "the manifest", manifest, "a mapping")
    classes = manifest.get("classes", [])
    if isinstance(classes, list) and len(classes) > MAX_CLASSES:  # before a check per name
        raise _fail(path, "classes", f"a list of {len(classes)} names", f"at most {MAX_CLASSES} class names")
    _strings(classes, path, "classes")
    short = manifest.get("short_side")
    if short is not None:
        _int(short, path, "short_side", 1, MAX_SIDE)
    if manifest.get("codec", "jpeg") not in CODECS:
        raise _fail(path, "codec", manifest.get("codec"), f"one of {', '.join(CODECS)}")
    for key in ("layout", "source"):
        if key in manifest:
            _str(manifest[key], path, key)
    videos = manifest.get("videos")
    if not isinstance(videos, list):
        raise _fail(path, "videos", videos, "a list of videos")
    for n, v in enumerate(videos):
        check_video(v, n, path, len(classes))
    failed = manifest.get("failed", [])
    if not isinstance(failed, list):
        raise _fail(path, "failed", failed, "a list")
    for n, f in enumerate(failed):
        if not isinstance(f, dict):
            raise _fail(path, f"failed[{n}]", f, "a mapping with name and reason")
        _str(f.get("name"), path, f"failed[{n}].name")
        _str(f.get("reason"), path, f"failed[{n}].reason")
    missing = manifest.get("missing", {})
    if not isinstance(missing, dict):
        raise _fail(path, "missing", missing, "a mapping of list file to videos")
    for k, names in missing.items():
        _strings(names, path, f"missing[{k!r}]")
    _strings(manifest.get("unlisted", []), path, "unlisted")
    return manifest


__all__ = ["check_manifest", "check_video"]
