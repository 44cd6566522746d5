"""Encoders (3D context ``g``, 2D frame ``f``) and heads of Skip-Clip; no losses, no optimisers."""

from .context_encoder import ARCHS, ContextEncoder
from .frame_encoder import FrameEncoder
from .heads import ClassifierHead, RotationHead
from .inflate import InflationReport, inflate_2d_into_3d
from .memory_format import to_channels_last_

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
