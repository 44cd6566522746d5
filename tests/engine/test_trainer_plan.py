"""The Trainer's strategy and sync_batchnorm follow the planned world size (issue 18, fix 6):
``devices: auto`` on a node with several GPUs is DDP with synchronised batch norm."""

from __future__ import annotations

import pytest
import torch

from skipclip.config import load_config
from skipclip.engine.trainer import process_plan


@pytest.fixture(autouse=True)
def no_launcher(monkeypatch):
    for key in ("WORLD_SIZE", "SLURM_NTASKS", "SLURM_PROCID"):
        monkeypatch.delenv(key, raising=False)


def gpus(monkeypatch, n: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: n)


@pytest.mark.parametrize("n,world,ddp", [(4, 4, True), (1, 1, False)])
def test_devices_auto_counts_the_gpus(monkeypatch, n, world, ddp):
    gpus(monkeypatch, n)
    plan = process_plan(load_config("paper"))  # accelerator auto, devices auto
    assert plan.world_size == world
    assert plan.strategy == ("ddp" if ddp else "auto")
    assert plan.sync_batchnorm is ddp


@pytest.mark.parametrize("devices,nodes,world", [([0, 2], 1, 2), (2, 3, 6), (1, 2, 2), (1, 1, 1)])
def test_lists_counts_and_nodes(monkeypatch, devices, nodes, world):
    gpus(monkeypatch, 8)
    cfg = load_config("paper", {"trainer.devices": devices, "trainer.num_nodes": nodes})
    plan = process_plan(cfg)
    assert plan.world_size == world and plan.sync_batchnorm is (world > 1)
    assert process_plan(cfg, devices=1, num_nodes=1).world_size == 1  # a caller's own choice wins


def test_the_launchers_world_size_wins_except_over_one_device(monkeypatch):
    gpus(monkeypatch, 4)
    monkeypatch.setenv("WORLD_SIZE", "8")  # torchrun over two nodes of four
    assert process_plan(load_config("paper", {"trainer.num_nodes": 2})).world_size == 8
    assert process_plan(load_config("paper"), devices=1, num_nodes=1).world_size == 1


def test_cpu_processes_never_sync_batch_norm(monkeypatch):
    gpus(monkeypatch, 4)
    cpu = process_plan(load_config("paper", {"trainer.accelerator": "cpu", "trainer.devices": 2}))
    assert (cpu.world_size, cpu.strategy, cpu.sync_batchnorm) == (2, "ddp", False)  # no CPU SyncBatchNorm kernel
    assert process_plan(load_config("paper", {"trainer.accelerator": "cpu"})).world_size == 1  # auto on CPU: one
