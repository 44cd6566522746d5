"""skipclip: Skip-Clip self-supervised video representation learning (ranking future frames
against a context clip)."""

from skipclip._version import __version__


def load_encoder(path):
    """A ready encoder (``nn.Module`` in eval mode) from a file written by ``skipclip export``;
    see :func:`skipclip.weights.export.load_encoder`."""
    from skipclip.weights.export import load_encoder as _load

    return _load(path)


__all__ = ["__version__", "load_encoder"]
