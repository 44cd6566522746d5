"""One entry point from a ``--data`` argument to a :class:`~skipclip.data.source.VideoSource`."""

from __future__ import annotations

from pathlib import Path

from .source import VideoSource
from .splits import load_index, select
from .store import MANIFEST, PreparedStore


def open_source(
    data: str | Path,
    split: str = "train",
    fold: int = 1,
    val_fraction: float = 0.1,
    seed: int = 0,
    layout: str | None = None,
    splits: str | Path | None = None,
    cfg=None,
) -> VideoSource:
    """The videos of one split of a data set.

    Args:
        data: ``"synthetic"`` (the built-in generated set), a prepared store (a folder with
            ``manifest.json``), or a raw video folder: UCF101 or HMDB51 as they ship (found by
            their split folders) or any folder of videos (class subfolders, or flat and unlabelled).
        split: ``train``, ``val`` (carved from the training list by group), ``test``,
            ``trainval`` or ``all``.
        fold: official split number (1-3) for UCF101 and HMDB51.
        val_fraction: share of the training list held out as ``val``.
        seed: seed of the validation draw.
        layout: force ``ucf101``, ``hmdb51`` or ``folder`` for a raw folder.
        splits: the split folder of a raw data set when it is not next to the videos.
        cfg: the run's :class:`~skipclip.config.Config`, sizing the synthetic set (default: the
            defaults); ``trainval`` and ``all`` of the synthetic set are its training part.

    Raises:
        FileNotFoundError: ``data`` does not exist.
        ValueError: unknown split, or bad split files (:class:`~skipclip.data.splits.SplitError`).
    """
    if str(data) == "synthetic":
        from ..config import Config
        from .build import synthetic_sources

        sets = synthetic_sources(cfg or Config(), seed=seed)
        key = {"trainval": "train", "all": "train"}.get(split, split)
        if key not in sets:
            raise ValueError(f"unknown split {split!r} of the synthetic set; choose one of {', '.join(sets)}, all")
        return sets[key]
    path = Path(data)
    if not path.exists():
        raise FileNotFoundError(f"--data {data}: no such folder; give a prepared store, a video folder or 'synthetic'")
    if (path / MANIFEST).is_file():
        return PreparedStore(path, split=split, fold=fold, val_fraction=val_fraction, seed=seed)
    from .files import VideoFileSource

    index = load_index(path, splits, layout)
    chosen = select(index.entries, split, fold, val_fraction, seed)
    return VideoFileSource(index.root, [index.entries[i] for i in chosen], index.classes)
