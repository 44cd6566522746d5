"""Memory layout of the encoders' weights.

Convolutions run channels-last when their input is (oneDNN on CPU, cuDNN on GPU). A weight left
in the default layout is then reordered on every call, forward and backward; laying the weights
out channels-last once removes those copies. Values are unchanged.
"""

from __future__ import annotations

import torch
from torch import nn


def to_channels_last_(module: nn.Module) -> nn.Module:
    """Lay out every 4-D parameter channels_last and every 5-D one channels_last_3d, in place.

    The parameter objects stay the same (an optimiser holding them keeps working); their ``data``
    gets the new strides, and so do gradients created afterwards.

    Args:
        module: any module; parameters that are not 4-D or 5-D are left alone.

    Returns:
        ``module``, for chaining.
    """
    formats = {4: torch.channels_last, 5: torch.channels_last_3d}
    with torch.no_grad():
        for p in module.parameters():
            fmt = formats.get(p.dim())
            if fmt is None or p.is_contiguous(memory_format=fmt):
                continue
            p.data = p.data.contiguous(memory_format=fmt)
            if p.grad is not None:
                p.grad = p.grad.contiguous(memory_format=fmt)  # gradients follow their parameter
    return module


__all__ = ["to_channels_last_"]
