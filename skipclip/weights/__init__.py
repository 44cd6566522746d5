"""Weights: the one door for weight files (:func:`resolve_weights`, :func:`read_checkpoint`,
:func:`load_encoder`), where g starts (:func:`initial_encoder`), the Skip-Clip model of a
checkpoint (:func:`load_skipclip`), and ``skipclip export`` (:mod:`.export`)."""

from skipclip.weights.initialise import initial_encoder, load_skipclip
from skipclip.weights.load import EncoderSource, load_encoder, preprocess_of
from skipclip.weights.read import UnsafeCheckpointError, read_checkpoint, resolve_weights

__all__ = [
    "EncoderSource",
    "UnsafeCheckpointError",
    "initial_encoder",
    "load_encoder",
    "load_skipclip",
    "preprocess_of",
    "read_checkpoint",
    "resolve_weights",
]
