"""Atomic checkpoint writes: a process SIGKILLed in the middle of writing leaves the previous
checkpoint whole; the leftover temporary is cleaned up on resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import lightning as L
import pytest
import torch

from skipclip.engine.checkpoint_io import AtomicCheckpointIO, remove_stale_temporaries
from skipclip.engine.checkpoints import fit_kit, resume_path
from skipclip.utils.io import atomic_torch_save

from helpers import child_env

KILLED_MID_WRITE = textwrap.dedent("""
    import os, signal, sys, torch
    from skipclip.utils.io import atomic_torch_save

    class KillWhilePickled:  # pickled after the big tensor's bytes started going out
        def __reduce__(self):
            os.kill(os.getpid(), signal.SIGKILL)

    path = sys.argv[1]
    old = {"version": 1, "w": torch.ones(1000), "state_dict": {}, "optimizer_states": [], "loops": {}}
    atomic_torch_save(old, path)
    atomic_torch_save({"version": 2, "w": torch.zeros(1_000_000), "z": KillWhilePickled()}, path)
""")


@pytest.mark.e2e
def test_sigkill_while_writing_keeps_the_previous_checkpoint(tmp_path):
    path = tmp_path / "checkpoints" / "last.ckpt"
    proc = subprocess.run([sys.executable, "-c", KILLED_MID_WRITE, str(path)], env=child_env(), timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert torch.load(path, weights_only=True)["version"] == 1  # the old one, whole
    stale = list(path.parent.glob(".last.ckpt.*.tmp"))
    assert len(stale) == 1  # the unfinished new one
    assert resume_path(tmp_path, resume=True) == str(path)
    assert len(list(path.parent.glob("*.tmp"))) == 1  # not before the lock: it could be a live writer's
    assert remove_stale_temporaries(path.parent) and not list(path.parent.glob("*.tmp"))


def test_a_resume_removes_stale_temporaries_only_under_the_runs_lock(tmp_path):
    """A second `--resume` on a live run must not delete the live writer's temporary file (it
    did, before taking the lock, and the first run then died on its rename)."""
    from skipclip.config import load_config
    from skipclip.engine.runs import finish_run, start_run

    cfg = load_config("cpu")
    out = start_run(tmp_path / "run", cfg, None, resume=False, force=False, kind="pretrain")
    stale = out / "checkpoints" / ".last.ckpt.123.tmp"
    stale.parent.mkdir()
    stale.write_bytes(b"half")
    assert resume_path(out, resume=True) is None and stale.exists()  # checked, not touched
    finish_run(out, status="interrupted")
    start_run(out, cfg, None, resume=True, force=False, kind="pretrain")  # the lock is this run's now
    assert not stale.exists()
    finish_run(out, status="finished")


def test_failed_write_leaves_no_temporary_and_old_file(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    atomic_torch_save({"v": 1}, path)

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError, match="No space"):
        AtomicCheckpointIO().save_checkpoint({"v": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]
    assert remove_stale_temporaries(tmp_path) == []


def test_resume_path(tmp_path):
    assert resume_path(tmp_path, resume=False) is None
    assert resume_path(tmp_path, resume=True) is None  # nothing yet: fresh start, with a warning


def test_fit_kit_rejects_bad_values(tmp_path):
    from skipclip.data.sampling.epoch_sampler import epoch_loader

    loader = epoch_loader(list(range(8)), 2, shuffle=True, drop_last=True)
    with pytest.raises(ValueError, match="keep must be >= 1"):
        fit_kit(tmp_path, loader, keep=0)
    with pytest.raises(ValueError, match="every_n_steps must be >= 0, got -1"):
        fit_kit(tmp_path, loader, every_n_steps=-1)
    kit = fit_kit(tmp_path, loader, keep=2, every_n_steps=10)
    assert isinstance(kit.plugins[0], AtomicCheckpointIO) and kit.ckpt_path is None


def _state(step: int, weight: float) -> dict:
    return {"global_step": step, "epoch": step // 2, "state_dict": {"w": torch.full((4,), weight)}}


def test_last_is_a_second_name_of_the_epoch_checkpoint_of_its_step(tmp_path):
    """Lightning writes the epoch checkpoint, then last.ckpt with the same state: last.ckpt is
    linked to it instead of written again, and outlives the epoch file when that is pruned."""
    import os

    io, last = AtomicCheckpointIO(root=tmp_path), tmp_path / "last.ckpt"
    io.save_checkpoint(_state(4, 1.0), tmp_path / "epoch0001.ckpt")
    io.save_checkpoint(_state(4, 1.0), last)
    assert os.path.samefile(last, tmp_path / "epoch0001.ckpt")
    io.save_checkpoint(_state(5, 2.0), last)  # a mid-epoch step: no epoch checkpoint of its own
    assert not os.path.samefile(last, tmp_path / "epoch0001.ckpt")
    assert torch.load(last, weights_only=True)["global_step"] == 5
    assert torch.load(tmp_path / "epoch0001.ckpt", weights_only=True)["global_step"] == 4  # untouched
    io.save_checkpoint(_state(6, 3.0), tmp_path / "epoch0002.ckpt")
    io.save_checkpoint(_state(6, 3.0), last)
    io.remove_checkpoint(tmp_path / "epoch0002.ckpt")
    assert torch.load(last, weights_only=True)["state_dict"]["w"].tolist() == [3.0] * 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch0001.ckpt", "last.ckpt"]


def test_last_is_written_where_the_file_system_has_no_hard_links(tmp_path, monkeypatch):
    import os

    def no_links(*args, **kwargs):
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    io, last = AtomicCheckpointIO(root=tmp_path), tmp_path / "last.ckpt"
    io.save_checkpoint(_state(4, 1.0), tmp_path / "epoch0001.ckpt")
    io.save_checkpoint(_state(4, 1.0), last)
    assert not os.path.samefile(last, tmp_path / "epoch0001.ckpt")
    assert torch.load(last, weights_only=True)["global_step"] == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch0001.ckpt", "last.ckpt"]  # no temporaries


class _Tiny(L.LightningModule):
    """A parameter trained on nothing: the checkpoints are what is looked at."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(3))

    def training_step(self, batch, batch_idx):
        return (self.w**2).sum()

    def validation_step(self, batch, batch_idx):
        self.log("val/x", self.w.sum())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def _written_steps(tmp_path, every_n_steps: int, max_steps: int = 20, resume: bool = False) -> dict[str, list[int]]:
    """The steps at which each checkpoint file was written in a run of 2-step epochs validated
    every 3 steps (the shape of cpu-real: short epochs, validations across them); 2 epoch
    checkpoints kept."""
    from skipclip.data.sampling.epoch_sampler import epoch_loader

    items = [{"x": torch.zeros(1)} for _ in range(4)]
    loader = epoch_loader(items, 2, shuffle=True, drop_last=True)
    val = epoch_loader(items[:2], 2, shuffle=False, drop_last=False)
    kit = fit_kit(tmp_path, loader, keep=2, every_n_steps=every_n_steps, resume=resume)
    io, written = kit.plugins[0], {}
    save = io.save_checkpoint

    def spy(checkpoint, path, storage_options=None):
        written.setdefault(Path(path).name, []).append(checkpoint["global_step"])
        return save(checkpoint, path, storage_options)

    io.save_checkpoint = spy
    trainer = L.Trainer(
        max_steps=max_steps,
        val_check_interval=3,
        check_val_every_n_epoch=None,
        callbacks=kit.callbacks,
        plugins=kit.plugins,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        accelerator="cpu",
    )
    trainer.fit(_Tiny(), loader, val, ckpt_path=kit.ckpt_path)
    return written


def test_epoch_checkpoints_at_validations_at_least_every_n_steps_apart_and_at_the_end(tmp_path):
    every = _written_steps(tmp_path / "every", every_n_steps=0)
    assert [s for s in every["last.ckpt"] if s % 3 == 0] == [3, 6, 9, 12, 15, 18]  # at each validation
    spaced = _written_steps(tmp_path / "spaced", every_n_steps=8)
    epochs = sorted({s for name, steps in spaced.items() if name.startswith("epoch") for s in steps})
    assert epochs[-1] == every["last.ckpt"][-1]  # the run's last step is written as before
    gaps = [b - a for a, b in zip(epochs, epochs[1:-1])]
    assert epochs[0] >= 8 and all(g >= 8 for g in gaps), epochs
    assert len(epochs) < len([s for s in every["last.ckpt"] if s % 3 == 0])
    final = torch.load(tmp_path / "spaced" / "checkpoints" / "last.ckpt", weights_only=True)
    assert final["global_step"] == epochs[-1]


def test_a_resumed_run_prunes_the_epoch_checkpoints_written_before_it(tmp_path):
    _written_steps(tmp_path, every_n_steps=0, max_steps=9)
    kept = sorted(p.name for p in (tmp_path / "checkpoints").glob("epoch*.ckpt"))
    assert kept == ["epoch0002.ckpt", "epoch0004.ckpt"]  # validations at steps 6 and 9
    _written_steps(tmp_path, every_n_steps=0, max_steps=21, resume=True)
    kept = sorted(p.name for p in (tmp_path / "checkpoints").glob("epoch*.ckpt"))
    assert kept == ["epoch0008.ckpt", "epoch0010.ckpt"]  # keep=2 across the resume, not 4


def test_an_extended_run_continues_as_one_that_ran_straight_through(tmp_path):
    """A run whose mid-epoch callback never wrote ``last.ckpt`` in its process (a resumed run's
    last stretch, or a run shorter than ``every_n_steps``) must end with the ``last.ckpt`` of its
    final validation, not a second one written after the epoch's end: Lightning resumes that one
    an epoch off, so an extension (``--resume --max-steps``) trained other batches than a run
    straight through."""

    def final(folder):
        ckpt = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)
        return ckpt["global_step"], ckpt["epoch"], ckpt["callbacks"]["TrainingPosition"]

    _written_steps(tmp_path / "straight", every_n_steps=50, max_steps=24)
    _written_steps(tmp_path / "extended", every_n_steps=50, max_steps=18)
    last = tmp_path / "extended" / "checkpoints" / "last.ckpt"
    assert os.path.samefile(last, tmp_path / "extended" / "checkpoints" / "epoch0008.ckpt")  # step 18's
    _written_steps(tmp_path / "extended", every_n_steps=50, max_steps=24, resume=True)
    straight, extended = final(tmp_path / "straight"), final(tmp_path / "extended")
    assert extended[:2] == straight[:2] == (24, 11)
    assert {k: extended[2][k] for k in ("epoch", "batches_done")} == {
        k: straight[2][k] for k in ("epoch", "batches_done")
    }
