"""Encoders (3D context ``g``, 2D frame ``f``) and heads of Skip-Clip; no losses, no optimisers."""

from skipclip.models.context_encoder import ARCHS, ContextEncoder
from skipclip.models.frame_encoder import FrameEncoder
from skipclip.models.heads import ClassifierHead, RotationHead
from skipclip.models.inflate import InflationReport, inflate_2d_into_3d
from skipclip.models.memory_format import to_channels_last_

__all__ = [
    "ARCHS",
    "ClassifierHead",
    "ContextEncoder",
    "FrameEncoder",
    "InflationReport",
    "RotationHead",
    "inflate_2d_into_3d",
    "to_channels_last_",
]
