"""What a run leaves behind: logs a file can hold (no redraws, no Lightning banners, the next
step said), and files created with the user's umask (readable by the group on a shared cluster)."""

from __future__ import annotations

import os
import stat

import pytest

import skipclip
from skipclip.data import prepare
from skipclip.utils.io import atomic_write_text
from skipclip.weights.export import export_encoders

from helpers import child_env, cli, tiny_cfg, tiny_config
from video_factory import make_folder


@pytest.mark.e2e
def test_a_pretraining_run_logged_to_a_file_has_no_redraws_or_banners(tmp_path):
    import subprocess

    config = tiny_config(tmp_path / "tiny.yaml", optim={"max_epochs": 2})
    with open(tmp_path / "out.txt", "w") as out, open(tmp_path / "err.txt", "w") as err:  # as a SLURM .out
        done = subprocess.run(
            cli("pretrain", "--config", config, "--out", tmp_path / "run"),
            stdout=out,
            stderr=err,
            env=child_env(),
            timeout=600,
        )
    stdout, stderr = (tmp_path / "out.txt").read_text(), (tmp_path / "err.txt").read_text()
    assert done.returncode == 0, stderr
    for text in (stdout, stderr):
        assert "\r" not in text and "GPU available" not in text and "TPU available" not in text
        assert "Tip" not in text and "litlogger" not in text and "`Trainer.fit` stopped" not in text
    assert "validation at step" in stderr  # progress goes to stderr, as plain lines
    assert "Epoch 0" not in stdout and "validation at step" not in stdout  # stdout keeps the results
    assert f"the run is in {tmp_path / 'run'}" in stdout and "next: skipclip finetune" in stdout


def modes(*folders) -> dict[str, int]:
    return {str(p): stat.S_IMODE(p.stat().st_mode) for folder in folders for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def umask():
    old = os.umask(0o022)
    try:
        yield os.umask
    finally:
        os.umask(old)


def test_atomic_writes_follow_the_umask(tmp_path, umask):
    for mask, want in ((0o022, 0o644), (0o002, 0o664), (0o077, 0o600)):
        umask(mask)
        atomic_write_text(tmp_path / f"{mask:o}.txt", "x")
        assert stat.S_IMODE((tmp_path / f"{mask:o}.txt").stat().st_mode) == want


def test_a_runs_files_are_group_readable_under_umask_022(tmp_path, umask):
    videos = make_folder(tmp_path / "footage", per_class=3, frames=24)
    store = tmp_path / "store"
    report = prepare(videos, store, short_side=32, workers=0, progress=False)
    assert report.ok
    run = skipclip.pretrain(
        tiny_cfg(), store, tmp_path / "run", sets={"optim.max_epochs": 1}, progress=False, images_every=0
    )
    export_encoders(run.checkpoint, tmp_path / "export", frame=True)
    found = modes(store, run.out, tmp_path / "export")
    names = {os.path.relpath(p, tmp_path) for p in found}
    for want in (
        "run/config.yaml",
        "run/run.json",
        "run/checkpoints/last.ckpt",
        "store/manifest.json",
        "store/splits/train.txt",
        "store/splits/test.txt",
        "export/context_encoder.safetensors",
        "export/frame_encoder.safetensors",
        "export/card.json",
    ):
        assert want in names, sorted(names)
    not_644 = {p: oct(m) for p, m in found.items() if m != 0o644}
    assert not not_644, f"files not rw-r--r-- under umask 022: {not_644}"
