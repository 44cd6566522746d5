"""Heads on top of the encoders: rotation prediction (pretext) and action classification."""

from __future__ import annotations

from torch import Tensor, nn

from skipclip.errors import InvalidInputError


def _check_positive(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidInputError(f"{name} must be a positive int, got {value!r}")


class RotationHead(nn.Module):
    """Rotation prediction on frame encodings (Sec. 3.1 and 4.1, following Gidaris et al.).

    Global average pool of the frame-encoder map, then a linear layer over the rotation angles
    ``[0, 90, 180, 270]`` degrees.

    Args:
        in_channels: channels of the frame encoding (``FrameEncoder.out_channels``).
        num_classes: number of rotation angles.

    Raises:
        ValueError: a non-positive size.
    """

    def __init__(self, in_channels: int, num_classes: int = 4):
        super().__init__()
        _check_positive("in_channels", in_channels)
        _check_positive("num_classes", num_classes)
        self.in_channels = in_channels
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, z: Tensor) -> Tensor:
        """Rotation logits ``(N, num_classes)`` of frame encodings ``z`` ``(N, C, H, W)``.

        Raises:
            ValueError: ``z`` is not ``(N, in_channels, H, W)``.
        """
        if z.dim() != 4 or z.shape[1] != self.in_channels:
            raise InvalidInputError(f"rotation head expects (N, {self.in_channels}, H, W), got {tuple(z.shape)}")
        return self.fc(z.mean(dim=(2, 3)))  # N x num_classes


class ClassifierHead(nn.Module):
    """Action classification head for fine-tuning ``g`` (Sec. 4.2).

    Global average pool over ``(T, H, W)`` or ``(H, W)``, dropout, then a linear layer (logits;
    the softmax is in the loss).

    Args:
        in_channels: channels of the encoding (``ContextEncoder.out_channels``).
        num_classes: number of action classes.
        dropout: dropout probability before the linear layer.

    Raises:
        ValueError: a non-positive size or ``dropout`` outside ``[0, 1)``.
    """

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.0):
        super().__init__()
        _check_positive("in_channels", in_channels)
        _check_positive("num_classes", num_classes)
        if not 0.0 <= dropout < 1.0:
            raise InvalidInputError(f"dropout must be in [0, 1), got {dropout!r}")
        self.in_channels = in_channels
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Class logits ``(B, num_classes)`` of ``(B, C, T, H, W)`` or ``(B, C, H, W)`` features.

        Raises:
            ValueError: ``x`` is neither, or its channels are not ``in_channels``.
        """
        if x.dim() not in (4, 5) or x.shape[1] != self.in_channels:
            raise InvalidInputError(f"classifier head expects (B, {self.in_channels}, [T,] H, W), got {tuple(x.shape)}")
        x = x.flatten(2).mean(dim=2)  # B x C
        return self.fc(self.dropout(x))  # B x num_classes


__all__ = ["ClassifierHead", "RotationHead"]
