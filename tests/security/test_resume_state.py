"""A crafted ``last.ckpt`` can name any path in its checkpoint-callback state; resuming from it
must never delete anything outside the run's checkpoint folder, nor a folder inside it."""

from __future__ import annotations

import shutil

import pytest
import torch

from skipclip.cli import main
from skipclip.engine.checkpoint_io import AtomicCheckpointIO
from skipclip.engine.checkpoints import RunCheckpoint

PATH_FIELDS = ("last_model_path", "best_model_path", "kth_best_model_path", "best_k_models")


def _victim(tmp_path):
    victim = tmp_path / "victim"
    (victim / "sub").mkdir(parents=True)
    (victim / "sub" / "keep.txt").write_text("mine")
    (victim / "epoch9999.ckpt").write_text("not yours")
    return victim


def _state(folder, field, evil):
    state = {
        "monitor": "epoch",
        "best_model_score": torch.tensor(1.0),
        "best_model_path": "",
        "current_score": None,
        "dirpath": str(folder),
        "best_k_models": {},
        "kth_best_model_path": "",
        "kth_value": torch.tensor(1.0),
        "last_model_path": "",
    }
    state[field] = {evil: torch.tensor(5.0)} if field == "best_k_models" else evil
    return state


@pytest.mark.parametrize("field", PATH_FIELDS)
@pytest.mark.parametrize("target", ["victim", "victim/epoch9999.ckpt", "checkpoints/../victim/epoch9999.ckpt"])
def test_restored_paths_outside_the_folder_are_dropped(tmp_path, field, target):
    folder = tmp_path / "run" / "checkpoints"
    folder.mkdir(parents=True)
    _victim(tmp_path)
    evil = str(folder) + "/../../" + target
    cb = RunCheckpoint(dirpath=folder, save_top_k=1, monitor="epoch", mode="max")
    cb.load_state_dict(_state(folder, field, evil))
    restored = [cb.last_model_path, cb.best_model_path, cb.kth_best_model_path, *cb.best_k_models]
    assert all(p == "" or p.startswith(str(folder)) for p in restored), restored
    assert not any("victim" in p for p in restored)


def test_paths_inside_the_folder_are_kept(tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    cb = RunCheckpoint(dirpath=folder, save_top_k=2, monitor="epoch", mode="max")
    state = _state(folder, "best_k_models", str(folder / "epoch0001.ckpt"))
    state["last_model_path"] = str(folder / "last.ckpt")
    cb.load_state_dict(state)
    assert cb.last_model_path == str(folder / "last.ckpt")
    assert list(cb.best_k_models) == [str(folder / "epoch0001.ckpt")]


def test_removal_never_leaves_the_folder_nor_recurses(tmp_path):
    folder = tmp_path / "checkpoints"
    (folder / "adir").mkdir(parents=True)
    (folder / "adir" / "x").write_text("x")
    (folder / "old.ckpt").write_text("old")
    victim = _victim(tmp_path)
    io = AtomicCheckpointIO(root=folder)
    io.remove_checkpoint(folder / ".." / "victim")
    io.remove_checkpoint(str(folder) + "/../victim/epoch9999.ckpt")
    io.remove_checkpoint(folder / "adir")
    assert (victim / "sub" / "keep.txt").exists() and (victim / "epoch9999.ckpt").exists()
    assert (folder / "adir" / "x").exists()
    io.remove_checkpoint(folder / "old.ckpt")
    assert not (folder / "old.ckpt").exists()
    AtomicCheckpointIO().remove_checkpoint(folder / "adir" / "x")  # no root: removes nothing
    assert (folder / "adir" / "x").exists()


def test_pretrain_resume_from_a_crafted_checkpoint_deletes_nothing_outside(tmp_path, tiny_pretrained_run, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_pretrained_run, run)
    last = run / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, map_location="cpu", weights_only=True)
    victim = _victim(tmp_path)
    evil = str(run / "checkpoints") + "/../../victim"
    crafted = 0
    for key, state in ckpt["callbacks"].items():
        if key.startswith("RunCheckpoint") or key.startswith("ModelCheckpoint"):
            state.update(
                dirpath=str(run / "checkpoints"),  # the copy's folder: the state is restored
                last_model_path=evil,
                kth_best_model_path=evil + "/epoch9999.ckpt",
                best_model_path=evil,
                best_k_models={evil: torch.tensor(-1.0), evil + "/epoch9999.ckpt": torch.tensor(-2.0)},
            )
            crafted += 1
    assert crafted  # the checkpoint callback's state is there to craft
    torch.save(ckpt, last)
    # one more epoch of two steps: its epoch-end save is when old checkpoints are removed
    assert (
        main(
            [
                "pretrain",
                "--data",
                "synthetic",
                "--config",
                str(run / "config.yaml"),
                "--no-progress",
                "--out",
                str(run),
                "--resume",
                "--max-epochs",
                "4",
                "--set",
                "trainer.limit_train_batches=2",
            ]
        )
        == 0
    )
    assert "pretrained 4 epochs" in capsys.readouterr().out
    assert (victim / "sub" / "keep.txt").read_text() == "mine"
    assert (victim / "epoch9999.ckpt").exists()
