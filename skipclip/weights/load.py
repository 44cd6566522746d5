"""The one door for a ready encoder: :func:`load_encoder` reads any file skipclip accepts (a run
folder, a ``.ckpt`` of pretraining or fine-tuning, an export folder, an exported ``.safetensors``)
into g in eval mode, with the preprocessing it expects and where it came from. Where g *starts*
for training (``random``, a checkpoint, ``--inflate``) is :func:`~skipclip.weights.initialise.initial_encoder`,
which this door uses; both read files through :func:`~skipclip.weights.read.read_checkpoint`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from skipclip.config import Config, apply_overrides, config_from_dict, finetune_settings, validate
from skipclip.errors import InvalidInputError
from skipclip.models.preprocess import Preprocess
from skipclip.weights.exported import load_exported
from skipclip.weights.initialise import initial_encoder
from skipclip.weights.read import checkpoint_config, checkpoint_kind, describe, read_checkpoint, resolve_weights


@dataclass
class EncoderSource:
    """Where a loaded encoder came from.

    Attributes:
        file: the weight file read.
        kind: ``skipclip`` (pretraining), ``classifier`` (fine-tuned) or ``export``.
        arch, width: the architecture and its width.
        config: the run configuration recorded with the weights.
    """

    file: Path
    kind: str
    arch: str
    width: int
    config: Config


def preprocess_of(cfg: Config, stats: str = "kinetics") -> Preprocess:
    """The preprocessing of the evaluation protocols under ``cfg`` (its ``finetune`` section, sizes
    from pretraining where it leaves them unset)."""
    ft = finetune_settings(cfg)
    return Preprocess(frames=ft.clip_frames, crop_size=ft.crop_size, short_side=ft.short_side, stats=stats)


def load_encoder(path: str | Path) -> torch.nn.Module:
    """The context encoder g of a ``.ckpt`` (pretraining or fine-tuned), an exported
    ``.safetensors``, an export folder or a run folder (see :func:`~skipclip.weights.read.resolve_weights`),
    in eval mode, with ``.transforms`` (its :class:`~skipclip.models.preprocess.Preprocess`) and
    ``.source`` (an :class:`EncoderSource`). An exported frame encoder f loads as a
    :class:`~skipclip.models.FrameEncoder` without them.

    Raises:
        InputNotFoundError: nothing at ``path``.
        InvalidInputError: a file of another kind, or weights that do not fit.
    """
    file = resolve_weights(path)
    obj = read_checkpoint(file)
    kind = checkpoint_kind(obj)
    if file.suffix == ".safetensors" and kind != "skipclip":
        return load_exported(file)  # a frame encoder f, or a plain state dict's message
    if kind not in ("skipclip", "classifier"):
        raise InvalidInputError(
            f"{file} holds no Skip-Clip context encoder ({describe(obj)}); give RUN/checkpoints/"
            "last.ckpt of `skipclip pretrain`, best.ckpt of `skipclip finetune`, or an export"
        )
    raw = checkpoint_config(obj)
    cfg = validate(config_from_dict(raw, f"{file} config"), f"{file} (its recorded config)") if raw else Config()
    g, info = initial_encoder(cfg, str(file), seed=0)
    validate(
        apply_overrides(
            cfg, {"model.context_arch": info["arch"], "model.width": info["width"], "model.shortcut": info["shortcut"]}
        )
    )
    g.eval()
    g.transforms = preprocess_of(cfg, g.input_stats)
    g.source = EncoderSource(
        file, "export" if file.suffix == ".safetensors" else kind, info["arch"], info["width"], cfg
    )
    return g


__all__ = ["EncoderSource", "load_encoder", "preprocess_of"]
