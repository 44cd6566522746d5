"""Distributed helpers that fall back to one process (rank 0 of a world of 1) when no process
group exists. Never hard-codes a backend: CPU runs use gloo, GPU runs whatever Lightning chose."""

from __future__ import annotations

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


class _GatherLayer(torch.autograd.Function):
    """all_gather that keeps gradients: each rank gets back the gradient of its own slice."""

    @staticmethod
    def forward(ctx, x):
        out = [torch.zeros_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(out, x.contiguous())
        return tuple(out)

    @staticmethod
    def backward(ctx, *grads):
        all_grads = torch.stack(grads)
        dist.all_reduce(all_grads)
        return all_grads[dist.get_rank()]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from every rank along dim 0, with gradients; ``x`` itself in one process."""
    if world_size() == 1:
        return x
    return torch.cat(_GatherLayer.apply(x), dim=0)
