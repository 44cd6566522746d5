"""The Skip-Clip method: the model that receives its encoders, the score and the losses, the
rotation task, and a thin LightningModule around the model."""

from skipclip.method.build import build_skipclip
from skipclip.method.model import SkipClipModel
from skipclip.method.rotation import rotate_batch

__all__ = ["SkipClipModel", "build_skipclip", "rotate_batch"]
