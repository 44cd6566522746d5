"""One Skip-Clip training step for every context architecture at every preset's geometry (issue
18, fix 7): torchvision's video stems have no max-pool, so their g maps have twice f's
resolution; the model must bring them to f's grid before scoring."""

from __future__ import annotations

import pytest
import torch

from skipclip.config import load_config
from skipclip.data import PretextBatch
from skipclip.method import build_skipclip
from skipclip.models import ARCHS

PRESETS = ("cpu", "cpu-real", "paper")


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("arch", ARCHS)
def test_one_training_step_for_each_arch_at_each_presets_geometry(arch, preset):
    # the preset's K, M, r, d and crop; width 4 and two videos keep the paper geometry cheap.
    # Contiguous layouts: oneDNN's CPU 1x1 stride-2 weight gradient in channels-last writes out of
    # bounds when the input has fewer channels than its block (16), e.g. f's layer2 shortcut at
    # width 4 or 8 on 56x56 maps (uxlfoundation/oneDNN#6035): a heap corruption, not our geometry.
    cfg = load_config(
        preset,
        {
            "model.context_arch": arch,
            "model.width": 4,
            "data.batch_size": 2,
            "trainer.accelerator": "cpu",
            "trainer.devices": 1,
            "trainer.channels_last": False,
        },
    )
    p, s = cfg.pretext, cfg.data.crop_size
    torch.manual_seed(0)
    model = build_skipclip(cfg).train()
    gen = torch.Generator().manual_seed(1)
    batch = PretextBatch(
        context=torch.randint(0, 256, (2, 3, p.context_frames, s, s), dtype=torch.uint8, generator=gen),
        targets=torch.randint(0, 256, (2, p.num_targets, p.target_length, 3, s, s), dtype=torch.uint8, generator=gen),
        video=torch.tensor([0, 1]),
    )
    terms, metrics = model(batch)
    assert {"rank", "contrastive"} <= set(terms)
    loss = sum(terms.values())
    assert torch.isfinite(loss)
    loss.backward()
    g_grads = [q.grad for q in model.context_encoder.parameters()]
    assert all(grad is not None and torch.isfinite(grad).all() for grad in g_grads)
    assert any(float(grad.abs().sum()) > 0 for grad in g_grads)
    enc = model.encode(batch.context, batch.targets)
    assert enc.h.shape[-2:] == enc.z.shape[-2:]  # g's map on f's grid
