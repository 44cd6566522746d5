"""Encoders (3D context ``g``, 2D frame ``f``) and heads of Skip-Clip; no losses, no optimisers."""

from skipclip.models.context_encoder import ARCHS, ContextEncoder
from skipclip.models.frame_encoder import FrameEncoder
from skipclip.models.heads import ClassifierHead, RotationHead
from skipclip.models.inflate import INFLATION_TAPS, InflationReport, inflate_2d_into_3d, place_on_single_taps
from skipclip.models.memory_format import to_channels_last_

__all__ = [
    "ARCHS",
    "ClassifierHead",
    "ContextEncoder",
    "FrameEncoder",
    "InflationReport",
    "RotationHead",
    "inflate_2d_into_3d",
    "place_on_single_taps",
    "INFLATION_TAPS",
    "to_channels_last_",
]
