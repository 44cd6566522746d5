"""The small things a new user met on the way (issue 29, point 8), each pinned."""

from __future__ import annotations

import subprocess
import sys

import pytest

import skipclip
from skipclip.cli import build_parser
from skipclip.errors import InvalidInputError

from helpers import child_env, tiny_cfg


def test_the_api_shows_skipclip_warnings_without_a_source_line(tmp_path):
    # in a fresh process, as a script using only the API (the CLI set the format for itself only)
    code = (
        "import warnings, skipclip; from skipclip.data import CoverageWarning; skipclip.load_encoder; "
        "print(repr(warnings.formatwarning('2 classes', CoverageWarning, 'x.py', 1, 'held = set(carve(...'))); "
        "print(repr(warnings.formatwarning('x', UserWarning, 'x.py', 1, 'line = 1')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=120
    )
    ours, other = done.stdout.splitlines()
    assert ours == repr("warning: 2 classes\n"), done.stderr
    assert "line = 1" in other  # other packages' warnings keep Python's format


def test_the_api_pretraining_prints_the_commands_summary(tmp_path, capsys):
    skipclip.pretrain(
        tiny_cfg(), "synthetic", tmp_path / "run", sets={"optim.max_steps": 1}, progress=True, images_every=0
    )
    out = capsys.readouterr().out
    assert "pretrained 1 epoch, 1 step in" in out and "videos: trained on" in out
    assert "pretext health: " in out and "at step 1," in out and "1 steps" not in out


def test_export_help_names_the_flags_that_take_an_export(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["export", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--init and --inflate" not in text and "finetune --ckpt and --inflate accept them" in text


def test_the_tensorboard_hint_matches_the_readme(monkeypatch):
    from skipclip.engine import loggers

    monkeypatch.setattr(loggers, "find_spec", lambda name: None)
    with pytest.raises(InvalidInputError) as err:
        loggers.parse_loggers(["tensorboard"])
    assert 'pip install -e ".[tensorboard]"' in str(err.value)


def test_the_card_gives_the_short_side_and_the_recipe_defines_only_what_it_uses(tmp_path):
    import json

    import torch

    from skipclip.method import build_skipclip
    from skipclip.weights.card_recipe import context_recipe
    from skipclip.weights.export import export_encoders

    cfg = tiny_cfg()
    ckpt = tmp_path / "s.ckpt"
    torch.save(
        {
            "state_dict": {f"model.{k}": v for k, v in build_skipclip(cfg).state_dict().items()},
            "hyper_parameters": {"config": cfg.to_dict()},
        },
        ckpt,
    )
    export_encoders(ckpt, tmp_path / "export")
    card = json.loads((tmp_path / "export" / "card.json").read_text())["context_encoder"]["input"]
    assert card["short_side"] == cfg.data.short_side and "short side resized" in card["resize"]
    recipe = "\n".join(context_recipe("r3d18_hara", 16, "B"))
    assert "MID" not in recipe
    assert "MID" in "\n".join(context_recipe("r2plus1d_18", 16, "B"))
