"""skipclip: Skip-Clip self-supervised video representation learning (ranking future frames
against a context clip)."""

__version__ = "0.1.0"
