"""The one place a data argument is read: ``open_data(data, cfg) -> Splits``.

A data argument is ``"synthetic"`` (the built-in generated set), a prepared store (a folder with
``manifest.json``) or a raw video folder in any layout of :mod:`skipclip.data.catalog.layouts`. Every
command turns its ``--data`` into :class:`Splits` here and nowhere else.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from skipclip.config import Config, check_synthetic_window
from skipclip.data.catalog.carve import CoverageWarning
from skipclip.data.catalog.index import select
from skipclip.data.catalog.layouts import load_index
from skipclip.data.sources.base import InMemorySource, VideoSource
from skipclip.data.sources.files import VideoFileSource
from skipclip.data.sources.synthetic import SyntheticSource
from skipclip.data.store.prepared import MANIFEST, PreparedStore
from skipclip.data.video.pyav import decode
from skipclip.errors import InputNotFoundError, InvalidInputError

SYNTHETIC = "synthetic"
SPLIT_NAMES = ("train", "val", "test", "trainval", "all")


@dataclass
class Splits:
    """The sources a run needs, each ``None`` when the data set has no such part.

    Attributes:
        train: pretraining videos (a real data set: the training list minus validation).
        val: held out from ``train`` by group: pretext health and fine-tuning model selection.
        labelled: labelled training videos for downstream training (synthetic: a few-label set
            disjoint from ``train``; a real data set: ``train`` itself).
        test: the test list, used only for the final report.
        short_side: the short side frames are resized to before cropping (``None``: as stored;
            the synthetic set renders at its own size).
    """

    train: VideoSource
    val: VideoSource | None
    labelled: VideoSource | None
    test: VideoSource | None
    short_side: int | None


def is_synthetic(data) -> bool:
    return str(data) == SYNTHETIC


def synthetic_sources(cfg, seed: int | None = None) -> dict[str, SyntheticSource]:
    """Disjoint synthetic sets: ``train`` (pretraining), ``val`` (pretext health), ``labelled``
    (few-shot downstream training) and ``test``. Sizes follow ``cfg.data``."""
    check_synthetic_window(cfg)
    d = cfg.data
    seed = cfg.trainer.seed if seed is None else seed
    n = d.synthetic_videos_per_class
    n_val, n_lab, n_test = max(2, n // 8), max(4, n // 4), max(4, n // 2)
    kw = dict(num_classes=d.synthetic_classes, frames=d.synthetic_frames, size=d.synthetic_size, seed=seed)
    c = d.synthetic_classes
    return {
        "train": SyntheticSource(videos_per_class=n, offset=0, **kw),
        "val": SyntheticSource(videos_per_class=n_val, offset=c * n, **kw),
        "labelled": SyntheticSource(videos_per_class=n_lab, offset=c * (n + n_val), **kw),
        "test": SyntheticSource(videos_per_class=n_test, offset=c * (n + n_val + n_lab), **kw),
    }


def maybe_in_memory(source: SyntheticSource, limit_bytes: int = 1 << 30):
    """Render a small synthetic set once into memory (so the loader costs nothing); render large
    ones on the fly."""
    nbytes = len(source) * source.frames * source.size * source.size * 3
    return InMemorySource(source) if nbytes <= limit_bytes else source


def open_split(
    data: str | Path,
    split: str = "train",
    *,
    cfg=None,
    fold: int = 1,
    val_fraction: float | None = None,
    seed: int | None = None,
    layout: str | None = None,
    splits: str | Path | None = None,
    short_side: int | None = None,
) -> VideoSource:
    """The videos of one split of a data set.

    Args:
        data: ``"synthetic"``, a prepared store, or a raw video folder (see :mod:`.layouts`).
        split: ``train``, ``val`` (carved from the training list by group, every class in it),
            ``test``, ``trainval`` or ``all``; the synthetic set also has ``labelled``.
        cfg: the run's :class:`~skipclip.config.Config` (synthetic sizes, ``data.val_fraction``,
            ``data.val_fallback``, ``data.layout``, ``data.test_fraction``, ``data.group_pattern``,
            ``data.label_pattern``, the seed); the defaults when ``None``.
        fold: official split number (1-3) for UCF101 and HMDB51.
        val_fraction, seed: override ``cfg.data.val_fraction`` and ``cfg.trainer.seed``.
        layout: force a layout of a raw folder (default ``cfg.data.layout``).
        splits: the split folder of a raw data set when it is not next to the videos.
        short_side: a raw folder's videos are decoded straight to this short side (FFmpeg's
            scaler), never held at their source size; ``None`` keeps the source size.

    Raises:
        FileNotFoundError: ``data`` does not exist.
        ValueError: unknown split, or bad split files (:class:`~skipclip.data.catalog.index.SplitError`).
    """
    if cfg is None:
        cfg = Config()
    seed = cfg.trainer.seed if seed is None else seed
    val_fraction = cfg.data.val_fraction if val_fraction is None else val_fraction
    fallback = cfg.data.val_fallback
    if is_synthetic(data):
        sets = synthetic_sources(cfg, seed=seed)
        key = {"trainval": "train", "all": "train"}.get(split, split)
        if key not in sets:
            raise InvalidInputError(
                f"unknown split {split!r} of the synthetic set; choose one of {', '.join(sets)}, all"
            )
        return sets[key]

    path = Path(data)
    if not path.exists():
        raise InputNotFoundError(f"--data {data}: no such folder; give a prepared store, a video folder or 'synthetic'")
    if (path / MANIFEST).is_file():
        return PreparedStore(path, split=split, fold=fold, val_fraction=val_fraction, seed=seed, fallback=fallback)

    index = load_index(
        path,
        splits,
        layout or cfg.data.layout,
        test_fraction=cfg.data.test_fraction,
        group_pattern=cfg.data.group_pattern,
        fallback=fallback,
        label_pattern=cfg.data.label_pattern,
    )
    present = index.present()  # listed-but-missing videos are reported by prepare/doctor; carry on without
    chosen = select(present, split, fold, val_fraction, seed, fallback, index.classes)
    return VideoFileSource(index.root, [present[i] for i in chosen], index.classes, short_side=short_side)


def open_data(
    data: str | Path,
    cfg,
    *,
    seed: int | None = None,
    need_test: bool = False,
    val_fraction: float | None = None,
    short_side: int | None = None,
) -> Splits:
    """Every source a run needs from one data argument.

    Args:
        data: ``"synthetic"``, a prepared store or a video folder.
        cfg: the run's configuration (``data.val_fraction``, ``data.short_side``, the seed).
        seed: seed of the validation draw (default ``cfg.trainer.seed``).
        need_test: read the test split (downstream work); pretraining leaves it ``None``.
        val_fraction: share of the training list held out as ``val`` (default
            ``cfg.data.val_fraction``); 0 trains on the whole list and ``val`` is ``None``.
        short_side: the short side the run resizes frames to (default ``cfg.data.short_side``);
            a prepared store stored smaller than this is refused (see :func:`check_store_size`).

    Raises:
        FileNotFoundError, ValueError: ``data`` names nothing usable, or a prepared store is
            smaller than the run needs.
    """
    if is_synthetic(data):
        s = synthetic_sources(cfg, seed)
        return Splits(
            train=maybe_in_memory(s["train"]),
            val=maybe_in_memory(s["val"]),
            labelled=maybe_in_memory(s["labelled"]),
            test=maybe_in_memory(s["test"]),
            short_side=None,
        )
    needed = cfg.data.short_side if short_side is None else short_side
    kw = dict(cfg=cfg, seed=seed, val_fraction=val_fraction, short_side=needed)
    train = open_split(data, "train", **kw)
    check_store_size(data, getattr(train, "short_side", None), needed)
    val = open_split(data, "val", **kw)
    if len(val) == 0:
        val = None
    test = open_split(data, "test", **kw) if need_test else None
    return Splits(train=train, val=val, labelled=train, test=test, short_side=needed)


def test_split_size(data: str | Path, cfg) -> int:
    """Videos in ``data``'s test split, which pretraining never reads (kept unseen for evaluation);
    the split's carving warnings are left to the commands that use it."""
    if is_synthetic(data):
        return len(synthetic_sources(cfg)["test"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CoverageWarning)
        return len(open_split(data, "test", cfg=cfg))


def check_store_size(data, stored: int | None, needed: int) -> None:
    """Refuse a prepared store whose frames are smaller than the run resizes them to: they would
    be upsampled silently (a 128 px store fed to the paper's 256 px resize and 224 crop).

    Raises:
        ValueError: ``stored < needed``, naming both sizes and the ``prepare`` command to run.
    """
    if stored is not None and stored < needed:
        raise InvalidInputError(
            f"--data {data} was prepared with a {stored} px short side, but this run resizes frames to "
            f"{needed} px (data.short_side, or finetune.short_side for fine-tuning), so every frame would "
            f"be upsampled. Prepare the videos again at the size the run needs: skipclip prepare --videos "
            f"VIDEOS --out NEW_STORE --short-side {needed}; or lower the run's short side to {stored} "
            f"(and the crop to at most {stored})"
        )


def per_class(*sources, names=("train", "val", "test")) -> dict[str, dict[str, int]]:
    """Videos per class of each source (``None`` sources give empty counts):
    ``{"train": {"typing": 25, ...}, "val": {...}, "test": {...}}``."""
    out = {}
    for name, src in zip(names, sources):
        counts = dict.fromkeys(getattr(src, "classes", []) if src is not None else [], 0)
        for i in range(len(src) if src is not None else 0):
            label = src.label(i)
            if 0 <= label < len(src.classes):
                counts[src.classes[label]] += 1
        out[name] = counts
    return out


def per_class_table(counts: dict[str, dict[str, int]], max_rows: int = 30) -> str:
    """The counts of :func:`per_class` as text, one class a line (``train/val/test``)."""
    classes = list(counts.get("train", {}))
    lines = [f"videos per class ({'/'.join(counts)}):"]
    for c in classes[:max_rows]:
        lines.append(f"  {c:<28} " + "/".join(str(counts[s].get(c, 0)) for s in counts))
    if len(classes) > max_rows:
        lines.append(f"  ... {len(classes) - max_rows} more classes")
    absent = [c for c in classes if counts.get("val") and not counts["val"].get(c)]
    if absent and "val" in counts:
        lines.append(f"  warning: {len(absent)} classes have no validation video: {', '.join(absent[:10])}")
    return "\n".join(lines)


def open_video(video: str, cfg):
    """All frames ``(T, H, W, 3)`` uint8 of one video and its name: a file (resized to
    ``cfg.data.short_side``), or ``synthetic:N`` (test video N of the built-in set at ``cfg``'s size).

    Raises:
        ValueError: a bad ``synthetic:N``; FileNotFoundError / VideoReadError: an unreadable file.
    """
    if video.startswith(SYNTHETIC + ":"):
        try:
            index = int(video.split(":", 1)[1])
        except ValueError:
            raise InvalidInputError(
                f"--video {video}: write synthetic:N with N a video number, e.g. synthetic:0"
            ) from None
        src = synthetic_sources(cfg)["test"]
        if not 0 <= index < len(src):
            raise InvalidInputError(f"--video {video}: the synthetic test set has videos 0..{len(src) - 1}")
        return src.read(index, range(src.num_frames(index))), src.name(index)
    path = Path(video)
    if not path.is_file():
        raise InputNotFoundError(f"--video {video}: no such file (or write synthetic:N for a built-in video)")

    frames, _ = decode(path, short_side=cfg.data.short_side)
    return frames, path.name
