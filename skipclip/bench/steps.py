"""The two steps the training benchmark times: a full Skip-Clip step and the bare encoders' step,
on one in-memory batch of sampler-shaped uint8 clips; and their FLOP count."""

from __future__ import annotations

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from skipclip.batch import PretextBatch
from skipclip.bench.timing import sync
from skipclip.config import Config
from skipclip.engine.module import fused_adam
from skipclip.models.normalize import normalize


def make_batch(cfg: Config, device: torch.device) -> PretextBatch:
    """Sampler output of one step: uint8 ``context`` (B, 3, K, S, S), ``targets`` (B, M, d, 3, S, S).

    Kept on the host (pinned) when ``device`` is CUDA; the step copies it with ``non_blocking``.
    """
    b, s = cfg.data.batch_size, cfg.data.crop_size
    p = cfg.pretext
    gen = torch.Generator().manual_seed(0)
    batch = PretextBatch(
        context=torch.randint(0, 256, (b, 3, p.context_frames, s, s), dtype=torch.uint8, generator=gen),
        targets=torch.randint(0, 256, (b, p.num_targets, p.target_length, 3, s, s), dtype=torch.uint8, generator=gen),
    )
    return batch.pin_memory() if device.type == "cuda" else batch


def bare_inputs(model, batch: PretextBatch, device, dtype=None):
    """The encoders' inputs of a Skip-Clip step, prepared once: normalised, on the device, laid out
    as the model lays them out, in ``dtype`` (the autocast dtype, as the step's first convolutions
    see them); f gets as many frames as in the step (targets + rotated copies)."""
    with torch.no_grad():
        context = normalize(batch.context.to(device), channel_dim=1)  # B x 3 x K x S x S
        targets = batch.targets.to(device)  # B x M x d x 3 x S x S
        frames = normalize(targets, channel_dim=3).flatten(2, 3).flatten(0, 1)  # B*M x 3d x S x S
        if model.rotation_head is not None:
            frames = torch.cat([frames, torch.rot90(frames, 1, dims=(-2, -1))])  # 2*B*M x 3d x S x S
        if model.channels_last:
            context = context.contiguous(memory_format=torch.channels_last_3d)
            frames = frames.contiguous(memory_format=torch.channels_last)
        if dtype is not None:
            context, frames = context.to(dtype), frames.to(dtype)  # .to keeps the layout
    return context, frames


def make_steps(model, batch: PretextBatch, device, autocast, lr: float):
    """``(skipclip_step, bare_step)``: closures running one optimiser step each."""
    opt = torch.optim.Adam(model.parameters(), lr=lr, **fused_adam())
    g, f = model.context_encoder, model.frame_encoder
    bare_params = list(g.parameters()) + list(f.parameters())
    bare_opt = type(opt)(bare_params, **{k: v for k, v in opt.defaults.items() if k != "params"})
    on_cuda = device.type == "cuda"
    context, frames = bare_inputs(model, batch, device, torch.bfloat16 if on_cuda else None)

    def skipclip_step():
        opt.zero_grad(set_to_none=True)
        data = batch.map(lambda v: v.to(device, non_blocking=True)) if on_cuda else batch
        with autocast():
            terms, _metrics = model(data)
            loss = sum(terms.values())
        loss.backward()
        opt.step()

    def bare_step():
        bare_opt.zero_grad(set_to_none=True)
        with autocast():
            loss = g(context).float().mean() + f(frames).float().mean()
        loss.backward()
        bare_opt.step()

    return skipclip_step, bare_step


def count_flops(step) -> int:
    """FLOPs of one run of ``step`` (forward and backward; the optimiser's are not counted)."""
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def profile_table(step, device, rows: int = 15) -> str:
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        step()
        sync(device)
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=rows)
