"""Precise batch norm (eval/precise_bn.py): statistics recomputed on fixed training windows are
the cumulative average of the batch statistics, leave everything else of the model as it was,
never synchronise across processes, and reach the final checkpoint."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from skipclip.data import HealthDataset, PretextWindow, open_data
from skipclip.eval.features import CachedBatches
from skipclip.eval.precise_bn import PreciseBatchNorm, bn_layers, recompute_bn, write_bn_into_checkpoint
from skipclip.method.build import build_skipclip

from helpers import tiny_cfg


def setup(windows: int = 24):
    cfg = tiny_cfg()
    L.seed_everything(0, verbose=False)
    model = build_skipclip(cfg)
    src = open_data("synthetic", cfg).train
    batches = CachedBatches(
        HealthDataset(src, PretextWindow.from_config(cfg), cfg.data.crop_size, max_windows=windows), batch_size=8
    )
    return cfg, model, batches


def test_statistics_are_the_average_of_batch_statistics_and_nothing_else_moves():
    _, model, batches = setup()
    for m in bn_layers(model):  # stale averages, as training leaves them
        m.running_mean.fill_(3.0), m.running_var.fill_(7.0)
    params = {k: v.clone() for k, v in model.named_parameters()}
    first = bn_layers(model.context_encoder)[0]
    seen = []
    hook = first.register_forward_pre_hook(lambda mod, inp: seen.append(inp[0].detach().double()))
    model.train()
    assert recompute_bn(model, batches, num_batches=2, device="cpu") == 2
    hook.remove()
    assert len(seen) == 2  # the first two batches, then it stops
    means = torch.stack([x.mean(dim=(0, 2, 3, 4)) for x in seen]).mean(0)
    variances = torch.stack([x.transpose(0, 1).flatten(1).var(dim=1) for x in seen]).mean(0)  # unbiased, as BN keeps
    assert torch.allclose(first.running_mean.double(), means, atol=1e-5)
    assert torch.allclose(first.running_var.double(), variances, rtol=1e-4)
    assert int(first.num_batches_tracked) == 2 and first.momentum == 0.1
    assert model.training and all(m.training for m in model.modules())  # modes restored
    assert all(torch.equal(params[k], v) for k, v in model.named_parameters())
    again = {k: v.clone() for k, v in model.state_dict().items()}
    recompute_bn(model, batches, num_batches=2, device="cpu")
    assert all(torch.equal(again[k], v) for k, v in model.state_dict().items())  # the same windows each time
    with pytest.raises(ValueError, match="num_batches"):
        recompute_bn(model, batches, 0, "cpu")


def test_sync_batchnorm_never_communicates(monkeypatch):
    _, model, batches = setup(16)
    model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    list(batches)  # read (and cached) before the process group is faked
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)  # as under DDP: a sync would be tried
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda *a, **k: 2)

    def no_collectives(*a, **k):
        raise AssertionError("precise batch norm must not communicate")

    monkeypatch.setattr(torch.distributed, "all_reduce", no_collectives)
    monkeypatch.setattr(torch.distributed, "all_gather", no_collectives)
    assert recompute_bn(model, batches, 2, "cpu") == 2
    assert all("forward" not in vars(m) for m in bn_layers(model))  # the SyncBatchNorm forward is back


def test_copy_of_leaves_the_model_alone_and_the_checkpoint_gets_the_statistics(tmp_path):
    cfg, model, batches = setup(16)
    precise = PreciseBatchNorm(batches.dataset, num_batches=2, batch_size=8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    twin = precise.copy_of(model, step=5, device="cpu")
    assert twin is not model and precise.copy_of(model, 5, "cpu") is twin  # one recompute per step
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert precise.record()["batches"] == 2
    path = tmp_path / "last.ckpt"
    torch.save({"global_step": 7, "state_dict": {f"model.{k}": v for k, v in before.items()}}, path)
    assert not write_bn_into_checkpoint(path, twin, step=5)  # a checkpoint of another step is left alone
    assert write_bn_into_checkpoint(path, twin, step=7)
    saved = torch.load(path, weights_only=True)["state_dict"]
    for k, v in twin.state_dict().items():
        assert torch.equal(saved[f"model.{k}"], v)  # buffers from the twin, weights the same as before
    off = tiny_cfg(pretext={"precise_bn_batches": 0})
    assert PreciseBatchNorm.from_config(off, open_data("synthetic", off)) is None
    with pytest.raises(ValueError, match="precise_bn_batches"):
        tiny_cfg(pretext={"precise_bn_batches": -1})


def test_the_end_of_training_takes_over_a_measurement_of_the_same_step():
    """At the end of training the model gets the statistics a measurement at that step computed on
    a copy of the same weights, the same as recomputing them, without a second pass."""
    from types import SimpleNamespace

    cfg, model, batches = setup(16)
    recomputed = PreciseBatchNorm(batches.dataset, num_batches=2, batch_size=8)
    reused = PreciseBatchNorm(batches.dataset, num_batches=2, batch_size=8)
    twin = reused.copy_of(model, step=9, device="cpu")
    passes = []
    reused.apply = lambda *a: passes.append(a)  # must not run
    for callback, target in ((recomputed, build_skipclip(cfg)), (reused, model)):
        if callback is recomputed:
            target.load_state_dict(model.state_dict())
        callback.on_train_end(SimpleNamespace(global_step=9), SimpleNamespace(model=target, device="cpu"))
    assert not passes and reused.copy_of(model, 9, "cpu") is model
    mine, theirs = bn_layers(model), bn_layers(twin)
    assert mine and all(torch.equal(a.running_mean, b.running_mean) for a, b in zip(mine, theirs))
    other = recomputed.copy_of(model, 9, "cpu")  # recomputed.on_train_end ran apply on its own model
    assert other is not model
    done = {k: v for k, v in recomputed._copy[1].state_dict().items()}
    for k, v in model.state_dict().items():
        assert torch.equal(done[k], v), k


def test_baselines_measured_after_the_copy_leave_it_to_be_taken_over():
    """The run's first health measurement recomputes the step-0 baselines' statistics (``apply`` on
    the initial model) right after the copy of the trained one; when that measurement is at the
    last step, the end of training still takes the copy over instead of a second pass."""
    from types import SimpleNamespace

    cfg, model, batches = setup(16)
    precise = PreciseBatchNorm(batches.dataset, num_batches=2, batch_size=8)
    twin = precise.copy_of(model, step=9, device="cpu")
    assert precise.apply(build_skipclip(cfg), "cpu") == 2  # the baselines' initial model
    passes = []
    precise.apply = lambda *a: passes.append(a)  # must not run
    precise.on_train_end(SimpleNamespace(global_step=9), SimpleNamespace(model=model, device="cpu"))
    assert not passes
    mine, theirs = bn_layers(model), bn_layers(twin)
    assert mine and all(torch.equal(a.running_var, b.running_var) for a, b in zip(mine, theirs))
