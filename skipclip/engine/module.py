"""The base LightningModule: Adam, the step schedule, the gradient-norm log and the non-finite
policy, shared by pretraining and fine-tuning."""

from __future__ import annotations

import lightning as L
import torch

from skipclip.errors import InvalidInputError
from skipclip.utils.dist import any_rank


def fused_adam() -> dict:
    """``fused=True`` where torch has a fused Adam for every device (2.4+): one kernel for all
    parameters instead of a Python loop (measured 3% of a CPU step, far more under contention)."""
    major, minor = (int(x) for x in torch.__version__.split(".")[:2])
    return {"fused": True} if (major, minor) >= (2, 4) else {}


def step_factor(epoch: int, every: int, gamma: float, last: int | None = None) -> float:
    """The learning-rate factor at ``epoch``: ``gamma`` applied every ``every`` epochs, up to epoch
    ``last`` (``None``: no limit). Paper: pretraining x0.1 every 200 epochs; fine-tuning x0.5
    every 15 epochs until the 60th."""
    e = epoch if last is None else min(epoch, last)
    return gamma ** (e // every)


def total_norm(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The 2-norm of all ``tensors`` together (torch's foreach kernels where it has them, 2.6+)."""
    get = getattr(torch.nn.utils, "get_total_norm", None)
    if get is not None:
        return get(tensors)
    return torch.stack([t.norm() for t in tensors]).norm()


def logs_this_step(trainer) -> bool:
    """Whether Lightning writes this training step's ``self.log`` values to the loggers (its
    logger connector's own rule); True where that rule cannot be read (then measured, as before)."""
    connector = getattr(trainer, "_logger_connector", None)
    try:
        return bool(connector.should_update_logs) if connector is not None else True
    except (AttributeError, NotImplementedError, RuntimeError):
        return True


class TrainModule(L.LightningModule):
    """Adam over the trainable parameters with a per-epoch step schedule (:func:`step_factor`).

    Under a step budget the caller sets ``schedule_epoch_steps`` (steps per nominal epoch, see
    :mod:`~skipclip.config.budget`): the schedule then advances every optimiser step, at
    ``step / schedule_epoch_steps`` epochs, so it keeps its shape whatever the data size.

    Args:
        lr, weight_decay: Adam.
        lr_step_epochs, lr_gamma, lr_last_step_epoch: the schedule (see :func:`step_factor`).
        on_nonfinite: ``"stop"`` raises on a non-finite loss, ``"skip"`` skips the batch.
    """

    def __init__(
        self,
        *,
        lr: float,
        weight_decay: float,
        lr_step_epochs: int,
        lr_gamma: float,
        lr_last_step_epoch: int | None = None,
        on_nonfinite: str = "stop",
    ):
        super().__init__()
        if on_nonfinite not in ("stop", "skip"):
            raise InvalidInputError(f"on_nonfinite must be 'stop' or 'skip', got {on_nonfinite!r}")
        self.lr, self.weight_decay = lr, weight_decay
        self.lr_step_epochs, self.lr_gamma, self.lr_last_step_epoch = lr_step_epochs, lr_gamma, lr_last_step_epoch
        self.on_nonfinite = on_nonfinite
        self.skipped_nonfinite = 0
        self.schedule_epoch_steps: float | None = None

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay, **fused_adam())
        every, gamma, last = self.lr_step_epochs, self.lr_gamma, self.lr_last_step_epoch
        per = self.schedule_epoch_steps
        if per:  # a step budget: nominal epochs of `per` steps
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: step_factor(int(s // per), every, gamma, last))
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: step_factor(e, every, gamma, last))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}

    def nonfinite(self, terms: dict, batch_idx: int) -> bool:
        """Whether any loss term is non-finite on any process (all processes agree). With
        ``on_nonfinite="stop"`` raises naming the term; with ``"skip"`` counts and returns True.

        Raises:
            FloatingPointError: a non-finite term under ``"stop"``.
        """

        bad = [name for name, value in terms.items() if not torch.isfinite(value)]
        loss_device = next(iter(terms.values())).device
        if not any_rank(bool(bad), loss_device):
            return False
        bad = bad or ["another process's"]
        message = (
            f"non-finite {', '.join(bad)} loss at step {self.global_step} "
            f"(epoch {self.current_epoch}, batch {batch_idx}): "
            + ", ".join(f"{k}={v.item():.4g}" for k, v in terms.items())
        )
        if self.on_nonfinite == "stop":
            raise FloatingPointError(
                message + "; lower the learning rate, or pass --on-nonfinite skip to skip such batches"
            )
        self.skipped_nonfinite += 1
        self.print(f"skipping batch: {message}")
        return True

    def on_before_optimizer_step(self, optimizer):
        """Logs the global gradient norm, measured only at the steps Lightning writes to the logs
        (every ``trainer.log_every_n_steps``): measured at every step it cost 3.4 ms of
        ``cpu-real``'s 140 ms, for values Lightning then drops."""
        if not logs_this_step(self.trainer):
            return
        grads = [p.grad.detach() for p in self.parameters() if p.grad is not None]
        if grads:
            self.log("train/grad_norm", total_norm(grads))
