"""The thin factory from a configuration to the method: encoders and heads built from
:class:`~skipclip.config.Config` and handed to :class:`~skipclip.method.model.SkipClipModel`."""

from __future__ import annotations

from skipclip.config import Config
from skipclip.method.model import SkipClipModel
from skipclip.models import ContextEncoder, FrameEncoder, RotationHead, inflate_2d_into_3d


def build_skipclip(cfg: Config) -> SkipClipModel:
    """Encoders and heads from a :class:`~skipclip.config.Config`, handed to :class:`SkipClipModel`.

    With ``model.init_context_from_frame`` g starts from f's initial weights, inflated into 3D
    (:func:`~skipclip.models.inflate_2d_into_3d`); otherwise both start from their own random
    initialisation (the paper).
    """
    p, m = cfg.pretext, cfg.model
    g = ContextEncoder(m.context_arch, m.width, m.shortcut, last_stride=m.last_stride)
    f = FrameEncoder(m.width, in_channels=3 * p.target_length, last_stride=m.last_stride)
    if m.init_context_from_frame:
        inflate_2d_into_3d(f.state_dict(), g)
    head = RotationHead(f.out_channels) if p.rotation else None
    return SkipClipModel(
        g,
        f,
        head,
        rank_margin=p.rank_margin,
        neg_margin=p.neg_margin,
        negatives=p.negatives,
        channels_last=cfg.trainer.channels_last,
        contrastive=p.contrastive,
        temperature=p.temperature,
    )


__all__ = ["build_skipclip"]
