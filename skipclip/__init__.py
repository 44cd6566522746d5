"""skipclip: Skip-Clip self-supervised video representation learning (ranking future frames
against a context clip)."""

__version__ = "0.1.0"


def load_encoder(path):
    """A ready encoder (``nn.Module`` in eval mode) from a file written by ``skipclip export``;
    see :func:`skipclip.engine.export.load_encoder`."""
    from skipclip.engine.export import load_encoder as _load

    return _load(path)


__all__ = ["__version__", "load_encoder"]
