"""The context encoder g of Skip-Clip: a 3D ResNet-18 up to its last convolutional layer.

Section 4.1 of the Skip-Clip paper: ``g(c)`` is the 3D ResNet-18 of Hara et al. (CVPR 2018) and
its encoding ``h`` is a ``C x H x W`` map (512 x 7 x 7 for a 16 x 224 x 224 context clip).

The trunks are assembled from torchvision parts (:class:`~torchvision.models.video.resnet.VideoResNet`,
its ``BasicBlock``, conv makers and ``_make_layer``); only the stems and the stage widths are ours.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import Tensor, nn
from torchvision.models.video.resnet import (
    BasicBlock,
    Conv2Plus1D,
    Conv3DSimple,
    VideoResNet,
)

from skipclip.errors import InvalidInputError

ARCHS = ("r3d18_hara", "r3d_18", "r2plus1d_18")


def _check_width(width: int) -> None:
    if not isinstance(width, int) or isinstance(width, bool) or width < 1:
        raise InvalidInputError(f"width must be a positive int (64 is the paper's ResNet-18), got {width!r}")


def init_resnet_weights(module: nn.Module) -> None:
    """Initialise convolutions and batch norms the way torchvision's ResNets do.

    Kaiming-normal (fan-out) conv weights, zero conv biases, unit BN weights, zero BN biases.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d)):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)


def hara_stem(width: int = 64) -> nn.Sequential:
    """Stem of the 3D ResNet-18 of Hara et al.: the 2D ResNet stem with a 7x7x7 kernel.

    Conv 7x7x7 stride (1, 2, 2) + BN + ReLU + max-pool 3x3x3 stride 2, so a
    ``3 x 16 x 224 x 224`` clip becomes ``width x 8 x 56 x 56``.
    """
    return nn.Sequential(
        nn.Conv3d(3, width, kernel_size=7, stride=(1, 2, 2), padding=3, bias=False),
        nn.BatchNorm3d(width),
        nn.ReLU(inplace=True),
        nn.MaxPool3d(kernel_size=3, stride=2, padding=1),
    )


def basic_stem(width: int = 64) -> nn.Sequential:
    """torchvision's ``BasicStem`` (conv 3x7x7 stride (1, 2, 2) + BN + ReLU) with ``width`` channels.

    At width 64 its parameters have the names and shapes of ``BasicStem``.
    """
    return nn.Sequential(
        nn.Conv3d(3, width, kernel_size=(3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
        nn.BatchNorm3d(width),
        nn.ReLU(inplace=True),
    )


def r2plus1d_stem(width: int = 64) -> nn.Sequential:
    """torchvision's ``R2Plus1dStem`` (1x7x7 spatial, then 3x1x1 temporal conv) scaled to ``width``.

    torchvision uses 45 mid channels for 64 output channels; the mid width is scaled by the same
    ratio, ``round(45 * width / 64)``, so width 64 reproduces ``R2Plus1dStem`` exactly.
    """
    mid = max(1, round(45 * width / 64))
    return nn.Sequential(
        nn.Conv3d(3, mid, kernel_size=(1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
        nn.BatchNorm3d(mid),
        nn.ReLU(inplace=True),
        nn.Conv3d(mid, width, kernel_size=(3, 1, 1), stride=(1, 1, 1), padding=(1, 0, 0), bias=False),
        nn.BatchNorm3d(width),
        nn.ReLU(inplace=True),
    )


SHORTCUTS = ("A", "B")


class ZeroPadShortcut(nn.Module):
    """The "type A" residual shortcut of He et al. (2016), as in Hara et al.'s 3D ResNet-18:
    subsample with the block's stride and pad the new channels with zeros; no parameters.

    (Hara et al.'s code detaches the subsampled input, ``out.data``; here gradients flow through
    the shortcut, as in the ResNet paper.)

    Args:
        planes: output channels (>= the input's).
        stride: ``(t, h, w)`` subsampling.
    """

    def __init__(self, planes: int, stride: Sequence[int]):
        super().__init__()
        self.planes = planes
        self.stride = tuple(stride)

    def forward(self, x: Tensor) -> Tensor:
        st, sh, sw = self.stride
        x = x[:, :, ::st, ::sh, ::sw]  # B x C x T/st x H/sh x W/sw
        return nn.functional.pad(x, (0, 0, 0, 0, 0, 0, 0, self.planes - x.shape[1]))  # B x planes x ...


class VideoResNetTrunk(VideoResNet):
    """A :class:`VideoResNet` without ``avgpool``/``fc`` and with stage widths ``width * (1, 2, 4, 8)``.

    ``VideoResNet.__init__`` hard-codes 64 input planes and stages of 64..512 channels, so this
    class sets the same attributes itself and builds the stages with the inherited ``_make_layer``.
    At width 64 the parameter names and shapes are those of torchvision's model minus ``fc``.

    Args:
        block: residual block, e.g. torchvision's video ``BasicBlock``.
        conv_makers: one conv builder per stage (``Conv3DSimple``, ``Conv2Plus1D``, ...).
        layers: number of blocks per stage.
        stem: called with ``width``; returns a module mapping ``(B, 3, T, H, W)`` to ``width`` channels.
        width: channels of the first stage.
        shortcut: where a block changes shape, ``"B"`` (torchvision's 1x1x1 conv + BN) or ``"A"``
            (:class:`ZeroPadShortcut`, Hara et al.'s ResNet-18; no parameters).

    Raises:
        ValueError: ``width`` is not a positive int, the stage lists do not have 4 entries, or
            ``shortcut`` is not ``"A"``/``"B"``.
    """

    def __init__(
        self,
        block: type[BasicBlock],
        conv_makers: Sequence[type[nn.Module]],
        layers: Sequence[int],
        stem: Callable[[int], nn.Module],
        width: int = 64,
        shortcut: str = "B",
    ):
        _check_width(width)
        if shortcut not in SHORTCUTS:
            raise InvalidInputError(
                f"shortcut must be 'A' (zero-padding identity) or 'B' (1x1x1 conv + BN), got {shortcut!r}"
            )
        if len(conv_makers) != 4 or len(layers) != 4:
            raise InvalidInputError(f"need 4 stages, got {len(conv_makers)} conv makers and {len(layers)} layer counts")
        nn.Module.__init__(self)  # not VideoResNet.__init__: it builds fixed 64..512 stages and fc
        self.width = width
        self.shortcut = shortcut
        self.inplanes = width
        self.stem = stem(width)
        self.layer1 = self._make_layer(block, conv_makers[0], width, layers[0], stride=1)
        self.layer2 = self._make_layer(block, conv_makers[1], 2 * width, layers[1], stride=2)
        self.layer3 = self._make_layer(block, conv_makers[2], 4 * width, layers[2], stride=2)
        self.layer4 = self._make_layer(block, conv_makers[3], 8 * width, layers[3], stride=2)
        self.out_channels = 8 * width * block.expansion
        init_resnet_weights(self)

    def _make_layer(self, block, conv_builder, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        """torchvision's stage builder, with a :class:`ZeroPadShortcut` where type A is asked for."""
        if self.shortcut == "B":
            return super()._make_layer(block, conv_builder, planes, blocks, stride)
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = ZeroPadShortcut(planes * block.expansion, conv_builder.get_downsample_stride(stride))
        layers = [block(self.inplanes, planes, conv_builder, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, conv_builder) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)  # B x w x T1 x H1 x W1
        x = self.layer1(x)  # B x w x T1 x H1 x W1
        x = self.layer2(x)  # B x 2w x T1/2 x H1/2 x W1/2
        x = self.layer3(x)  # B x 4w x T1/4 x H1/4 x W1/4
        return self.layer4(x)  # B x 8w x T1/8 x H1/8 x W1/8


def r3d18_hara(width: int = 64, shortcut: str = "B") -> VideoResNetTrunk:
    """3D ResNet-18 of Hara et al. (CVPR 2018), the paper's ``g``; ``3x16x224x224 -> 8w x 1 x 7 x 7``."""
    return VideoResNetTrunk(BasicBlock, [Conv3DSimple] * 4, [2, 2, 2, 2], hara_stem, width, shortcut)


def r3d_18(width: int = 64, shortcut: str = "B") -> VideoResNetTrunk:
    """torchvision's R3D-18 trunk (no max-pool in the stem); ``3x16x112x112 -> 8w x 2 x 7 x 7``."""
    return VideoResNetTrunk(BasicBlock, [Conv3DSimple] * 4, [2, 2, 2, 2], basic_stem, width, shortcut)


def r2plus1d_18(width: int = 64, shortcut: str = "B") -> VideoResNetTrunk:
    """torchvision's R(2+1)D-18 trunk; ``3x16x112x112 -> 8w x 2 x 7 x 7``.

    Mid channels of the factorised convs follow torchvision's formula in ``BasicBlock``.
    """
    return VideoResNetTrunk(BasicBlock, [Conv2Plus1D] * 4, [2, 2, 2, 2], r2plus1d_stem, width, shortcut)


_TRUNKS: dict[str, Callable[..., VideoResNetTrunk]] = {
    "r3d18_hara": r3d18_hara,
    "r3d_18": r3d_18,
    "r2plus1d_18": r2plus1d_18,
}


def build_trunk(arch: str, width: int = 64, shortcut: str = "B") -> VideoResNetTrunk:
    """The 3D trunk named ``arch`` at ``width`` with ``shortcut`` type ``"A"`` or ``"B"``.

    Raises:
        ValueError: unknown ``arch`` (the message lists the known names), bad ``width`` or ``shortcut``.
    """
    if arch not in _TRUNKS:
        raise InvalidInputError(f"unknown context encoder arch {arch!r}; choose one of {', '.join(map(repr, ARCHS))}")
    return _TRUNKS[arch](width, shortcut)


def unstride_last_stage(trunk: nn.Module) -> None:
    """Take the spatial stride out of the last stage (``layer4``) of a 3D trunk, its temporal stride
    kept: the map gets twice the cells on each side (total spatial stride 16 instead of 32) and
    the weights keep their shapes."""
    block: Any = trunk.get_submodule("layer4.0")
    parts = [block.conv1[0]] + ([block.downsample] if block.downsample is not None else [])
    for part in parts:
        for m in part.modules():
            if isinstance(m, (nn.Conv3d, ZeroPadShortcut)):
                m.stride = (m.stride[0], 1, 1)


class ContextEncoder(nn.Module):
    """Context encoder ``g``: context clip ``c`` to the spatial encoding ``h`` (Sec. 4.1).

    Any time axis left after the trunk is averaged away, so ``h`` is ``C x H' x W'`` like the
    frame encodings ``z``.

    Args:
        arch: ``"r3d18_hara"`` (the paper's), ``"r3d_18"`` or ``"r2plus1d_18"``.
        width: channels of the first stage; the encoding has ``8 * width`` channels (64 -> 512).
        shortcut: ``"A"`` zero-padding identity shortcuts (Hara et al.'s ResNet-18, the paper
            preset) or ``"B"`` 1x1x1 conv + BN (torchvision's; what inflated 2D weights fill).
        last_stride: spatial stride of the last stage: 2 (the paper's ResNet-18, total stride 32)
            or 1 (total stride 16: a finer cell grid at a small crop, the same weights).

    Raises:
        ValueError: unknown ``arch``, bad ``width``, ``shortcut`` or ``last_stride``.
    """

    # set by skipclip.weights.load_encoder: the Preprocess its weights expect, and where they came from
    transforms: object = None
    source: object = None

    def __init__(self, arch: str = "r3d18_hara", width: int = 64, shortcut: str = "B", last_stride: int = 2):
        super().__init__()
        if last_stride not in (1, 2):
            raise InvalidInputError(f"last_stride must be 1 or 2, got {last_stride!r}")
        self.arch = arch
        self.width = width
        self.shortcut = shortcut
        self.last_stride = last_stride
        self.trunk = build_trunk(arch, width, shortcut)
        if last_stride == 1:
            unstride_last_stage(self.trunk)
        # the statistics its inputs are standardised with (models.normalize.input_stats_of):
        # "imagenet" once filled with inflated ImageNet weights (weights.initialise), which expect them
        self.input_stats = "kinetics"
        self.out_channels = self.trunk.out_channels

    def forward(self, x: Tensor) -> Tensor:
        """Encode a context clip.

        Args:
            x: ``(B, 3, T, H, W)`` float clip.

        Returns:
            ``h``, ``(B, C, H', W')`` with ``C = out_channels``.

        Raises:
            ValueError: ``x`` is not a ``(B, 3, T, H, W)`` tensor.
        """
        if x.dim() != 5 or x.shape[1] != 3:
            raise InvalidInputError(
                f"context clip must be (B, 3, T, H, W), got shape {tuple(x.shape)}; "
                "convert (B, T, 3, H, W) with x.permute(0, 2, 1, 3, 4)"
            )
        return self.trunk(x).mean(dim=2)  # B x C x H' x W'

    def pooled(self, x: Tensor) -> Tensor:
        """Globally average-pooled features ``(B, C)`` of a ``(B, 3, T, H, W)`` clip, for probes."""
        return self.forward(x).mean(dim=(2, 3))  # B x C


__all__ = [
    "unstride_last_stage",
    "ARCHS",
    "ContextEncoder",
    "SHORTCUTS",
    "VideoResNetTrunk",
    "ZeroPadShortcut",
    "basic_stem",
    "build_trunk",
    "hara_stem",
    "init_resnet_weights",
    "r2plus1d_18",
    "r2plus1d_stem",
    "r3d18_hara",
    "r3d_18",
]
