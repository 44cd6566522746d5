"""A run's plan, worked out once at its start and handed down: where it trains (accelerator,
devices, nodes), how many processes that makes and what follows (DDP, synchronised batch norm),
the videos or clips each process takes per step, and the budget. Recipes make it with
:func:`plan_run`; :func:`~skipclip.engine.fit.fit` and the Trainer factory receive it."""

from __future__ import annotations

from dataclasses import dataclass

from skipclip.config import Config
from skipclip.config.budget import Budget
from skipclip.engine.trainer import ProcessPlan, check_devices, process_plan
from skipclip.utils.dist import batch_per_process


@dataclass(frozen=True)
class RunPlan:
    """How a run trains.

    Attributes:
        devices, num_nodes: what the Trainer is given (``trainer.devices`` / ``num_nodes``, or the
            caller's: library callers such as the demo train on one device).
        processes: world size, strategy and synchronised batch norm (:func:`~skipclip.engine.trainer.process_plan`).
        batch_per_process: videos (pretraining) or clips (fine-tuning) per process and step.
        budget: how long it trains, and how often it validates.
    """

    devices: int | str | list[int]
    num_nodes: int
    processes: ProcessPlan
    batch_per_process: int
    budget: Budget

    @property
    def world_size(self) -> int:
        return self.processes.world_size

    @property
    def global_batch(self) -> int:
        return self.batch_per_process * self.world_size


def plan_run(
    cfg: Config,
    budget: Budget,
    batch_size: int,
    *,
    batch_key: str = "data.batch_size",
    devices: int | str | list[int] | None = None,
    num_nodes: int | None = None,
) -> RunPlan:
    """The plan of a run under ``cfg`` (``devices`` / ``num_nodes`` default to ``cfg.trainer``'s):
    devices this machine cannot give are refused first, then the processes are counted once and
    ``batch_size`` (``data.batch_per``: per device, or the global batch) shared among them.

    Raises:
        InvalidInputError: GPU ids this machine does not have, or on a CPU run.
        ValueError: a global batch the processes cannot share evenly (naming ``batch_key``).
    """
    check_devices(cfg)
    devices = cfg.trainer.devices if devices is None else devices
    num_nodes = cfg.trainer.num_nodes if num_nodes is None else num_nodes
    processes = process_plan(cfg, devices, num_nodes)
    batch = batch_per_process(batch_size, cfg.data.batch_per, processes.world_size, key=batch_key)
    return RunPlan(devices, num_nodes, processes, batch, budget)


__all__ = ["RunPlan", "plan_run"]
