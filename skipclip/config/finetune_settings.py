"""The ``finetune`` section resolved: its ``None`` sizes follow pretraining's."""

from __future__ import annotations

import dataclasses

from skipclip.config.sections import Config, FinetuneConfig


def finetune_settings(cfg: Config) -> FinetuneConfig:
    """The ``finetune`` section with its ``None`` sizes resolved from pretraining's."""
    ft = dataclasses.replace(cfg.finetune)
    if ft.clip_frames is None:
        ft.clip_frames = cfg.pretext.context_frames
    if ft.crop_size is None:
        ft.crop_size = cfg.data.crop_size
    if ft.short_side is None:
        ft.short_side = cfg.data.short_side
    if ft.window_stride is None:
        ft.window_stride = ft.clip_frames
    if ft.val_fraction is None:
        ft.val_fraction = cfg.data.val_fraction
    return ft


__all__ = ["finetune_settings"]
