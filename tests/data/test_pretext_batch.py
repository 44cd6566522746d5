"""The typed batch between data/ and method/: collated from the dataset's items, moved by
Lightning's batch transfer (``move_data_to_device`` walks dataclasses), mapped field by field."""

from __future__ import annotations

import dataclasses

import torch
from lightning.fabric.utilities.apply_func import move_data_to_device

from skipclip.data import FAILED, PretextBatch, PretextDataset, PretextWindow, epoch_loader, from_batch

from helpers import FakeSource


def test_the_loader_of_a_pretext_dataset_gives_typed_batches():
    ds = PretextDataset(FakeSource([40, 40, 40]), PretextWindow(4, 3, 2), crop_size=16, seed=1)
    batch = next(iter(epoch_loader(ds, 3, shuffle=False, drop_last=False)))
    assert isinstance(batch, PretextBatch) and len(batch) == 3
    assert batch.context.shape == (3, 3, 4, 16, 16) and batch.targets.shape == (3, 3, 1, 3, 16, 16)
    assert batch.video.tolist() == [0, 1, 2] and batch.pad.dtype == torch.bool
    assert batch.skipped.tolist() == [0, 0, 0] and batch.failed == [] and from_batch(batch) == {}


def test_collate_gathers_failure_reports_and_from_batch_reads_them():
    item = {
        "context": torch.zeros(3, 2, 4, 4, dtype=torch.uint8),
        "targets": torch.zeros(2, 1, 3, 4, 4),
        "video": 0,
        "group": 0,
        "pad": False,
        "skipped": 1,
    }
    batch = PretextDataset.collate([{**item, FAILED: {"a.mp4": "bad"}}, {**item, "video": 1, FAILED: {}}])
    assert batch.failed == [("a.mp4", "bad")] and from_batch(batch) == {"a.mp4": "bad"}
    assert batch.video.tolist() == [0, 1] and batch.skipped.tolist() == [1, 1]


def test_lightning_moves_every_tensor_field_and_keeps_the_rest():
    batch = PretextBatch(
        context=torch.zeros(2, 3, 2, 4, 4),
        targets=torch.ones(2, 2, 1, 3, 4, 4),
        video=torch.tensor([3, 4]),
        failed=[("x", "y")],
    )
    moved = move_data_to_device(batch, torch.device("meta"))  # what the Trainer does before each step
    assert isinstance(moved, PretextBatch)
    assert moved.context.device.type == moved.targets.device.type == moved.video.device.type == "meta"
    assert moved.group is None and moved.failed == [("x", "y")]
    halves = batch.map(lambda v: v[1:])
    assert halves.video.tolist() == [4] and halves.context.shape[0] == 1 and halves.failed == batch.failed
    assert dataclasses.replace(batch, group=torch.tensor([0, 0])).group.tolist() == [0, 0]
