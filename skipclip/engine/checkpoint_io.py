"""The writer and Lightning-side reader of checkpoint files: atomic writes that survive a kill at
any moment, removal confined to the run's checkpoint folder, and loads of tensors only.

Lightning's own ``TorchCheckpointIO`` writes through an fsspec transaction whose temporary file
lives in the system temp folder and is *moved* (a copy across file systems) without an fsync, so
a kill mid-write can leave a truncated ``last.ckpt``. :class:`AtomicCheckpointIO` writes to a
temporary file next to the target, fsyncs it, then renames it over the target: a reader sees the
old checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from skipclip.engine.run_replace import after_checkpoint
from skipclip.utils.io import TMP_SUFFIX, atomic_torch_save, link_over
from skipclip.weights.read import UnsafeCheckpointError

log = logging.getLogger(__name__)

LAST = "last.ckpt"


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


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint IO that writes each file atomically (tmp + fsync + rename).

    Pass it as ``L.Trainer(plugins=[AtomicCheckpointIO(root=out / "checkpoints")])``; under DDP
    only rank 0 writes. Removal is confined: only a regular file (never a folder, never
    recursively) inside ``root`` is ever deleted, whatever path a checkpoint's state names.
    """

    def __init__(self, root: str | Path | None = None):
        super().__init__()
        self.root = Path(root) if root is not None else None
        self._written: tuple[Path, Any, Any] | None = None  # the last epoch checkpoint: (path, step, epoch)

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
        path = Path(path)
        twin = self._twin(checkpoint, path)
        if twin is None or not link_over(twin, path):
            atomic_torch_save(checkpoint, path)
        if path.name == LAST:  # a --force run's first resumable checkpoint swaps it in for the old run
            after_checkpoint(path)
        else:
            self._written = (path, checkpoint.get("global_step"), checkpoint.get("epoch"))

    def _twin(self, checkpoint: dict[str, Any], path: Path) -> Path | None:
        """The epoch checkpoint written just before at the same step, beside ``path``, when
        ``path`` is ``last.ckpt``: Lightning writes the two one after the other with the same
        weights, optimiser and loop state, so ``last.ckpt`` can be a second name for it (a hard
        link, one write of 34 MB fewer at each of cpu-real's validations) rather than a copy."""
        if path.name != LAST or self._written is None:
            return None
        twin, step, epoch = self._written
        same = step == checkpoint.get("global_step") and epoch == checkpoint.get("epoch")
        return twin if same and twin.parent == path.parent and twin.is_file() else None

    def load_checkpoint(
        self, path, map_location: Any = lambda storage, loc: storage, weights_only: bool | None = None
    ) -> dict[str, Any]:
        """Lightning's load, always with ``weights_only=True``: a checkpoint is data, never code."""
        if weights_only is False:
            raise UnsafeCheckpointError(f"refusing to load {path} with weights_only=False")
        return super().load_checkpoint(path, map_location=map_location, weights_only=True)


__all__ = ["LAST", "AtomicCheckpointIO", "inside", "remove_stale_temporaries"]
