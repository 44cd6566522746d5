"""The world size known before any process group, and the global batch split over it."""

from __future__ import annotations

import pytest

from skipclip.utils.dist import batch_per_process, planned_world_size


@pytest.fixture(autouse=True)
def no_launcher(monkeypatch):
    for key in ("WORLD_SIZE", "SLURM_NTASKS", "SLURM_PROCID"):
        monkeypatch.delenv(key, raising=False)


@pytest.mark.parametrize(
    "devices,nodes,want", [(1, 1, 1), (8, 1, 8), (4, 2, 8), ([0, 3], 1, 2), ("auto", 1, 1), ("2", 3, 6)]
)
def test_world_size_from_the_config(devices, nodes, want):
    assert planned_world_size(devices, nodes, gpu=False) == want


def test_the_launchers_word_wins(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "16")
    assert planned_world_size(8, 1) == 16
    monkeypatch.delenv("WORLD_SIZE")
    monkeypatch.setenv("SLURM_NTASKS", "4")
    monkeypatch.setenv("SLURM_PROCID", "2")
    assert planned_world_size(1, 1) == 4


@pytest.mark.parametrize("world,want", [(1, 128), (2, 64), (8, 16), (128, 1)])
def test_global_batch_is_split(world, want):
    assert batch_per_process(128, "global", world) == want
    assert batch_per_process(128, "device", world) == 128


def test_uneven_global_batch_is_refused():
    with pytest.raises(ValueError, match="data.batch_size 128 is the global batch.*3 processes"):
        batch_per_process(128, "global", 3)


def test_pretraining_loader_gets_the_per_process_share(monkeypatch, tmp_path):
    from skipclip.config import load_config
    from skipclip.recipes.pretext_data import process_batch
    from skipclip.recipes.pretrain import pretrain

    cfg = load_config("paper", {"trainer.accelerator": "cpu", "trainer.devices": 8})
    assert process_batch(cfg) == 16
    monkeypatch.setenv("WORLD_SIZE", "4")  # torchrun's word
    assert process_batch(cfg) == 32
    monkeypatch.delenv("WORLD_SIZE")
    device = load_config("paper", {"trainer.accelerator": "cpu", "trainer.devices": 8, "data.batch_per": "device"})
    assert process_batch(device) == 128
    uneven = load_config("paper", {"trainer.accelerator": "cpu", "trainer.devices": 3})
    with pytest.raises(ValueError, match="3 processes cannot share"):
        pretrain(uneven, "synthetic", tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()  # refused before the run folder is touched
