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


def inflate_2d_into_3d(state_dict_2d: Mapping[str, Tensor], context_encoder: ContextEncoder) -> InflationReport:
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


__all__ = ["INFLATABLE_ARCHS", "InflationReport", "inflate_2d_into_3d", "trunk_key"]
