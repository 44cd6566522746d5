"""The one reader and writer of checkpoint and weight files: atomic writes that survive a kill at
any moment, safe reads (tensors only, never pickled code), the kind of a file, and the Trainer
pieces of a resumable run.

Lightning's own ``TorchCheckpointIO`` writes through an fsspec transaction whose temporary file
lives in the system temp folder and is *moved* (a copy across file systems) without an fsync, so
a kill mid-write can leave a truncated ``last.ckpt``. :class:`AtomicCheckpointIO` writes to a
temporary file next to the target, fsyncs it, then renames it over the target: a reader sees the
old checkpoint or the new one, never half of one.

:func:`fit_kit` gives any task (pretraining, fine-tuning) the callbacks, plugins and ``ckpt_path``
of a run folder that can be resumed exactly with ``--resume``.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint

log = logging.getLogger(__name__)

LAST = "last.ckpt"
TMP_SUFFIX = ".tmp"


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write`` on a temporary file in ``path``'s folder, fsync, then rename over ``path``:
    a kill at any moment leaves either the old file or the new one, whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda fh: torch.save(obj, fh))


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files a killed writer left in ``folder``; returns what was removed."""
    folder = Path(folder)
    stale = sorted(folder.glob(f".*{TMP_SUFFIX}")) if folder.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    if stale:
        log.info("removed %d unfinished checkpoint file(s) in %s", len(stale), folder)
    return stale


def inside(path: str | Path, folder: str | Path) -> bool:
    """Whether ``path``, resolved (``..`` and symbolic links followed), lies inside ``folder``."""
    try:
        return Path(path).resolve().is_relative_to(Path(folder).resolve())
    except (OSError, RuntimeError, ValueError, TypeError):
        return False


class CheckpointRemovalRefused(ValueError):
    """A checkpoint removal that would reach outside the run's checkpoint folder or a folder."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint IO that writes each file atomically (tmp + fsync + rename).

    Pass it as ``L.Trainer(plugins=[AtomicCheckpointIO(root=out / "checkpoints")])``; under DDP
    only rank 0 writes. Removal is confined: only a regular file (never a folder, never
    recursively) inside ``root`` is ever deleted, whatever path a checkpoint's state names.
    """

    def __init__(self, root: str | Path | None = None):
        super().__init__()
        self.root = Path(root) if root is not None else None

    def remove_checkpoint(self, path) -> None:
        path = Path(path)
        if self.root is None or not inside(path, self.root):
            log.warning("not removing %s: it is not inside the run's checkpoint folder %s", path, self.root)
            return
        if path.is_symlink() or not path.exists():
            path.unlink(missing_ok=True)  # a link itself, never what it points to
            return
        if not path.is_file():
            log.warning("not removing %s: it is not a checkpoint file", path)
            return
        path.unlink()
        log.debug("removed checkpoint %s", path)

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options, got {storage_options!r}")
        atomic_torch_save(checkpoint, path)

    def load_checkpoint(self, path, map_location: Any = lambda storage, loc: storage,
                        weights_only: bool | None = None) -> dict[str, Any]:
        """Lightning's load, always with ``weights_only=True``: a checkpoint is data, never code."""
        if weights_only is False:
            raise UnsafeCheckpointError(f"refusing to load {path} with weights_only=False")
        return super().load_checkpoint(path, map_location=map_location, weights_only=True)


def _score(value) -> torch.Tensor | None:
    """A checkpoint's monitored score as a 0-d float tensor, or None when it is not one."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.is_floating_point():
        return value.detach().reshape(())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return torch.tensor(float(value))
    return None


class RunCheckpoint(ModelCheckpoint):
    """Lightning's ``ModelCheckpoint`` whose restored state is data, never a path to act on.

    A checkpoint's callback state names files the callback later deletes (older epochs, the
    previous ``last``). Lightning restores those names as written and checks them by comparing
    text, which ``..`` defeats. Here only the fields skipclip needs are restored, each path is
    resolved and kept only when it names a ``.ckpt`` file inside this callback's folder; anything
    else is dropped with a warning (the run goes on; at worst an old checkpoint is kept).
    """

    def _safe_path(self, value, field_name: str) -> str:
        if value in ("", None):
            return ""
        if isinstance(value, str) and value.endswith(".ckpt") and inside(value, self.dirpath) \
                and Path(value).resolve().parent == Path(self.dirpath).resolve():
            return str(Path(self.dirpath) / Path(value).name)
        log.warning("checkpoint state field %s=%r is not a checkpoint file in %s; ignored",
                    field_name, value if isinstance(value, str) else type(value).__name__, self.dirpath)
        return ""

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if not isinstance(state_dict, dict):
            log.warning("checkpoint callback state is a %s, not a dict; ignored", type(state_dict).__name__)
            return
        same_folder = isinstance(state_dict.get("dirpath"), str) and self.dirpath is not None and \
            inside(state_dict["dirpath"], self.dirpath) and inside(self.dirpath, state_dict["dirpath"])
        self.best_model_path = self._safe_path(state_dict.get("best_model_path"), "best_model_path")
        if not same_folder:
            return  # a run folder moved or a foreign state: start the bookkeeping afresh
        self.best_model_score = _score(state_dict.get("best_model_score"))
        self.kth_value = _score(state_dict.get("kth_value")) if state_dict.get("kth_value") is not None \
            else self.kth_value
        self.kth_best_model_path = self._safe_path(state_dict.get("kth_best_model_path"), "kth_best_model_path")
        self.last_model_path = self._safe_path(state_dict.get("last_model_path"), "last_model_path")
        best = state_dict.get("best_k_models")
        kept = {}
        if isinstance(best, dict):
            for path, score in best.items():
                safe, value = self._safe_path(path, "best_k_models"), _score(score)
                if safe and value is not None:
                    kept[safe] = value
        self.best_k_models = kept


def resume_path(out: str | Path, resume: bool) -> str | None:
    """``out/checkpoints/last.ckpt`` when resuming and it exists, else None (a fresh start).

    ``last.ckpt`` is read once through :func:`read_checkpoint` (tensors only) before Lightning
    sees it, so a crafted or foreign file is a clear error, not code run or a traceback.

    Raises:
        UnsafeCheckpointError: ``last.ckpt`` holds pickled objects (never loaded).
        ValueError: ``last.ckpt`` exists but is not a training checkpoint of this code.
    """
    if not resume:
        return None
    folder = Path(out) / "checkpoints"
    remove_stale_temporaries(folder)
    last = folder / LAST
    if not last.exists():
        log.warning("--resume given but %s does not exist; starting from scratch", last)
        return None
    obj = read_checkpoint(last)
    missing = [k for k in RESUME_KEYS if k not in obj]
    if missing:
        raise ValueError(f"{last} is not a training checkpoint written by `skipclip pretrain` (no {', '.join(missing)}); "
                         "--resume cannot continue from it. Move it away to start afresh, or use --force")
    return str(last)


RESUME_KEYS = ("state_dict", "optimizer_states", "loops")


@dataclass
class FitKit:
    """What a resumable ``trainer.fit`` needs: ``L.Trainer(callbacks=kit.callbacks,
    plugins=kit.plugins, use_distributed_sampler=False)`` then ``trainer.fit(..., ckpt_path=kit.ckpt_path)``."""

    callbacks: list = field(default_factory=list)
    plugins: list = field(default_factory=list)
    ckpt_path: str | None = None
    position: Any = None  # the TrainingPosition callback (skipped-video counts for the summary)


def fit_kit(out: str | Path, train_loader, *, keep: int = 3, every_n_steps: int | None = 50,
            seed: int = 0, resume: bool = False, save_on_train_epoch_end: bool | None = None) -> FitKit:
    """Checkpointing and exact-resume machinery for a run folder.

    Writes ``out/checkpoints/last.ckpt`` every ``every_n_steps`` optimiser steps (mid-epoch) and
    at every epoch end, and keeps the last ``keep`` end-of-epoch checkpoints
    (``epoch0003.ckpt``...). All writes are atomic. The loader must come from
    :func:`skipclip.data.epoch_sampler.epoch_loader`, whose sampler can restart mid-epoch.

    Args:
        out: the run folder.
        train_loader: the training loader (its sampler and dataset are positioned on resume).
        keep: end-of-epoch checkpoints to keep.
        every_n_steps: steps between mid-epoch ``last.ckpt`` writes; None or 0 for epoch ends only.
        seed: the run's seed; each rank's random streams are seeded from (seed, rank).
        resume: continue from ``last.ckpt`` when it exists.
        save_on_train_epoch_end: write the epoch checkpoint at each epoch end, after that epoch's
            validation (``True``; needed when validation runs only every few epochs), or let
            Lightning choose (``None``).

    Raises:
        ValueError: ``keep`` < 1 or ``every_n_steps`` < 0.
    """
    from skipclip.engine.resume import TrainingPosition

    if keep < 1:
        raise ValueError(f"keep must be >= 1 (checkpoints to keep), got {keep}")
    if every_n_steps is not None and every_n_steps < 0:
        raise ValueError(f"every_n_steps must be >= 0, got {every_n_steps}")
    folder = Path(out) / "checkpoints"
    epochs = RunCheckpoint(dirpath=folder, filename="epoch{epoch:04d}", auto_insert_metric_name=False,
                             save_last=True, save_top_k=keep, monitor="epoch", mode="max", every_n_epochs=1,
                             enable_version_counter=False,  # both callbacks write the one last.ckpt
                             save_on_train_epoch_end=save_on_train_epoch_end)
    callbacks = [epochs]
    if every_n_steps:
        callbacks.append(RunCheckpoint(dirpath=folder, filename="step", save_last=True, save_top_k=0,
                                         every_n_train_steps=every_n_steps, enable_version_counter=False))
    position = TrainingPosition(train_loader, seed=seed)
    return FitKit(callbacks=[position, *callbacks], plugins=[AtomicCheckpointIO(root=folder)],
                  ckpt_path=resume_path(out, resume), position=position)


# ---------------------------------------------------------------------------------------- reading
# where each kind of checkpoint keeps the context encoder g (and Skip-Clip's frame encoder f)
SKIPCLIP_PREFIXES = ("model.", "")  # "model.context_encoder.*"; "" reads checkpoints of skipclip 0.1
CLASSIFIER_ENCODER = "encoder."


class UnsafeCheckpointError(ValueError):
    """A file that can only be read by running pickled code; refused."""


def read_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint or state-dict file onto the CPU, tensors and plain containers only
    (a ``.safetensors`` file from ``skipclip export`` reads as the checkpoint it came from).

    Weight files are data, never code: ``torch.load(weights_only=True)`` refuses any pickled
    object other than tensors and plain Python containers, and a file that needs more is refused.

    Raises:
        FileNotFoundError: no such file.
        UnsafeCheckpointError: the file holds pickled objects that would run code when loaded.
        ValueError: not a PyTorch file, or not a dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if path.suffix == ".safetensors":  # an encoder from `skipclip export`, or any safetensors state dict
        from skipclip.engine.export import exported_as_checkpoint

        return exported_as_checkpoint(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises UnpicklingError, RuntimeError, EOFError...
        text = str(exc)
        if "GLOBAL" in text or "Unsupported global" in text:  # a pickled object: code would run
            raise UnsafeCheckpointError(
                f"{path} holds pickled Python objects, not only tensors; skipclip never runs code from a "
                "weight file. If you trust its author, convert it once in Python: "
                "sd = torch.load(path, weights_only=False)['state_dict']; "
                "torch.save({k: v for k, v in sd.items() if torch.is_tensor(v)}, 'weights.pt')") from None
        raise ValueError(f"{path} is not a PyTorch checkpoint or state dict ({type(exc).__name__}); "
                         "give a file written by torch.save or `skipclip export`") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path} holds a {type(obj).__name__}, not a checkpoint or a state dict")
    return obj


def state_dict_of(obj: dict) -> dict:
    """The tensors of a checkpoint (Lightning's ``state_dict``, ``model``, ``model_state_dict``) or
    of a bare state dict, with DDP's ``module.`` prefix removed."""
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    return {k.removeprefix("module."): v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def sub_state(obj: dict, prefix: str) -> dict:
    """The tensors under ``prefix``, with the prefix removed."""
    return {k[len(prefix):]: v for k, v in state_dict_of(obj).items() if k.startswith(prefix)}


def skipclip_prefix(obj: dict) -> str | None:
    """The prefix under which a Skip-Clip checkpoint keeps its encoders, or ``None``."""
    keys = state_dict_of(obj)
    for prefix in SKIPCLIP_PREFIXES:
        if any(k.startswith(prefix + "context_encoder.") for k in keys):
            return prefix
    return None


def checkpoint_kind(obj: dict) -> str:
    """``"skipclip"`` (pretraining), ``"classifier"`` (fine-tuned: ``encoder.*`` + ``head.*``),
    ``"resnet2d"`` (a torchvision-format 2D ResNet state dict) or ``"unknown"``."""
    keys = set(state_dict_of(obj))
    if skipclip_prefix(obj) is not None:
        return "skipclip"
    if any(k.startswith("encoder.trunk.") for k in keys) and any(k.startswith("head.fc.") for k in keys):
        return "classifier"
    if "conv1.weight" in keys and any(k.startswith("layer1.") for k in keys):
        return "resnet2d"
    return "unknown"


def encoder_state(obj: dict, which: str = "context") -> dict:
    """g's (``which="context"``) or f's (``"frame"``) weights of a Skip-Clip checkpoint, or g's of
    a fine-tuned classifier checkpoint.

    Raises:
        ValueError: the checkpoint holds no such encoder.
    """
    prefix = skipclip_prefix(obj)
    if prefix is not None:
        return sub_state(obj, f"{prefix}{which}_encoder.")
    if which == "context" and checkpoint_kind(obj) == "classifier":
        return sub_state(obj, CLASSIFIER_ENCODER)
    raise ValueError(f"no {which} encoder in this checkpoint ({describe(obj)})")


def describe(obj: dict) -> str:
    keys = list(state_dict_of(obj))
    return f"{len(keys)} tensors, e.g. {keys[:3]}" if keys else "no tensors"


def checkpoint_config(obj: dict) -> dict:
    """The run configuration recorded in a checkpoint (``{}`` when absent)."""
    return dict(((obj.get("hyper_parameters") or {}).get("config")) or {})


def load_checked(module: torch.nn.Module, state: dict, what: str) -> None:
    """``load_state_dict(strict=True)`` with a message naming the first bad key and both shapes.

    Raises:
        ValueError: missing or unexpected keys, or a shape mismatch.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise ValueError(f"{what} does not fit the model: missing {missing[:3]}, unexpected {unexpected[:3]} "
                         f"({len(missing)} missing, {len(unexpected)} unexpected); was it made with another "
                         "--arch or preset?")
    for k, v in state.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise ValueError(f"{what}: key {k!r} has shape {tuple(v.shape)} but the model expects "
                             f"{tuple(own[k].shape)}; check model.width / model.context_arch of the config")
    module.load_state_dict(state, strict=True)
