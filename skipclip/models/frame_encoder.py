"""The frame encoder f of Skip-Clip: a 2D ResNet-18 up to its last convolutional layer.

Section 4.1 of the Skip-Clip paper: each target clip ``x_i`` (here ``d`` frames stacked on the
channel axis, ``3 * d`` channels) is encoded as ``z_i = f(x_i)``, a ``C x H x W`` map
(512 x 7 x 7 for a 224 x 224 frame).
"""

from __future__ import annotations

from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock, ResNet

from skipclip.errors import InvalidInputError
from skipclip.models.context_encoder import _check_width, init_resnet_weights


class FrameEncoder(ResNet):
    """torchvision's 2D ResNet-18 without ``avgpool``/``fc``, at a chosen width.

    ``ResNet.__init__`` hard-codes 64 input planes, 3 input channels and stages of 64..512
    channels, so this class sets the attributes ``ResNet._make_layer`` reads and builds the
    stages with it. At width 64 and 3 input channels the parameter names and shapes are those of
    ``torchvision.models.resnet18`` minus ``fc``, so its state dicts load directly.

    Args:
        width: channels of the first stage; the encoding has ``8 * width`` channels (64 -> 512).
        in_channels: input channels, ``3 * d`` for target clips of ``d`` frames.

    Raises:
        ValueError: ``width`` or ``in_channels`` is not a positive int.
    """

    def __init__(self, width: int = 64, in_channels: int = 3, last_stride: int = 2):
        _check_width(width)
        if last_stride not in (1, 2):
            raise InvalidInputError(f"last_stride must be 1 or 2, got {last_stride!r}")
        if not isinstance(in_channels, int) or isinstance(in_channels, bool) or in_channels < 1:
            raise InvalidInputError(f"in_channels must be a positive int (3 * d for d frames), got {in_channels!r}")
        nn.Module.__init__(self)  # not ResNet.__init__: it builds fixed 64..512 stages and fc
        self.width = width
        self.in_channels = in_channels
        self.last_stride = last_stride  # 1: no spatial stride in layer4 (total stride 16), the same weights
        # Attributes ResNet._make_layer reads (same values as ResNet.__init__ sets for resnet18).
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = width
        self.dilation = 1
        self.groups = 1
        self.base_width = 64  # BasicBlock requires 64; it is not the stage width
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(BasicBlock, width, 2)
        self.layer2 = self._make_layer(BasicBlock, 2 * width, 2, stride=2)
        self.layer3 = self._make_layer(BasicBlock, 4 * width, 2, stride=2)
        self.layer4 = self._make_layer(BasicBlock, 8 * width, 2, stride=last_stride)
        self.out_channels = 8 * width
        self.input_stats = "kinetics"  # the statistics its inputs are standardised with (input_stats_of)
        init_resnet_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        """Encode frames.

        Args:
            x: ``(N, in_channels, H, W)`` float frames.

        Returns:
            ``z``, ``(N, 8 * width, H / 32, W / 32)``.

        Raises:
            ValueError: ``x`` is not ``(N, in_channels, H, W)``.
        """
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise InvalidInputError(
                f"frames must be (N, {self.in_channels}, H, W), got shape {tuple(x.shape)}; "
                "flatten (B, M, d, 3, H, W) targets to (B * M, 3 * d, H, W) first"
            )
        x = self.relu(self.bn1(self.conv1(x)))  # N x w x H/2 x W/2
        x = self.maxpool(x)  # N x w x H/4 x W/4
        x = self.layer1(x)  # N x w x H/4 x W/4
        x = self.layer2(x)  # N x 2w x H/8 x W/8
        x = self.layer3(x)  # N x 4w x H/16 x W/16
        return self.layer4(x)  # N x 8w x H/32 x W/32


__all__ = ["FrameEncoder"]
