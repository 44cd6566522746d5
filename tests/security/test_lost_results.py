"""Issue 21 case 3: nothing a user made is replaced without --force, --force replaces a set of
files as a set, one run folder has one writer, and --force never replaces a folder of another kind."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from skipclip.cli import main
from skipclip.config import load_config
from skipclip.data.store.prepare import prepare
from skipclip.data.store.prepared import PreparedStore, load_manifest
from skipclip.engine.run_lock import RunInUseError, release_run_dir
from skipclip.engine.runs import prepare_run_dir
from skipclip.method import build_skipclip
from skipclip.utils.io import replace_folder

from helpers import child_env, cli, tiny_cfg, tiny_config, tiny_overrides
from video_factory import make_folder, video


def _videos(root: Path, frames: int, seed: int) -> Path:
    for c in ("cats", "dogs"):
        for i in range(2):
            video(root / c / f"{c}_{i}.avi", n=frames, seed=seed + i)
    return root


# ------------------------------------------------------------------------------ prepare: split files


def test_prepare_refuses_to_replace_the_users_own_split_files(tmp_path, capsys):
    videos = make_folder(tmp_path / "videos", per_class=2, frames=12)
    store = tmp_path / "store"
    (store / "splits").mkdir(parents=True)
    (store / "splits" / "train.txt").write_text("my/own.avi 0\n")
    (store / "splits" / "val.txt").write_text("my/val.avi 0\n")
    args = [
        "prepare",
        "--videos",
        str(videos),
        "--out",
        str(store),
        "--short-side",
        "24",
        "--workers",
        "0",
        "--no-progress",
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "train.txt" in err and "val.txt" in err and "--force" in err
    assert (store / "splits" / "train.txt").read_text() == "my/own.avi 0\n"
    assert (store / "splits" / "val.txt").read_text() == "my/val.avi 0\n"
    assert not (store / "manifest.json").exists()  # refused before any work

    assert main(args + ["--force"]) == 0  # the folder is replaced as a whole
    written = sorted(p.name for p in (store / "splits").iterdir())
    assert written == [".written-by-skipclip.json", "classes.txt", "test.txt", "train.txt"]
    assert "my/own.avi" not in (store / "splits" / "train.txt").read_text()
    assert not [p for p in store.iterdir() if p.name.startswith(".splits.")]  # no temporary folder left

    assert main(args) == 0  # skipclip's own files: a rerun replaces them without --force
    (store / "splits" / "train.txt").write_text("edited by hand\n")
    assert main(args) == 2
    assert "train.txt" in capsys.readouterr().err
    assert (store / "splits" / "train.txt").read_text() == "edited by hand\n"


def test_a_folder_swap_that_fails_leaves_the_old_set(tmp_path):
    folder = tmp_path / "splits"
    folder.mkdir()
    (folder / "a.txt").write_text("old a")
    (folder / "b.txt").write_text("old b")

    def half(new: Path) -> None:
        (new / "a.txt").write_text("new a")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        replace_folder(folder, half)
    assert {p.name: p.read_text() for p in folder.iterdir()} == {"a.txt": "old a", "b.txt": "old b"}
    assert [p.name for p in tmp_path.iterdir()] == ["splits"]
    replace_folder(folder, lambda new: (new / "c.txt").write_text("new c"))
    assert [p.name for p in folder.iterdir()] == ["c.txt"] and [p.name for p in tmp_path.iterdir()] == ["splits"]


def test_a_swap_killed_between_its_renames_is_put_back(tmp_path):
    folder = tmp_path / "exp"
    folder.mkdir()
    (folder / "card.json").write_text("old")
    os.rename(folder, tmp_path / ".exp.old-1-2")  # killed after renaming the old set away
    replace_folder(folder, lambda new: (new / "card.json").write_text("new"))
    assert (folder / "card.json").read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["exp"]


# ------------------------------------------------------------------------------ prepare: source


def test_prepare_does_not_reuse_frames_of_another_source(tmp_path, capsys):
    first, second = _videos(tmp_path / "a", 12, seed=0), _videos(tmp_path / "b", 20, seed=50)
    store = tmp_path / "store"
    prepare(first, store, short_side=24, workers=0, progress=False)
    args = [
        "prepare",
        "--videos",
        str(second),
        "--out",
        str(store),
        "--short-side",
        "24",
        "--workers",
        "0",
        "--no-progress",
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"prepared from {first.resolve()}" in err and "--force" in err
    assert load_manifest(store)["source"] == str(first.resolve())
    assert main(args + ["--force"]) == 0
    assert "4 decoded, 0 already done" in capsys.readouterr().out
    s = PreparedStore(store)
    assert [s.num_frames(i) for i in range(len(s))] == [20] * 4  # the new videos' frames
    assert load_manifest(store)["source"] == str(second.resolve())


def test_a_video_changed_in_place_is_decoded_again(tmp_path):
    videos = _videos(tmp_path / "a", 12, seed=0)
    store = tmp_path / "store"
    prepare(videos, store, short_side=24, workers=0, progress=False)
    video(videos / "cats" / "cats_1.avi", n=16, seed=9)  # replaced by another recording, same name
    again = prepare(videos, store, short_side=24, workers=0, progress=False)
    assert (again.prepared, again.skipped) == (1, 3)
    frames = {v["name"]: v["frames"] for v in load_manifest(store)["videos"]}
    assert frames["cats/cats_1.avi"] == 16
    assert prepare(videos, store, short_side=24, workers=0, progress=False).skipped == 4


# ------------------------------------------------------------------------------ evaluate --json


def test_evaluate_refuses_an_existing_json_before_any_work(tmp_path, capsys):
    report = tmp_path / "report.json"
    report.write_text('{"mine": 1}')
    args = [
        "evaluate",
        "--ckpt",
        "random",
        "--data",
        "synthetic",
        "--json",
        str(report),
        "--protocols",
        "knn",
        "--config",
        str(tiny_config(tmp_path / "t.yaml")),
        "--out",
        str(tmp_path / "ev"),
        "--no-progress",
    ]
    start = time.time()
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err and time.time() - start < 30
    assert report.read_text() == '{"mine": 1}'
    assert main(args + ["--force"]) == 0
    assert json.loads(report.read_text())["results"][0]["protocol"] == "knn"


# ------------------------------------------------------------------------------ one writer per run folder


LOCK_HOLDER = """
import sys, time
from skipclip.engine.run_lock import lock_run_dir
lock_run_dir(sys.argv[1])
print("locked", flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("kind", ["pretrain", "finetune"])
def test_a_run_folder_has_one_writer_and_a_killed_one_frees_it(tmp_path, kind):
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(out)], env=child_env(), stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunInUseError, match=f"pid {holder.pid} on "):
            prepare_run_dir(out, tiny_cfg(), resume=False, force=False, kind=kind)
        assert not (out / "run.json").exists() and not (out / "config.yaml").exists()
    finally:
        holder.kill()  # as a crash would: the OS releases the lock
        holder.wait()
    prepare_run_dir(out, tiny_cfg(), resume=False, force=False, kind=kind)
    assert json.loads((out / "run.json").read_text())["status"] == "running"
    assert json.loads((out / ".lock").read_text())["pid"] == os.getpid()
    release_run_dir(out)


# ------------------------------------------------------------------------------ --force and other kinds


def _pretraining_without_run_json(folder: Path) -> bytes:
    cfg = load_config("cpu", tiny_overrides())
    model = build_skipclip(cfg)
    (folder / "checkpoints").mkdir(parents=True)
    torch.save(
        {
            "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
            "hyper_parameters": {"config": cfg.to_dict()},
        },
        folder / "checkpoints" / "last.ckpt",
    )
    (folder / "logs").mkdir()
    (folder / "logs" / "metrics.csv").write_text("step,loss\n")
    return (folder / "checkpoints" / "last.ckpt").read_bytes()


def test_finetune_force_never_replaces_a_pretraining_run_without_run_json(tmp_path, capsys):
    run = tmp_path / "run"
    before = _pretraining_without_run_json(run)
    assert (
        main(
            [
                "finetune",
                "--data",
                "synthetic",
                "--out",
                str(run),
                "--force",
                "--no-progress",
                "--ckpt",
                "random",
                "--config",
                str(tiny_config(tmp_path / "t.yaml")),
            ]
        )
        == 2
    )
    assert "holds a pretrain run" in capsys.readouterr().err
    assert (run / "checkpoints" / "last.ckpt").read_bytes() == before
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints", "logs"]


def test_pretrain_force_never_writes_into_a_store(tmp_path, capsys):
    store = tmp_path / "store"
    prepare(make_folder(tmp_path / "videos", per_class=2, frames=12), store, short_side=24, workers=0, progress=False)
    listing = sorted(p.name for p in store.iterdir())
    assert (
        main(
            [
                "pretrain",
                "--data",
                "synthetic",
                "--out",
                str(store),
                "--force",
                "--no-progress",
                "--config",
                str(tiny_config(tmp_path / "t.yaml")),
            ]
        )
        == 2
    )
    assert "holds a prepared store" in capsys.readouterr().err
    assert sorted(p.name for p in store.iterdir()) == listing


# ------------------------------------------------------------------------------ export --force


def _skipclip_checkpoint(path: Path, seed: int) -> None:
    cfg = load_config("cpu", tiny_overrides())
    torch.manual_seed(seed)
    model = build_skipclip(cfg)
    torch.save(
        {
            "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
            "hyper_parameters": {"config": cfg.to_dict()},
            "epoch": seed,
        },
        path,
    )


def test_export_force_replaces_the_set_or_nothing(tmp_path, monkeypatch):
    from skipclip.weights import export as export_module

    _skipclip_checkpoint(tmp_path / "old.ckpt", 1)
    _skipclip_checkpoint(tmp_path / "new.ckpt", 2)
    exp = tmp_path / "exp"
    assert main(["export", "--ckpt", str(tmp_path / "old.ckpt"), "--out", str(exp), "--frame-encoder"]) == 0
    old = {p.name: p.read_bytes() for p in exp.iterdir()}

    def full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as m:  # the disk fills up while the card, the last file, is written
        m.setattr(export_module, "atomic_write_text", full)
        with pytest.raises(OSError):
            export_module.export_encoders(tmp_path / "new.ckpt", exp, frame=True, force=True)
    assert {p.name: p.read_bytes() for p in exp.iterdir()} == old  # no new g beside the old f and card
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp", "new.ckpt", "old.ckpt"]

    assert main(["export", "--ckpt", str(tmp_path / "new.ckpt"), "--out", str(exp), "--force"]) == 0
    assert sorted(p.name for p in exp.iterdir()) == ["card.json", "context_encoder.safetensors"]  # old f gone too
    assert json.loads((exp / "card.json").read_text())["source_checkpoint"].endswith("new.ckpt")


def test_export_force_never_deletes_files_beside_an_export(tmp_path, capsys):
    _skipclip_checkpoint(tmp_path / "a.ckpt", 1)
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "notes.txt").write_text("mine")
    assert main(["export", "--ckpt", str(tmp_path / "a.ckpt"), "--out", str(exp)]) == 0  # added beside
    assert main(["export", "--ckpt", str(tmp_path / "a.ckpt"), "--out", str(exp), "--force"]) == 2
    assert "notes.txt" in capsys.readouterr().err and (exp / "notes.txt").read_text() == "mine"


# ------------------------------------------------------------------------------ two pretraining runs, one folder


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.2)


@pytest.mark.e2e
def test_a_second_pretraining_on_a_running_folder_exits_2_naming_the_first(tmp_path):
    out, config = tmp_path / "run", tiny_config(tmp_path / "t.yaml")
    common = [
        "pretrain",
        "--data",
        "synthetic",
        "--out",
        str(out),
        "--config",
        str(config),
        "--no-progress",
        "--checkpoint-every",
        "1",
        "--log-images-every",
        "0",
    ]
    first = subprocess.Popen(
        cli(*common, "--max-epochs", "100000"),
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(out / "checkpoints" / "last.ckpt", first)
        second = subprocess.run(
            cli(*common, "--max-epochs", "100000", "--resume"),
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert second.returncode == 2, second.stderr[-2000:]
        assert f"in use by another skipclip run (pid {first.pid} on " in second.stderr
        assert first.poll() is None and json.loads((out / "run.json").read_text()).get("resumes") is None
    finally:
        first.kill()
        first.communicate()
