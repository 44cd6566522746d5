"""Distributed helpers that fall back to one process (rank 0 of a world of 1) when no process
group exists. Never hard-codes a backend: CPU runs use gloo, GPU runs whatever Lightning chose."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from skipclip.errors import InvalidInputError


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


def gather_no_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from every rank along dim 0, without gradients; ``x`` itself in one process."""
    if world_size() == 1:
        return x
    out = [torch.zeros_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(out, x.contiguous())
    return torch.cat(out, dim=0)


def planned_world_size(devices, num_nodes: int = 1, *, gpu: bool = False) -> int:
    """The number of processes a run will have, known before any process group exists (the
    loaders are built first): the launcher's ``WORLD_SIZE`` (torchrun, Lightning's own launcher)
    or ``SLURM_NTASKS`` (srun), else ``devices x num_nodes`` with ``devices`` a count, a list of
    ids, or ``"auto"`` (every visible GPU when ``gpu``, else one process).

    Raises:
        ValueError: ``devices`` is none of those.
    """

    if "WORLD_SIZE" in os.environ:
        return int(os.environ["WORLD_SIZE"])
    if int(os.environ.get("SLURM_NTASKS", "1")) > 1 and "SLURM_PROCID" in os.environ:
        return int(os.environ["SLURM_NTASKS"])
    if devices == "auto" or devices is None:
        count = max(torch.cuda.device_count(), 1) if gpu else 1
    elif isinstance(devices, (list, tuple)):
        count = len(devices)
    elif isinstance(devices, str) and devices.lstrip("-").isdigit():
        count = int(devices) if int(devices) != -1 else (max(torch.cuda.device_count(), 1) if gpu else 1)
    elif isinstance(devices, int) and not isinstance(devices, bool):
        count = devices if devices != -1 else (max(torch.cuda.device_count(), 1) if gpu else 1)
    else:
        raise InvalidInputError(f"devices must be 'auto', a count or a list of device ids, got {devices!r}")
    return count * int(num_nodes)


def batch_per_process(batch_size: int, batch_per: str, world: int, key: str = "data.batch_size") -> int:
    """Videos each process loads per step. ``batch_per="device"``: ``batch_size`` itself (the
    global batch is ``batch_size x world``); ``"global"``: ``batch_size / world`` (the learning
    rate is the same either way).

    Raises:
        ValueError: ``"global"`` with a batch the world size does not divide, naming both.
    """
    if batch_per == "device":
        return batch_size
    if batch_per != "global":
        raise InvalidInputError(f"data.batch_per must be 'device' or 'global', got {batch_per!r}")
    if world < 1 or batch_size % world:
        raise InvalidInputError(
            f"{key} {batch_size} is the global batch (data.batch_per: global), which {world} "
            f"processes cannot share evenly; choose a device count that divides {batch_size}, a "
            f"batch size divisible by {world}, or data.batch_per: device"
        )
    return batch_size // world
