"""A run folder's own files are data (issue 25): a ``.lock`` link is never followed, ``run.json``
and ``config.yaml`` are read only when they are regular files of bounded size (a link to
``/dev/zero``, a FIFO: refused at once), ``run.json``'s fields are type-checked, and kind
detection knows every weight file a run folder holds."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch
from crafted import run_capped

from skipclip.engine.folder_kind import refuse_other_kind
from skipclip.engine.run_lock import lock_run_dir, release_run_dir
from skipclip.engine.runs import check_run_dir, prepare_run_dir, read_run
from skipclip.errors import InvalidInputError, OutputExistsError

from helpers import tiny_cfg


def test_a_lock_that_is_a_link_is_refused_and_its_target_untouched(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "run"
    out.mkdir()
    (out / ".lock").symlink_to(victim)
    with pytest.raises(InvalidInputError, match=r"\.lock is a symbolic link"):
        lock_run_dir(out)
    for resume in (False, True):
        with pytest.raises(InvalidInputError, match="symbolic link"):
            prepare_run_dir(out, tiny_cfg(), resume=resume, force=False, kind="pretrain")
    assert victim.read_text() == "precious"


def test_a_lock_that_is_a_fifo_is_refused(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    os.mkfifo(out / ".lock")
    with pytest.raises(InvalidInputError, match="not a regular file"):
        lock_run_dir(out)
    release_run_dir(out)


def _planted(out, name, what):
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"kind": "pretrain", "status": "interrupted"}))
    (out / "config.yaml").write_text("model:\n  width: 8\n")
    path = out / name
    path.unlink()
    if what == "/dev/zero":
        path.symlink_to("/dev/zero")
    elif what == "fifo":
        os.mkfifo(path)
    elif what == "folder":
        path.mkdir()
    else:
        path.symlink_to(out / "nothing")
    return path


def test_run_folder_files_that_are_not_regular_files_are_refused(tmp_path):
    """In one memory-capped child, with a timeout: a link to /dev/zero was read until MemoryError,
    a FIFO waited on forever."""
    cases, paths = {}, {}
    for name in ("run.json", "config.yaml"):
        for what in ("/dev/zero", "fifo", "folder", "dangling"):
            key = f"{name} {what}"
            out = tmp_path / key.replace("/", "_").replace(" ", "_")
            paths[key] = _planted(out, name, what)
            cases[key] = f"""
                import sys
                sys.path.insert(0, {str(os.path.dirname(os.path.dirname(__file__)))!r})
                from helpers import tiny_cfg
                from skipclip.engine.runs import check_run_dir, read_run
                read_run({str(out)!r})
                check_run_dir({str(out)!r}, tiny_cfg(), resume=True, force=False, kind="pretrain")
            """
    ended = run_capped(cases, budget=512 << 20, timeout=300)
    for key, end in ended.items():
        assert end.kind == "InvalidInputError", (key, end.message)
        assert str(paths[key]) in end.message, (key, end.message)


@pytest.mark.parametrize(
    "field,value",
    [
        ("resumes", "a"),
        ("attempts", "x"),
        ("attempts", [1]),
        ("status", 3),
        ("kind", ["pretrain"]),
        ("resumes", -1),
        ("summary", "s"),
        ("first_step", 1.5),
    ],
)
def test_run_json_fields_of_the_wrong_type_name_the_file_and_field(tmp_path, field, value):
    out = prepare_run_dir(tmp_path / "run", tiny_cfg(), resume=False, force=False, kind="pretrain")
    from skipclip.engine.runs import finish_run

    finish_run(out, status="interrupted")
    info = json.loads((out / "run.json").read_text())
    info[field] = value
    (out / "run.json").write_text(json.dumps(info))
    with pytest.raises(InvalidInputError, match=rf"run\.json: field '{field}'"):
        read_run(out)
    with pytest.raises(InvalidInputError, match=rf"run\.json: field '{field}'"):
        prepare_run_dir(out, tiny_cfg(), resume=True, force=False, kind="pretrain")


def test_resume_may_raise_the_step_budget_and_the_validation_cadence(tmp_path):
    out = prepare_run_dir(
        tmp_path / "run", tiny_cfg(optim={"max_steps": 20}), resume=False, force=False, kind="pretrain"
    )
    from skipclip.engine.runs import finish_run

    finish_run(out, status="interrupted")
    longer = tiny_cfg(optim={"max_steps": 40, "val_every_steps": 5})
    check_run_dir(out, longer, resume=True, force=False, kind="pretrain")  # refused before: 20 -> 40
    with pytest.raises(InvalidInputError, match=r"optim.lr: 0.001 -> 0.002"):
        check_run_dir(out, tiny_cfg(optim={"max_steps": 40, "lr": 2e-3}), resume=True, force=False, kind="pretrain")


@pytest.mark.parametrize("name", ["weights.pt", "last.ckpt", "encoder.pth"])
def test_kind_detection_knows_every_weight_file_of_a_run(tmp_path, tiny_pretrained_run, name):
    """`finetune --force` deleted a pretraining's checkpoints/weights.pt: only *.ckpt was looked at."""
    out = tmp_path / "pre"
    (out / "checkpoints").mkdir(parents=True)
    state = torch.load(tiny_pretrained_run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    torch.save({"state_dict": state["state_dict"]}, out / "checkpoints" / name)
    with pytest.raises(OutputExistsError, match="holds a pretrain run"):
        refuse_other_kind(out, "finetune")
    assert (out / "checkpoints" / name).exists()


def test_force_refuses_a_run_folder_holding_other_files(tmp_path, tiny_pretrained_run):
    out = tmp_path / "run"
    shutil.copytree(tiny_pretrained_run, out)
    (out / "features.npz").write_bytes(b"mine")
    with pytest.raises(OutputExistsError, match=r"features\.npz.*move them out first"):
        check_run_dir(out, tiny_cfg(), resume=False, force=True, kind="pretrain")
    assert (out / "features.npz").read_bytes() == b"mine"
