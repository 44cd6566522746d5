"""Defaults that say what they are: the preset chosen for the data, --ckpt random spelled out,
and a wrong --data refused before any heavy import."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from skipclip.cli import build_parser, main
from skipclip.config import load_config

from helpers import child_env


@pytest.mark.parametrize("command", ["pretrain", "finetune"])
def test_a_folder_without_config_takes_cpu_real_and_says_so(command, tmp_path, caplog):
    from skipclip.commands.finetune import config_from_args as finetune_config
    from skipclip.commands.pretrain import config_from_args as pretrain_config

    read = {"pretrain": pretrain_config, "finetune": finetune_config}[command]
    caplog.set_level(logging.INFO, logger="skipclip")
    folder = tmp_path / "footage"
    folder.mkdir()
    args = build_parser().parse_args([command, "--data", str(folder), "--out", str(tmp_path / "run")])
    assert read(args).to_dict() == load_config("cpu-real").to_dict()  # was the synthetic-scale cpu, unsaid
    assert "config: preset cpu-real, the default for a store or video folder" in caplog.text
    caplog.clear()
    args = build_parser().parse_args([command, "--out", str(tmp_path / "run")])
    assert read(args).to_dict() == load_config("cpu").to_dict()
    assert "config: preset cpu, the default for the synthetic videos" in caplog.text


def test_finetune_without_ckpt_asks_for_it(tmp_path, capsys):
    assert main(["finetune", "--out", str(tmp_path / "ft"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--ckpt random" in err and "--ckpt RUN/checkpoints/last.ckpt" in err and not (tmp_path / "ft").exists()


@pytest.mark.parametrize("command", ["pretrain", "finetune", "features", "evaluate", "doctor", "prepare"])
def test_a_missing_data_path_fails_before_torch_is_imported(command, tmp_path):
    argv = {
        "pretrain": ["--out", "r"],
        "finetune": ["--out", "r", "--ckpt", "random"],
        "features": ["--ckpt", "r", "--out", "f.npz"],
        "evaluate": ["--ckpt", "random"],
        "doctor": [],
        "prepare": ["--out", "s"],
    }[command]
    code = (
        "import sys; from skipclip.cli import main; "
        f"rc = main([{command!r}, '--data', 'no/such/folder', *{argv!r}]); print(rc, 'torch' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=120
    )
    assert done.stdout.split() == ["2", "False"], done.stderr
    assert "--data no/such/folder: no such file or folder" in done.stderr
