"""Turn a ``--data`` argument into video sources for pretraining: the built-in synthetic set, a
prepared store, or a folder of videos."""

from __future__ import annotations

from .source import InMemorySource, VideoSource
from .synthetic import SyntheticSource


def synthetic_sources(cfg, seed: int | None = None) -> dict[str, SyntheticSource]:
    """Disjoint synthetic sets: ``train`` (pretraining), ``val`` (pretext health), ``labelled``
    (few-shot downstream training) and ``test``. Sizes follow ``cfg.data``."""
    d = cfg.data
    seed = cfg.trainer.seed if seed is None else seed
    n = d.synthetic_videos_per_class
    n_val = max(2, n // 8)
    n_lab = max(4, n // 4)
    n_test = max(4, n // 2)
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


def pretrain_sources(data: str, cfg) -> tuple[VideoSource, VideoSource | None]:
    """Training and held-out sources for pretraining from ``--data``.

    Raises:
        ValueError / FileNotFoundError: the data argument names nothing usable.
    """
    if data == "synthetic":
        s = synthetic_sources(cfg)
        return maybe_in_memory(s["train"]), maybe_in_memory(s["val"])
    try:
        from .registry import open_source  # real data sets (prepared store or video folder)
    except ImportError as exc:  # pragma: no cover - present in a full install
        raise ValueError(f"cannot read {data!r}: real-data support is missing ({exc})") from exc
    train = open_source(data, split="train", val_fraction=cfg.data.val_fraction, seed=cfg.trainer.seed)
    try:
        val = open_source(data, split="val", val_fraction=cfg.data.val_fraction, seed=cfg.trainer.seed)
    except ValueError:
        val = None
    if val is not None and len(val) == 0:
        val = None
    return train, val

