"""Model selection (KeepBest) on a hand-made validation curve."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from skipclip.engine.callbacks import KeepBest


def run_curve(curve: list[float]) -> tuple[KeepBest, torch.nn.Linear]:
    """Feed ``curve`` to KeepBest as Lightning would, the module's weight holding the epoch number."""
    module = torch.nn.Linear(1, 1, bias=False)
    keep = KeepBest("val/video_acc")
    trainer = SimpleNamespace(
        sanity_checking=False, callback_metrics={}, current_epoch=0, global_step=0, is_global_zero=True
    )
    for epoch, value in enumerate(curve):
        with torch.no_grad():
            module.weight.fill_(float(epoch))  # "trained" up to this epoch
        trainer.current_epoch, trainer.global_step = epoch, 10 * (epoch + 1)  # 10 steps an epoch
        trainer.callback_metrics = {"val/video_acc": torch.tensor(value, dtype=torch.float64)}
        keep.on_validation_end(trainer, module)
    with torch.no_grad():
        module.weight.fill_(-1.0)  # the weights after the last epoch's further steps
    return keep, module


def test_keeps_the_best_epoch_and_restores_its_weights():
    keep, module = run_curve([0.20, 0.45, 0.61, 0.58, 0.40])
    assert keep.best_epoch == 2 and keep.best_step == 30 and keep.best == 0.61
    assert keep.history == [(0, 10, 0.20), (1, 20, 0.45), (2, 30, 0.61), (3, 40, 0.58), (4, 50, 0.40)]
    keep.restore(module)
    assert float(module.weight.detach()) == 2.0


def test_a_tie_goes_to_the_later_epoch():
    keep, module = run_curve([0.3, 0.5, 0.2, 0.5, 0.1])
    assert keep.best_epoch == 3
    keep.restore(module)
    assert float(module.weight.detach()) == 3.0


def test_sanity_checks_and_missing_metrics_are_ignored():
    keep = KeepBest("val/video_acc")
    module = torch.nn.Linear(1, 1, bias=False)
    keep.on_validation_end(
        SimpleNamespace(
            sanity_checking=True, callback_metrics={"val/video_acc": torch.tensor(1.0)}, current_epoch=0, global_step=0
        ),
        module,
    )
    keep.on_validation_end(
        SimpleNamespace(sanity_checking=False, callback_metrics={}, current_epoch=1, global_step=5), module
    )
    assert keep.best is None and keep.history == []
    with torch.no_grad():
        module.weight.fill_(7.0)
    keep.restore(module)  # nothing kept: the last weights stay
    assert float(module.weight.detach()) == 7.0
