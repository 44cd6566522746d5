"""The Python API: what the commands do, as functions (docs/api.md).

From a video to features::

    import skipclip
    encoder = skipclip.load_encoder("runs/kth")               # a run folder, .ckpt, export folder or .safetensors
    vector = skipclip.features(encoder, "person01_boxing_d2_uncomp.avi")  # torch (C,): as `skipclip features`

Training, as the commands do it, each returning a typed result::

    run = skipclip.pretrain("cpu-real", "videos/", "runs/kth", sets={"optim.max_steps": 20})
    tuned = skipclip.finetune("cpu-real", "videos/", "runs/kth-finetune", ckpt=run.checkpoint)
    report = skipclip.evaluate(run.checkpoint, "videos/")

This module sits on top of the package (it may import any of it); ``import skipclip`` loads it
only when one of its names is first used.
"""

from skipclip.api.clips import features, load_encoder, preprocess_for, read_clip
from skipclip.api.runs import (
    ConfigLike,
    EvaluateResult,
    FinetuneRun,
    PretrainResult,
    evaluate,
    extract,
    finetune,
    pretrain,
)
from skipclip.eval.finetune_result import FinetuneResult
from skipclip.models.preprocess import Preprocess
from skipclip.recipes.features import FeatureSet
from skipclip.weights import EncoderSource

__all__ = [
    "ConfigLike",
    "EncoderSource",
    "EvaluateResult",
    "FeatureSet",
    "FinetuneResult",
    "FinetuneRun",
    "PretrainResult",
    "Preprocess",
    "evaluate",
    "extract",
    "features",
    "finetune",
    "load_encoder",
    "preprocess_for",
    "pretrain",
    "read_clip",
]
