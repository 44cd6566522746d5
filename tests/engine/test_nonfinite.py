"""Bad numbers: a non-finite loss stops the run naming the term and step, or skips the batch
with ``trainer.on_nonfinite: skip``; the gradient norm is logged every step."""

from __future__ import annotations

import csv
import math

import lightning as L
import pytest
import torch

from skipclip.config import load_config
from skipclip.recipes.pretrain import pretrain

from helpers import tiny_overrides

STEPS_PER_EPOCH = 16  # 64 videos, batch 4


def _cfg(**extra):
    return load_config("cpu", tiny_overrides(optim={"max_epochs": 1}) | extra)


class PoisonBatch(L.Callback):
    """Makes one loss term NaN at one batch, the way a bad step would."""

    def __init__(self, batch: int, term: str):
        self.batch, self.term = batch, term

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        model = module.model
        original = type(model).forward

        def poisoned(self_, b):
            terms, metrics = original(self_, b)
            if batch_idx == self.batch:
                terms[self.term] = terms[self.term] * float("nan")
            return terms, metrics

        model.forward = poisoned.__get__(model)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_nonfinite_loss_stops_naming_term_and_step(tmp_path):
    with pytest.raises(FloatingPointError, match=r"non-finite contrastive loss at step 5 \(epoch 0, batch 5\)"):
        pretrain(
            _cfg(),
            "synthetic",
            tmp_path / "run",
            progress=False,
            checkpoint_every=0,
            callbacks=[PoisonBatch(5, "contrastive")],
        )


@pytest.mark.e2e
def test_skip_option_skips_the_batch_and_counts_it(tmp_path):
    model, trainer, summary = pretrain(
        _cfg(**{"trainer.on_nonfinite": "skip"}),
        "synthetic",
        tmp_path / "run",
        progress=False,
        checkpoint_every=0,
        callbacks=[PoisonBatch(5, "rotation")],
    )
    assert summary.skipped_nonfinite_batches == 1
    assert summary.steps == STEPS_PER_EPOCH  # the bad batch has no gradients: Adam leaves the weights
    assert all(torch.isfinite(p).all() for p in model.parameters())
    rows = list(csv.DictReader((tmp_path / "run" / "logs" / "metrics.csv").read_text().splitlines()))
    norms = [float(r["train/grad_norm"]) for r in rows if r.get("train/grad_norm")]  # every step (log_every_n_steps 1)
    assert len(norms) >= STEPS_PER_EPOCH - 2 and all(math.isfinite(n) and n > 0 for n in norms)
