"""The distributed path on CPU: two gloo processes agree with one process on the same global
batch; the sampler shards each epoch over the ranks; per-rank seeds differ deterministically."""

from __future__ import annotations

import json
import os
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from skipclip.config import load_config
from skipclip.data import PretextBatch
from skipclip.data.sampling.epoch_sampler import EpochSampler
from skipclip.engine.resume import seed_for_rank
from skipclip.utils.dist import any_rank, gather_with_grad, launch_rank

from helpers import TINY, run_cli, tiny_config, tiny_overrides

STEPS, B, WORLD = 3, 4, 2  # per-rank batch B; the global batch is WORLD*B


# ---------------------------------------------------------------------- sampler and seeds
@pytest.mark.parametrize("n,world", [(64, 2), (67, 2), (10, 3)])
def test_each_video_once_per_epoch_across_ranks(n, world):
    for epoch in (0, 1):
        shards = []
        for r in range(world):
            s = EpochSampler(n, shuffle=True, seed=3, drop_last=True, rank=r, world_size=world)
            s.set_epoch(epoch)
            shards.append(list(s))
            assert len(shards[-1]) == len(s)
        flat = [i for shard in shards for i in shard]
        assert len(flat) == len(set(flat))  # nobody sees a video twice
        assert len(flat) == n - n % world
        assert len({len(s) for s in shards}) == 1
    one = EpochSampler(n, seed=3)
    one.set_epoch(0)
    other = EpochSampler(n, seed=3)
    other.set_epoch(1)
    assert list(one) != list(other) and sorted(one) == sorted(other) == list(range(n))


def test_global_batch_is_the_same_for_one_and_two_processes():
    one = list(EpochSampler(64, seed=0))
    two = [list(EpochSampler(64, seed=0, rank=r, world_size=2)) for r in range(2)]
    for k in range(8):  # global batch k of 2*B videos: the same videos either way
        mine = two[0][B * k : B * (k + 1)] + two[1][B * k : B * (k + 1)]
        assert sorted(one[2 * B * k : 2 * B * (k + 1)]) == sorted(mine)


def test_start_skips_and_evaluation_pads_evenly():
    s = EpochSampler(20, seed=1)
    full = list(s)
    s.start = 12
    assert list(s) == full[12:] and len(s) == 20  # len stays the epoch's, for Lightning's counters
    lens = [len(list(EpochSampler(7, shuffle=False, drop_last=False, rank=r, world_size=3))) for r in range(3)]
    assert lens == [3, 3, 3]
    with pytest.raises(ValueError, match="size=0"):
        EpochSampler(0)


def test_per_rank_seeds_differ_deterministically():
    seeds = [seed_for_rank(0, r) for r in range(64)]
    assert len(set(seeds)) == 64 and seeds == [seed_for_rank(0, r) for r in range(64)]
    assert seed_for_rank(1, 0) != seed_for_rank(0, 0)


def test_one_process_fallbacks(monkeypatch):
    x = torch.randn(3, 2, requires_grad=True)
    assert gather_with_grad(x) is x and any_rank(True) and not any_rank(False)
    for key in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID", "SLURM_NTASKS"):
        monkeypatch.delenv(key, raising=False)
    assert launch_rank() == 0
    monkeypatch.setenv("SLURM_NTASKS", "8")
    monkeypatch.setenv("SLURM_PROCID", "5")
    assert launch_rank() == 5


# ---------------------------------------------------------------------- two gloo processes
def _model():
    from skipclip.method import build_skipclip

    cfg = load_config("cpu", tiny_overrides(pretext={"rotation": False}, trainer={"channels_last": False}))
    torch.manual_seed(0)
    model = build_skipclip(cfg)
    model.train()
    for m in model.modules():  # per-rank batch statistics would differ from the global batch's
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()
    return model


def _global_batches():
    g = torch.Generator().manual_seed(1)
    p = TINY["pretext"]
    pixels = dict(generator=g, dtype=torch.uint8)
    return [
        PretextBatch(
            context=torch.randint(0, 256, (WORLD * B, 3, p["context_frames"], 32, 32), **pixels),
            targets=torch.randint(0, 256, (WORLD * B, p["num_targets"], 1, 3, 32, 32), **pixels),
        )
        for _ in range(STEPS)
    ]


def _train(model, batches, rank=0, world=1):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for batch in batches:
        local = batch.map(lambda v: v[rank::world])  # the EpochSampler's split
        terms, _ = model(local)
        loss = sum(terms.values())
        opt.zero_grad()
        loss.backward()
        if world > 1:  # what DDP does: average the gradients
            for p in model.parameters():
                if p.grad is not None:
                    dist.all_reduce(p.grad)
                    p.grad /= world
            loss = loss.detach().clone()
            dist.all_reduce(loss)
            loss /= world
        opt.step()
        losses.append(float(loss.detach()))
    return losses


def _worker(rank, world, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        model = _model()
        losses = _train(model, _global_batches(), rank, world)
        if rank == 0:
            torch.save({"losses": losses, "state": model.state_dict()}, out)
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.e2e
def test_two_gloo_processes_match_one_process_on_the_same_global_batch(tmp_path):
    out = tmp_path / "ddp.pt"
    mp.start_processes(_worker, args=(WORLD, _free_port(), str(out)), nprocs=WORLD, start_method="spawn")
    ddp = torch.load(out, weights_only=True)
    torch.set_num_threads(1)
    single = _model()
    losses = _train(single, _global_batches())
    np.testing.assert_allclose(ddp["losses"], losses, rtol=1e-5, atol=1e-6)
    assert losses[0] != losses[-1]  # it trained
    for name, value in single.state_dict().items():
        # Adam turns a gradient near zero whose last bits differ (another summation order) into a
        # step of up to lr x its sign ratio: allow 1e-4 (seen here: 2.2e-5 on 1 of 8232 stem weights)
        torch.testing.assert_close(
            ddp["state"][name], value, rtol=1e-4, atol=1e-4, msg=lambda m, name=name: f"{name}: {m}"
        )


def test_without_gathering_the_pool_differs():
    """The test above can fail: without the cross-rank gather each rank sees only B-1 negatives
    and the global loss changes."""
    model = _model()
    batch = _global_batches()[0]
    full, _ = model(batch)
    halves = [model(batch.map(lambda v, r=r: v[r::2]))[0] for r in range(2)]
    assert abs(float(full["contrastive"]) - sum(float(h["contrastive"]) for h in halves) / 2) > 1e-4


@pytest.mark.e2e
def test_lightning_ddp_on_two_cpu_processes(tmp_path):
    """End to end through the CLI: Lightning launches a second process, gloo connects them."""
    config = tiny_config(tmp_path / "tiny.yaml", optim={"max_epochs": 1})
    run = run_cli(
        "pretrain",
        "--data",
        "synthetic",
        "--config",
        config,
        "--out",
        tmp_path / "run",
        "--devices",
        "2",
        "--no-progress",
        "--checkpoint-every",
        "3",
    )
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "run.json").read_text())["summary"]
    assert summary["world_size"] == 2
    assert summary["steps"] == 64 // (2 * 4)  # each of the 64 videos once per epoch across ranks
    # precise batch norm on both processes (the same windows, no collective): no deadlock, in last.ckpt
    assert summary["bn_stats"]["kind"] == "precise" and summary["bn_stats"]["in_last_checkpoint"] is True
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["callbacks"]["TrainingPosition"]["world_size"] == 2
    assert len(ckpt["callbacks"]["TrainingPosition"]["rng"]) == 2


@pytest.mark.e2e
def test_finetune_on_two_cpu_processes(tmp_path):
    """`skipclip finetune --devices 2`: Lightning's DDP over gloo; validation scores are gathered,
    so both processes select the same epoch; only the first writes the report."""
    config = tiny_config(tmp_path / "tiny.yaml", finetune={"max_epochs": 2, "batch_size": 4, "val_every": 1})
    run = run_cli(
        "finetune",
        "--data",
        "synthetic",
        "--config",
        config,
        "--out",
        tmp_path / "ft",
        "--init",
        "random",
        "--devices",
        "2",
        "--accelerator",
        "cpu",
        "--no-progress",
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads((tmp_path / "ft" / "report.json").read_text())
    (result,) = report["results"]
    assert (
        result["protocol"] == "finetune"
        and 0.0 <= result["top1"] <= (result["top5"] if result["top5"] is not None else 1.0) <= 1.0
    )
    assert report["history"]["world_size"] == 2
    assert report["history"]["val_top1"] is not None and report["history"]["best_epoch"] in (0, 1)
    assert (tmp_path / "ft" / "checkpoints" / "best.ckpt").exists()


def test_padded_evaluation_items_are_marked():
    """Evaluation pads 7 items to 9 for 3 ranks by repeating the first two; with mark_padding the
    repeats come as index + size, so the dataset flags them and the step leaves them out."""
    orders = [
        list(EpochSampler(7, shuffle=False, drop_last=False, rank=r, world_size=3, mark_padding=True)) for r in range(3)
    ]
    flat = sorted(i for order in orders for i in order)
    assert flat == [0, 1, 2, 3, 4, 5, 6, 7 + 0, 7 + 1]
    plain = sorted(i for r in range(3) for i in EpochSampler(7, shuffle=False, drop_last=False, rank=r, world_size=3))
    assert plain == [0, 0, 1, 1, 2, 3, 4, 5, 6]


def test_padded_validation_windows_are_not_scored():
    """Fine-tuning validation under DDP: a padded repeat of a window comes with ok=False (so the
    video-level score counts each window once), the same clip as the window it repeats."""
    from skipclip.data.sampling.clips import ClipDataset

    from helpers import FakeSource

    ds = ClipDataset(FakeSource([20, 12], num_classes=2), clip_len=4, crop_size=16, train=False)
    n = len(ds)
    for i in range(n):
        real, padded = ds[i], ds[i + n]
        assert real["ok"] and not padded["ok"]
        assert torch.equal(real["clip"], padded["clip"]) and real["video"] == padded["video"]
