"""The gradient norm is measured only at the steps Lightning logs, and is the norm it was."""

from __future__ import annotations

import csv

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

import skipclip.engine.module as module_mod
from skipclip.engine.module import TrainModule, logs_this_step, total_norm


class Linear(TrainModule):
    def __init__(self):
        super().__init__(lr=0.1, weight_decay=0.0, lr_step_epochs=100, lr_gamma=1.0)
        self.layer = torch.nn.Linear(4, 1)
        self.measured: list[int] = []  # the steps whose norm was computed
        self.norms: dict[int, float] = {}

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def on_before_optimizer_step(self, optimizer):
        if logs_this_step(self.trainer):
            self.measured.append(self.global_step)
            grads = [p.grad for p in self.parameters()]
            self.norms[self.global_step] = float(torch.stack([g.norm() for g in grads]).norm())
        super().on_before_optimizer_step(optimizer)


def test_grad_norm_measured_and_logged_every_log_step_only(tmp_path, monkeypatch):
    computed = []

    def counting(tensors):
        computed.append(len(tensors))
        return total_norm(tensors)

    monkeypatch.setattr(module_mod, "total_norm", counting)
    torch.manual_seed(0)
    data = TensorDataset(torch.randn(40, 4), torch.randn(40, 1))
    module = Linear()
    trainer = L.Trainer(
        max_steps=10,
        log_every_n_steps=3,
        logger=L.pytorch.loggers.CSVLogger(tmp_path, name="", version=""),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(module, DataLoader(data, batch_size=4))
    assert module.measured == [2, 5, 8]  # Lightning's steps 3, 6 and 9, counted from 1
    assert computed == [2, 2, 2]  # the norm of weight and bias at those 3 steps, not at all 10
    rows = list(csv.DictReader((tmp_path / "metrics.csv").read_text().splitlines()))
    logged = {int(r["step"]): float(r["train/grad_norm"]) for r in rows if r.get("train/grad_norm")}
    assert sorted(logged) == module.measured
    for step, norm in logged.items():
        assert abs(norm - module.norms[step]) < 1e-5 * max(1.0, norm)


def test_total_norm_is_the_norm_of_all_tensors_together():
    tensors = [torch.randn(3, 5), torch.randn(7), torch.randn(2, 2, 2)]
    flat = torch.cat([t.reshape(-1) for t in tensors])
    assert torch.allclose(total_norm(tensors), flat.norm())


def test_logs_this_step_without_a_readable_rule_measures():
    class NoConnector:
        pass

    class Broken:
        @property
        def should_update_logs(self):
            raise NotImplementedError

    class WithBroken:
        _logger_connector = Broken()

    assert logs_this_step(NoConnector()) is True
    assert logs_this_step(WithBroken()) is True


def test_a_batch_for_the_cpu_is_not_walked_and_copied():
    from skipclip.batch import PretextBatch
    from skipclip.engine.skipclip_module import SkipClipModule

    module = SkipClipModule(torch.nn.Identity(), lr=0.1, weight_decay=0.0, lr_step_epochs=1, lr_gamma=1.0)
    clips = torch.zeros(2, 3, 4, 8, 8, dtype=torch.uint8)
    batch = PretextBatch(clips, torch.zeros(2, 2, 1, 3, 8, 8, dtype=torch.uint8))
    assert module.transfer_batch_to_device(batch, torch.device("cpu"), 0) is batch
    other = {"x": torch.zeros(2)}  # anything else takes Lightning's move
    moved = module.transfer_batch_to_device(other, torch.device("cpu"), 0)
    assert moved is not other and torch.equal(moved["x"], other["x"])


def test_checkpoints_are_saved_without_crc_and_load_the_same(tmp_path):
    import zipfile

    from skipclip.utils.io import atomic_torch_save

    state = {"w": torch.randn(64, 64), "step": 3}
    atomic_torch_save(state, tmp_path / "a.ckpt")
    loaded = torch.load(tmp_path / "a.ckpt", weights_only=True)
    assert torch.equal(loaded["w"], state["w"]) and loaded["step"] == 3
    if hasattr(torch.serialization, "set_crc32_options"):  # torch 2.6+: no CRC-32 computed
        with zipfile.ZipFile(tmp_path / "a.ckpt") as z:
            assert {i.CRC for i in z.infolist()} == {0}
        assert torch.serialization.get_crc32_options()  # the setting is restored for everyone else
