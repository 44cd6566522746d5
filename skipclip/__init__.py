"""skipclip: Skip-Clip self-supervised video representation learning (ranking future frames
against a context clip).

The Python API (docs/api.md) lives in :mod:`skipclip.api` and is loaded on first use, so
``import skipclip`` stays light::

    encoder = skipclip.load_encoder("runs/kth")           # .ckpt, .safetensors, export or run folder
    vector = skipclip.features(encoder, skipclip.read_clip("video.avi", frames=None))
"""

from skipclip._version import __version__

_API = (
    "load_encoder",
    "preprocess_for",
    "read_clip",
    "features",
    "extract",
    "pretrain",
    "finetune",
    "evaluate",
    "PretrainResult",
    "FinetuneRun",
    "FinetuneResult",
    "EvaluateResult",
    "FeatureSet",
    "Preprocess",
    "EncoderSource",
)


def __getattr__(name: str):
    if name in _API:
        from skipclip import api

        return getattr(api, name)
    raise AttributeError(f"module 'skipclip' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_API])


__all__ = ["__version__", *_API]
