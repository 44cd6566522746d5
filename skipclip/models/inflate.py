"""Inflation of a 2D ResNet-18 into a 3D context encoder ("ImageNet inflation", Table 1).

Following Carreira and Zisserman (I3D), each 2D kernel ``(O, I, kh, kw)`` is repeated ``kt``
times along a new time axis and divided by ``kt``, so that on a clip of identical frames each
3D convolution computes what the 2D one computes on one frame. Batch-norm parameters and
statistics are copied; the classifier ``fc`` is ignored.

What this preserves exactly (checked in ``tests/models/test_inflate.py``): for ``r3d18_hara``,
whose stem is the 2D ResNet stem with a 7x7x7 kernel, the trunk in eval mode fed ``T`` copies of a
frame gives, at every time step whose temporal receptive field lies inside the clip, the 2D
network's ``layer4`` map of that frame. Max-pooling pads with ``-inf`` and so never breaks this;
the convolutions pad time with zeros, so time steps near the clip borders see fewer than ``kt``
frames and differ. The full-clip mean that :class:`ContextEncoder` returns therefore matches the
2D features only approximately. ``r3d_18`` inflates too, but its stem has no max-pool, so its
maps are at twice the 2D network's resolution and no such equality exists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor

from skipclip.config.sections import INFLATION_TAPS
from skipclip.errors import InvalidInputError
from skipclip.models.context_encoder import ContextEncoder

INFLATABLE_ARCHS = ("r3d18_hara", "r3d_18")

# torchvision 2D ResNet name -> VideoResNet trunk name, applied to the part before the last dot.
_RENAMES = (
    (re.compile(r"^conv1$"), "stem.0"),
    (re.compile(r"^bn1$"), "stem.1"),
    (re.compile(r"^(layer\d+\.\d+)\.conv([12])$"), r"\1.conv\2.0"),
    (re.compile(r"^(layer\d+\.\d+)\.bn([12])$"), r"\1.conv\2.1"),
    (re.compile(r"^(layer\d+\.\d+\.downsample\.[01])$"), r"\1"),
)


@dataclass
class InflationReport:
    """What :func:`inflate_2d_into_3d` did.

    Attributes:
        inflated: 3D conv weights made from 2D kernels, as ``(3d_key, 2d_key, kt)``.
        copied: batch-norm entries copied unchanged, as ``(3d_key, 2d_key)``.
        ignored: 2D keys not used (the classifier ``fc``).
    """

    inflated: list[tuple[str, str, int]] = field(default_factory=list)
    copied: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def trunk_key(key_2d: str) -> str | None:
    """Name in a ``VideoResNetTrunk`` of a torchvision 2D ResNet state-dict key; ``None`` if unknown."""
    module, _, param = key_2d.rpartition(".")
    for pattern, replacement in _RENAMES:
        if pattern.match(module):
            return f"{pattern.sub(replacement, module)}.{param}"
    return None


def inflate_2d_into_3d(
    state_dict_2d: Mapping[str, Tensor], context_encoder: ContextEncoder
) -> InflationReport:
    """Load a 2D ResNet-18 state dict into a context encoder by inflating its kernels.

    Args:
        state_dict_2d: a torchvision ``resnet18`` state dict (``conv1.weight``, ``bn1.*``,
            ``layer1.0.conv1.weight``, ..., ``fc.*``) or a :class:`FrameEncoder` state dict with 3
            input channels, at the same width as ``context_encoder``.
        context_encoder: arch ``"r3d18_hara"`` or ``"r3d_18"``; its trunk is overwritten in place.

    Returns:
        An :class:`InflationReport` of the keys inflated, copied and ignored.

    Raises:
        ValueError: arch ``"r2plus1d_18"`` (its factorised convs have no 2D counterpart) or another
            non-inflatable arch; a 2D key with no place in the trunk; a trunk key with no 2D
            source; a shape that does not match (the message names the key and both shapes).
    """
    arch = getattr(context_encoder, "arch", None)
    if arch not in INFLATABLE_ARCHS:
        raise InvalidInputError(
            f"cannot inflate a 2D ResNet into arch {arch!r}: only {', '.join(INFLATABLE_ARCHS)} have "
            "full 3D kernels (r2plus1d_18 factorises them into spatial and temporal convs)"
        )
    target = context_encoder.trunk.state_dict()
    report = InflationReport()
    new_state: dict[str, Tensor] = {}
    unexpected = []
    for key_2d, value in state_dict_2d.items():
        if key_2d.startswith("fc."):
            report.ignored.append(key_2d)
            continue
        key_3d = trunk_key(key_2d)
        if key_3d is None or key_3d not in target:
            unexpected.append(key_2d)
            continue
        want = target[key_3d]
        if want.dim() == 5:  # conv weight: O x I x kt x kh x kw
            kt = want.shape[2]
            if value.dim() != 4 or (want.shape[:2] + want.shape[3:]) != value.shape:
                raise InvalidInputError(
                    f"cannot inflate {key_2d!r} of shape {tuple(value.shape)} into {key_3d!r} of "
                    f"shape {tuple(want.shape)}: need (O, I, kh, kw) = "
                    f"{tuple(want.shape[:2] + want.shape[3:])} (same width and input channels)"
                )
            new_state[key_3d] = value.unsqueeze(2).repeat(1, 1, kt, 1, 1) / kt  # O x I x kt x kh x kw
            report.inflated.append((key_3d, key_2d, kt))
        else:
            if value.shape != want.shape:
                raise InvalidInputError(
                    f"cannot copy {key_2d!r} of shape {tuple(value.shape)} into {key_3d!r} of "
                    f"shape {tuple(want.shape)} (same width needed)"
                )
            new_state[key_3d] = value.clone()
            report.copied.append((key_3d, key_2d))
    if unexpected:
        raise InvalidInputError(
            f"2D keys with no place in the {arch} trunk: {unexpected[:5]}"
            f"{' ...' if len(unexpected) > 5 else ''}; expected a torchvision ResNet-18 state dict"
        )
    missing = sorted(set(target) - set(new_state))
    if missing:
        raise InvalidInputError(
            f"the 2D state dict lacks sources for {len(missing)} {arch} trunk keys, e.g. {missing[:5]}; "
            "expected a torchvision ResNet-18 state dict"
        )
    with torch.no_grad():
        context_encoder.trunk.load_state_dict(new_state, strict=True)
    return report


def _conv_input_frames(context_encoder: ContextEncoder, clip_frames: int) -> dict[str, int]:
    """The number of time steps each temporal convolution of the trunk reads on a ``clip_frames``
    clip, found by one forward pass of a small dummy clip (names as in ``trunk.named_modules``)."""
    found: dict[str, int] = {}

    def record(name: str):
        def hook(module, args, output) -> None:
            found.setdefault(name, args[0].shape[2])
        return hook

    hooks = [module.register_forward_hook(record(name)) for name, module in context_encoder.trunk.named_modules()
             if isinstance(module, torch.nn.Conv3d) and module.kernel_size[0] > 1]
    was_training = context_encoder.training
    try:
        with torch.no_grad():
            context_encoder.eval()(torch.zeros(1, 3, clip_frames, 32, 32))
    finally:
        context_encoder.train(was_training)
        for hook in hooks:
            hook.remove()
    return found


def place_on_single_taps(context_encoder: ContextEncoder, clip_frames: int) -> list[str]:
    """Rewrite an inflated trunk so that each temporal kernel holds its 2D kernel on ONE tap.

    I3D inflation spreads each 2D kernel evenly over the ``kt`` temporal taps, so g's output is a
    blur of the whole clip, and on a still clip it matches the 2D network only away from the
    clip's borders (zero temporal padding). Here each kernel keeps its 2D sum on one tap: the
    centre tap (output time ``t`` reads input time ``t * stride``), except in a temporally strided
    convolution whose input has two or more time steps on a ``clip_frames`` clip, where it goes on
    the last tap (output ``t`` reads ``t * stride + 1``, toward the clip's end). No tap then ever
    reads the temporal padding: on a still clip g's map equals f's map exactly, at every time
    step, and on a moving clip g computes f on a few of its frames instead of a blur of all.
    At initialisation the two encoders are then aligned, as the score (Eq. 3) compares them.

    Returns:
        the names of the convolutions whose kernel went on the last tap.
    """
    frames = _conv_input_frames(context_encoder, clip_frames)
    modules = dict(context_encoder.trunk.named_modules())
    last = []
    with torch.no_grad():
        for name, t_in in frames.items():
            conv = modules[name]
            kt, w = conv.kernel_size[0], conv.weight.sum(2)  # O x I x kh x kw
            tap = kt // 2
            if conv.stride[0] > 1 and t_in >= 2:
                tap = kt - 1
                last.append(name)
            conv.weight.zero_()
            conv.weight[:, :, tap] = w
    return last


__all__ = ["INFLATABLE_ARCHS", "INFLATION_TAPS", "InflationReport", "inflate_2d_into_3d", "place_on_single_taps",
           "trunk_key"]
