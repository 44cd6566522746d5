"""Issue 11 case 4: configuration values are type-checked when read, before the range checks:
a clear error naming the key and the expected type, never a TypeError or a string meaning true."""

from __future__ import annotations

import pytest

from skipclip.cli import main
from skipclip.config import load_config

from helpers import tiny_config


@pytest.mark.parametrize(
    "section, key, value, expected",
    [
        ("data", "val_fraction", "0.1", "a number"),
        ("optim", "lr_gamma", "0.1", "a number"),
        ("data", "synthetic_size", "56", "an integer"),
        ("pretext", "rotation", "false", "a boolean"),
        ("trainer", "deterministic", "yes", "a boolean"),
        ("pretext", "context_frames", True, "an integer"),
        ("data", "batch_size", 4.0, "an integer"),
        ("trainer", "compile", 0, "a boolean"),
        ("model", "context_arch", 18, "a string"),
        ("finetune", "lr", "5e-4", "a number"),
    ],
)
def test_a_value_of_the_wrong_type_names_the_key_and_the_type(tmp_path, section, key, value, expected):
    path = tiny_config(tmp_path / "c.yaml", **{section: {key: value}})
    with pytest.raises(ValueError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"config {path}: {section}.{key} must be {expected}")  # the file named first
    assert f"got {value!r} ({type(value).__name__})" in message


def test_the_cli_exits_2_with_the_message(tmp_path, capsys):
    path = tiny_config(tmp_path / "c.yaml", pretext={"rotation": "false"})
    assert main(["pretrain", "--config", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "pretext.rotation must be a boolean" in err and "without quotes" in err
    assert not (tmp_path / "run").exists()


def test_a_quoted_exponent_gets_a_yaml_hint(tmp_path):
    with pytest.raises(ValueError, match=r"write it as 5.0e-04"):
        load_config(tiny_config(tmp_path / "c.yaml", finetune={"lr": "5e-4"}))


def test_right_types_pass_and_ints_count_as_numbers(tmp_path):
    cfg = load_config(tiny_config(tmp_path / "c.yaml", optim={"lr": 1, "lr_gamma": 1}, pretext={"rotation": False}))
    assert cfg.optim.lr == 1 and cfg.pretext.rotation is False
