"""The export card's recipe: Python that rebuilds an exported encoder with torch, torchvision and
safetensors only (no skipclip), for any width, architecture and shortcut type.

Run the card's lines with ``path`` set to the weight file; they leave ``model``, a torchvision
``VideoResNet`` (g) or ``ResNet`` (f) with ``fc = nn.Identity()`` whose output on a clip (frames)
is the ``(B, 8 * width)`` global average of the encoder's last feature map. The tests run every
recipe the presets can produce and compare its output with skipclip's encoder.
"""

from __future__ import annotations

_STEMS = {  # skipclip.models.context_encoder's stems, written out
    "r3d18_hara": [
        "nn.Conv3d(3, W, 7, stride=(1, 2, 2), padding=3, bias=False), nn.BatchNorm3d(W),",
        "nn.ReLU(inplace=True), nn.MaxPool3d(3, stride=2, padding=1)",
    ],
    "r3d_18": [
        "nn.Conv3d(3, W, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False), nn.BatchNorm3d(W),",
        "nn.ReLU(inplace=True)",
    ],
    "r2plus1d_18": [
        "nn.Conv3d(3, MID, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),",
        "nn.BatchNorm3d(MID), nn.ReLU(inplace=True),",
        "nn.Conv3d(MID, W, (3, 1, 1), stride=(1, 1, 1), padding=(1, 0, 0), bias=False), nn.BatchNorm3d(W),",
        "nn.ReLU(inplace=True)",
    ],
}
_CONVS = {"r3d18_hara": "Conv3DSimple", "r3d_18": "Conv3DSimple", "r2plus1d_18": "Conv2Plus1D"}

_ZERO_PAD = [
    "class ZeroPad(nn.Module):  # type-A shortcut: subsample, pad the new channels with zeros",
    "    def __init__(self, planes, s=2):",
    "        super().__init__()",
    "        self.planes, self.s = planes, s",
    "    def forward(self, x):",
    "        x = x[:, :, ::2, :: self.s, :: self.s]",
    "        return nn.functional.pad(x, (0, 0, 0, 0, 0, 0, 0, self.planes - x.shape[1]))",
]


_UNSTRIDE = [
    "for m in model.layer4[0].modules():  # last stride 1: no spatial stride in the last stage",
    "    if isinstance(m, nn.Conv3d):",
    "        m.stride = (m.stride[0], 1, 1)",
]


def context_recipe(arch: str, width: int, shortcut: str, last_stride: int = 2) -> list[str]:
    """Lines that rebuild g (``arch``, ``width``, shortcut ``"A"``/``"B"``, spatial stride of the
    last stage ``last_stride``: 2 as in the paper, 1 for a finer cell grid) as ``model``."""
    conv = _CONVS[arch]
    lines = [
        "import safetensors.torch, torch",
        "from torch import nn",
        f"from torchvision.models.video.resnet import BasicBlock, {conv}, VideoResNet",
        f"W, MID = {width}, {max(1, round(45 * width / 64))}" if arch == "r2plus1d_18" else f"W = {width}",
        "stem = lambda: nn.Sequential(  # noqa: E731",
        *["    " + line for line in _STEMS[arch]],
        ")",
        f"model = VideoResNet(BasicBlock, [{conv}] * 4, [2, 2, 2, 2], stem=stem)  # stages rebuilt at width W:",
        "model.inplanes = W",
        f"model.layer1 = model._make_layer(BasicBlock, {conv}, W, 2, stride=1)",
        f"model.layer2 = model._make_layer(BasicBlock, {conv}, 2 * W, 2, stride=2)",
        f"model.layer3 = model._make_layer(BasicBlock, {conv}, 4 * W, 2, stride=2)",
        f"model.layer4 = model._make_layer(BasicBlock, {conv}, 8 * W, 2, stride=2)",
    ]
    if shortcut == "A":
        lines += [
            *_ZERO_PAD,
            "for n, stage in enumerate((model.layer2, model.layer3, model.layer4)):",
            f"    stage[0].downsample = ZeroPad(2 ** (n + 1) * W, {last_stride} if n == 2 else 2)"
            if last_stride != 2
            else "    stage[0].downsample = ZeroPad(2 ** (n + 1) * W)",
        ]
    if last_stride != 2:
        lines += _UNSTRIDE
    return lines + [
        "model.fc = nn.Identity()",
        "model.load_state_dict(safetensors.torch.load_file(path), strict=True)",
        "model.eval()  # model(x): (B, 3, T, H, W) clip -> (B, 8 * W) features",
    ]


def frame_recipe(width: int, in_channels: int, last_stride: int = 2) -> list[str]:
    """Lines that rebuild f (``width``, ``in_channels``, the last stage's stride ``last_stride``) as
    ``model``."""
    return [
        "import safetensors.torch, torch",
        "from torch import nn",
        "from torchvision.models.resnet import BasicBlock, ResNet",
        f"W, C = {width}, {in_channels}",
        "model = ResNet(BasicBlock, [2, 2, 2, 2])  # stem and stages rebuilt at width W, C input channels:",
        "model.conv1 = nn.Conv2d(C, W, 7, stride=2, padding=3, bias=False)",
        "model.bn1 = nn.BatchNorm2d(W)",
        "model.inplanes = W",
        "model.layer1 = model._make_layer(BasicBlock, W, 2)",
        "model.layer2 = model._make_layer(BasicBlock, 2 * W, 2, stride=2)",
        "model.layer3 = model._make_layer(BasicBlock, 4 * W, 2, stride=2)",
        f"model.layer4 = model._make_layer(BasicBlock, 8 * W, 2, stride={last_stride})",
        "model.fc = nn.Identity()",
        "model.load_state_dict(safetensors.torch.load_file(path), strict=True)",
        "model.eval()  # model(x): (N, C, H, W) frames -> (N, 8 * W) features",
    ]


__all__ = ["context_recipe", "frame_recipe"]
