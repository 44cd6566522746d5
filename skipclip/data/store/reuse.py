"""What a store already in ``--out`` lets a prepare run keep: whether it may be continued at all
(not a training run, the same settings, the same video folder unless ``force``), and whether a
shard there was made from the video now listed (its size and modification time).
"""

from __future__ import annotations

from pathlib import Path

from skipclip.data.store.prepared import MANIFEST, load_manifest
from skipclip.errors import InvalidInputError, OutputExistsError


def fingerprint(src: Path) -> dict:
    """What tells a video file from another of the same name: its size and modification time."""
    try:
        st = src.stat()
    except OSError:
        return {}
    return {"source_size": st.st_size, "source_mtime_ns": st.st_mtime_ns}


def same_video(prior: dict | None, now: dict, shard: Path) -> bool:
    """Whether ``shard``, recorded as ``prior``, was made from the video whose fingerprint is ``now``.

    With a record: its size and modification time must match. Without one (killed before the first
    manifest save), a shard newer than the video is taken as made from it."""
    if prior is not None:
        return (prior.get("source_size"), prior.get("source_mtime_ns")) == (
            now.get("source_size"),
            now.get("source_mtime_ns"),
        )
    return "source_mtime_ns" not in now or shard.stat().st_mtime_ns >= now["source_mtime_ns"]


def earlier_store(out: Path, settings: dict, root: Path, force: bool) -> dict | None:
    """The manifest of the store already in ``out`` (``None``: none), once it is known that this
    run may continue it.

    Raises:
        OutputExistsError: ``out`` holds a training run, or a store prepared from another video
            folder (unless ``force``: then every video whose size or time differs is decoded again).
        ValueError: the store was prepared with other settings.
    """
    if (out / "run.json").is_file() or (out / "checkpoints").is_dir():
        raise OutputExistsError(
            f"{out} holds a training run (run.json / checkpoints/); a store would be written "
            "into it: choose another --out"
        )
    if not (out / MANIFEST).exists():
        return None
    old = load_manifest(out)
    for key, value in settings.items():
        if old.get(key) != value:
            raise InvalidInputError(
                f"{out} was prepared with {key}={old.get(key)}, not {value}; use another --out "
                f"or the same --{key.replace('_', '-')}"
            )
    source, now = old.get("source"), str(Path(root).resolve())
    if source is not None and source != now and not force:
        raise OutputExistsError(
            f"{out} was prepared from {source}, not {now}; its frames are of those videos, even where the names "
            "match. Choose another --out, or pass --force to make it a store of the new folder (every video "
            "whose size or modification time differs is decoded again)"
        )
    return old
