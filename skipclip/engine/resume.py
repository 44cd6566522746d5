"""Where a run is, saved in every checkpoint, so a killed run resumes exactly.

Lightning restores the model, optimiser, scheduler and loop counters; it does not restore the
random streams, nor the position of a sampler that is not a stateful loader. The
:class:`TrainingPosition` callback adds both: each rank's RNG states (torch, CUDA, NumPy, Python)
and (epoch, batches done) of the :class:`~skipclip.data.sampling.epoch_sampler.EpochSampler`. It also
counts the videos the data set had to skip, so the run summary can report them.
"""

from __future__ import annotations

import logging
import random
import time

import lightning as L
import numpy as np
import torch

from skipclip.batch import from_batch
from skipclip.errors import InvalidInputError
from skipclip.utils import dist

log = logging.getLogger(__name__)


def seed_for_rank(seed: int, rank: int) -> int:
    """A per-rank seed, distinct across ranks and a pure function of (seed, rank)."""
    return int(np.random.SeedSequence([seed, rank]).generate_state(1, dtype=np.uint32)[0])


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds every CUDA device too


def rng_states() -> dict:
    """The global random streams, as types ``torch.load(weights_only=True)`` accepts."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    numpy_state = {
        "name": name,
        "keys": torch.from_numpy(keys.astype(np.int64)),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "gauss": float(gauss),
    }
    states = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict) -> None:
    random.setstate(states["python"])
    n = states["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _gather_objects(obj) -> list:
    if not dist.is_distributed():
        return [obj]
    out = [None] * dist.world_size()
    torch.distributed.all_gather_object(out, obj)
    return out


class TrainingPosition(L.Callback):
    """Keeps the sampler and data set on the trainer's epoch, and checkpoints the position.

    Args:
        loader: the training loader; its ``sampler`` must have ``set_epoch`` and ``start``
            (:class:`~skipclip.data.sampling.epoch_sampler.EpochSampler`); its dataset's ``set_epoch`` is
            called when present.
        seed: each rank's random streams start from ``seed_for_rank(seed, rank)`` on a fresh run.
    """

    def __init__(self, loader, seed: int = 0):
        self.sampler = loader.sampler
        self.dataset = loader.dataset
        self.batch_size = loader.batch_size
        self.seed = seed
        self.epoch = 0
        self.batches_done = 0
        self.epoch_done = False
        self.skipped_videos = 0  # this rank's, since the run started (resumes included)
        self.total_skipped_videos = 0  # all ranks, set at the end of fit
        self.failed_videos: dict[str, str] = {}  # name -> reason, from the batches (any worker count)
        self._restored_rng: list | None = None
        self.wall_before = 0.0  # training seconds of the earlier attempts, up to the checkpoint resumed from
        self._fit_start: float | None = None

    def _position(self, epoch: int, start: int) -> None:
        self.sampler.set_epoch(epoch)
        self.sampler.start = start
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    # ------------------------------------------------------------------ training hooks
    def on_train_start(self, trainer, pl_module):
        self._fit_start = time.time()
        if self._restored_rng is not None and self.batches_done and self.batches_done >= trainer.num_training_batches:
            # checkpointed after the epoch's last batch, before its end: Lightning counts that epoch
            # as done and starts the next without on_train_epoch_start, so position it here
            self.epoch, self.batches_done = self.epoch + 1, 0
            self._position(self.epoch, 0)
        if self._restored_rng is not None:
            r, w = trainer.global_rank, trainer.world_size
            if len(self._restored_rng) == w:
                set_rng_states(self._restored_rng[r])
            else:
                log.warning(
                    "resumed on %d processes from a run on %d: random streams are re-seeded, "
                    "so the continuation is not bit-exact",
                    w,
                    len(self._restored_rng),
                )
                seed_all(seed_for_rank(self.seed + trainer.current_epoch, r))
            self._restored_rng = None
        else:
            seed_all(seed_for_rank(self.seed, trainer.global_rank))

    def on_train_epoch_start(self, trainer, pl_module):
        self.epoch, self.batches_done, self.epoch_done = trainer.current_epoch, 0, False
        self._position(self.epoch, 0)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.epoch = trainer.current_epoch
        self.batches_done = batch_idx + 1
        skipped = batch.get("skipped") if isinstance(batch, dict) else getattr(batch, "skipped", None)
        if skipped is not None:
            self.skipped_videos += int(skipped.sum())
        self.failed_videos.update(from_batch(batch))

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self.failed_videos.update(from_batch(batch))

    def on_train_epoch_end(self, trainer, pl_module):
        self.epoch_done = True

    def on_train_end(self, trainer, pl_module):
        self.total_skipped_videos = int(sum(_gather_objects(self.skipped_videos)))
        for failed in _gather_objects(self.failed_videos):
            self.failed_videos.update(failed)

    # ------------------------------------------------------------------ checkpoint state
    def state_dict(self) -> dict:
        # called on every rank when a checkpoint is written (rank 0 writes the file)
        per_rank = _gather_objects(
            {"rng": rng_states(), "skipped_videos": self.skipped_videos, "failed_videos": dict(self.failed_videos)}
        )
        return {
            "epoch": self.epoch,
            "batches_done": self.batches_done,
            "epoch_done": self.epoch_done,
            "batch_size": self.batch_size,
            "world_size": len(per_rank),
            "rng": [s["rng"] for s in per_rank],
            "skipped_videos": [s["skipped_videos"] for s in per_rank],
            "failed_videos": {k: v for s in per_rank for k, v in s["failed_videos"].items()},
            "wall_s": self.wall_s(),
        }

    def wall_s(self) -> float:
        """Training seconds of the whole run so far: the earlier attempts' (to the checkpoint this
        one resumed from) plus this one's."""
        return self.wall_before + (time.time() - self._fit_start if self._fit_start is not None else 0.0)

    def load_state_dict(self, state: dict) -> None:
        # runs before the training loader is first iterated, so workers see the right epoch
        if state["epoch_done"]:
            epoch, start = state["epoch"] + 1, 0
        else:
            epoch, start = state["epoch"], state["batches_done"] * state["batch_size"]
        same_world = state["world_size"] == dist.world_size()
        if start and not same_world:
            log.warning(
                "mid-epoch checkpoint of a %d-process run resumed on %d: the rest of epoch %d "
                "starts over on a new split of the videos",
                state["world_size"],
                dist.world_size(),
                epoch,
            )
        if state["batch_size"] != self.batch_size:
            raise InvalidInputError(
                f"the checkpoint was trained with batch size {state['batch_size']}, "
                f"this run has {self.batch_size}; resume with the same batch size"
            )
        self.epoch, self.batches_done, self.epoch_done = epoch, (start // self.batch_size) if same_world else 0, False
        self._position(epoch, start if same_world else 0)
        self._restored_rng = state["rng"]
        self.skipped_videos = state["skipped_videos"][dist.rank()] if same_world else 0
        self.failed_videos = dict(state.get("failed_videos", {}))
        self.wall_before = float(state.get("wall_s", 0.0))
