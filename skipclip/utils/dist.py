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


def launch_rank() -> int:
    """This process's global rank as the launcher announced it, before any process group exists:
    ``RANK`` (torchrun), ``SLURM_PROCID`` (srun), or ``NODE_RANK``/``LOCAL_RANK`` (Lightning's own
    launcher, which gives ranks > 0 to the processes it starts); 0 for a plain run."""
    import os

    if "RANK" in os.environ:
        return int(os.environ["RANK"])
    if int(os.environ.get("SLURM_NTASKS", "1")) > 1 and "SLURM_PROCID" in os.environ:
        return int(os.environ["SLURM_PROCID"])
    local, node = int(os.environ.get("LOCAL_RANK", "0")), int(os.environ.get("NODE_RANK", "0"))
    return 0 if local == 0 and node == 0 else max(local, 1)


def any_rank(flag: bool, device: torch.device | None = None) -> bool:
    """True when ``flag`` is true on at least one process (every process gets the same answer)."""
    if world_size() == 1:
        return bool(flag)
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)
