"""The ``finetune`` section resolved: its ``None`` sizes follow pretraining's."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from skipclip.config.sections import Config, FinetuneConfig


@dataclass
class FinetuneSettings(FinetuneConfig):
    """The ``finetune`` section with every size resolved: no ``None`` left."""

    clip_frames: int = 0
    crop_size: int = 0
    short_side: int = 0
    window_stride: int = 0
    val_fraction: float = 0.0


def finetune_settings(cfg: Config) -> FinetuneSettings:
    """The ``finetune`` section with its ``None`` sizes resolved from pretraining's: clip frames K,
    the crop and short side of ``data``, non-overlapping test windows, ``data.val_fraction``."""
    ft = cfg.finetune
    clip_frames = ft.clip_frames if ft.clip_frames is not None else cfg.pretext.context_frames
    resolved = {
        "clip_frames": clip_frames,
        "crop_size": ft.crop_size if ft.crop_size is not None else cfg.data.crop_size,
        "short_side": ft.short_side if ft.short_side is not None else cfg.data.short_side,
        "window_stride": ft.window_stride if ft.window_stride is not None else clip_frames,
        "val_fraction": ft.val_fraction if ft.val_fraction is not None else cfg.data.val_fraction,
    }
    return FinetuneSettings(**{**{f.name: getattr(ft, f.name) for f in dataclasses.fields(ft)}, **resolved})


__all__ = ["FinetuneSettings", "finetune_settings"]
