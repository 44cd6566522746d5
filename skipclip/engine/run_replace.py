"""``--force`` replaces a run as a set, as ``export --force`` replaces an export: the new run is
written beside the old one, in a sibling folder ``.NAME.new-*``, and swapped in when it has its
first checkpoint (the old folder renamed away, the new one renamed in, the old one deleted). Until
then the old run stays where it was, whole; a SIGKILL at any moment leaves the old run or the new
one in ``NAME``, never neither (a kill between the two renames leaves the old run as
``.NAME.old-*``, put back by the next command on ``NAME``).

After the swap the sibling name becomes a symbolic link to ``NAME``, so the trainer's files
(checkpoints, logs, figures) keep landing in the run; :func:`end_replacement` removes it. A run
that ends before its first checkpoint (an error, Ctrl+C) leaves the old run in place and its own
folder is deleted.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

from skipclip.engine.run_lock import lock_run_dir, move_lock, release_run_dir
from skipclip.errors import OutputExistsError
from skipclip.utils.io import current_umask, fsync_dir, restore_replaced

log = logging.getLogger(__name__)

_pending: dict[Path, Path] = {}  # the new run's folder (absolute) -> the run folder it replaces
_swapped: dict[Path, Path] = {}  # likewise, once swapped in


def _news(out: Path) -> list[Path]:
    return sorted(out.parent.glob(f".{out.name}.new-*"))


def settle(out: str | Path) -> None:
    """Finish what a killed replacement of ``out`` left: put the old run back when a kill came
    between the swap's two renames (``out`` missing); with ``out``'s lock held, delete the new
    run folders and old runs left beside it. Safe to call on any folder."""
    out = Path(out).absolute()
    if restore_replaced(out):
        log.warning("put back %s: a --force run was killed while swapping it in", out)
    if not out.is_dir():
        return
    for new in _news(out):
        if new in _pending or new in _swapped:
            continue  # this process's own
        if new.is_symlink():
            new.unlink(missing_ok=True)
        elif new.is_dir():
            shutil.rmtree(new, ignore_errors=True)
    for old in sorted(out.parent.glob(f".{out.name}.old-*")):  # out exists: the swap completed
        shutil.rmtree(old, ignore_errors=True)


def begin_replacement(out: str | Path) -> Path:
    """A new folder beside ``out`` (locked) for the run that will replace it; ``out`` keeps its
    lock until the swap. Returns the new folder."""
    out = Path(out).absolute()
    new = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.new-"))
    os.chmod(new, 0o777 & ~current_umask())  # mkdtemp creates 0700 whatever the umask
    lock_run_dir(new)
    _pending[new] = out
    return new


def replacing(work: str | Path) -> Path | None:
    """The run folder ``work`` is replacing, while it is not swapped in yet."""
    return _pending.get(Path(work).absolute())


def run_folder(work: str | Path) -> Path:
    """The run folder ``work`` writes for: the one it replaces (or replaced), else ``work``."""
    work = Path(work)
    return _pending.get(work) or _swapped.get(work) or work


def after_checkpoint(checkpoint: str | Path) -> None:
    """Called once a checkpoint file is written: the first one of a replacing run swaps it in."""
    folder = Path(checkpoint).absolute().parent.parent
    out = _pending.get(folder)
    if out is not None:
        swap(folder)


def swap(work: Path) -> Path:
    """Swap the new run ``work`` in for the old one; returns the run folder."""
    work = Path(work).absolute()
    out = _pending.pop(work)
    old = out.parent / f".{out.name}.old-{os.getpid()}-{os.urandom(4).hex()}"
    fsync_dir(work)
    if out.exists():
        os.rename(out, old)
    os.rename(work, out)
    os.symlink(out.name, work)  # the trainer's paths still name work
    fsync_dir(out.parent)
    move_lock(work, out)  # the new run's lock is now out's; the old run's is released
    _swapped[work] = out
    shutil.rmtree(old, ignore_errors=True)
    log.info("replaced %s with the new run", out)
    return out


def end_replacement(work: str | Path, finished: bool) -> Path:
    """At the end of a replacing run: swap it in when it finished without a checkpoint, discard
    it (the old run stays) when it did not; remove the sibling link. Returns the run folder."""
    work = Path(work).absolute()
    if work in _pending:
        out = _pending[work]
        if finished:
            swap(work)
        else:
            _pending.pop(work)
            release_run_dir(work)
            release_run_dir(out)
            shutil.rmtree(work, ignore_errors=True)
            log.warning("the new run ended before its first checkpoint; %s keeps the old run", out)
            return out
    out = _swapped.pop(work, None)
    if out is None:
        return work
    if work.is_symlink():
        work.unlink()
    return out


RUN_ENTRIES = ("config.yaml", "run.json", "checkpoints", "logs", "figures", "report.json")  # a run's own


def holds_run(out: Path) -> bool:
    """Whether ``out`` holds a run's files (which ``--force`` replaces as a set)."""
    return any((Path(out) / name).exists() or (Path(out) / name).is_symlink() for name in RUN_ENTRIES)


def refuse_foreign_entries(out: Path) -> None:
    """``--force`` replaces the run folder as a whole: refuse when it also holds what is not a
    run's (a features file, an export, the user's own files), which would go with the old run.

    Raises:
        OutputExistsError: naming them.
    """
    out = Path(out)
    if not out.is_dir() or not holds_run(out):
        return
    others = sorted(p.name for p in out.iterdir() if p.name not in RUN_ENTRIES and not p.name.startswith("."))
    if others:
        raise OutputExistsError(
            f"{out} holds a run and other files ({', '.join(others[:5])}); --force replaces a run "
            "folder as a whole and would delete them: move them out first, or choose another --out"
        )


__all__ = [
    "RUN_ENTRIES",
    "after_checkpoint",
    "begin_replacement",
    "end_replacement",
    "holds_run",
    "refuse_foreign_entries",
    "replacing",
    "run_folder",
    "settle",
    "swap",
]
