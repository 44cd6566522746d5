"""Presets you can start from: ``base: NAME`` in a YAML file, and a line saying what a partial file
without a base was set on."""

from __future__ import annotations

import logging

import pytest

from skipclip.config import Config, load_config
from skipclip.errors import InputNotFoundError, InvalidInputError


def test_a_file_with_a_base_starts_from_that_preset(tmp_path, caplog):
    path = tmp_path / "mine.yaml"
    path.write_text("base: cpu-real\noptim:\n  max_steps: 20\ndata:\n  batch_size: 4\n")
    with caplog.at_level(logging.INFO, logger="skipclip"):
        cfg = load_config(path)
    preset = load_config("cpu-real")
    assert cfg.optim.max_steps == 20 and cfg.data.batch_size == 4
    assert cfg.model == preset.model and cfg.pretext == preset.pretext  # the rest is the preset's
    assert cfg.trainer.accelerator == "cpu" and cfg.data.crop_size == preset.data.crop_size
    assert "no `base:`" not in caplog.text


def test_a_base_may_be_another_file_beside_it(tmp_path):
    (tmp_path / "lab.yaml").write_text("base: cpu\nmodel:\n  width: 8\n")
    (tmp_path / "run.yaml").write_text("base: lab.yaml\noptim:\n  lr: 0.01\n")
    cfg = load_config(tmp_path / "run.yaml")
    assert cfg.model.width == 8 and cfg.optim.lr == 0.01 and cfg.data.crop_size == load_config("cpu").data.crop_size


def test_a_partial_file_without_base_says_what_it_was_set_on(tmp_path, caplog):
    path = tmp_path / "partial.yaml"
    path.write_text("optim:\n  lr: 0.01\n")
    with caplog.at_level(logging.INFO, logger="skipclip"):
        cfg = load_config(path)
    assert cfg.optim.lr == 0.01 and cfg.model.width == Config().model.width  # skipclip's defaults
    assert "partial.yaml has no `base:`" in caplog.text and "base: cpu" in caplog.text


def test_a_complete_file_and_a_preset_log_nothing(tmp_path, caplog):
    import yaml

    path = tmp_path / "full.yaml"
    path.write_text(yaml.safe_dump(load_config("cpu").to_dict()))  # what `skipclip config` prints
    with caplog.at_level(logging.INFO, logger="skipclip"):
        assert load_config(path) == load_config("cpu")
        load_config("paper")
    assert "base:" not in caplog.text


@pytest.mark.parametrize(
    "text,error,match",
    [
        ("base: nosuch\n", InvalidInputError, "unknown preset 'nosuch'"),
        ("base: missing.yaml\n", InputNotFoundError, "does not exist"),
        ("base: [cpu]\n", InvalidInputError, "names a preset"),
        ("base: self.yaml\n", InvalidInputError, "circle"),
    ],
)
def test_bad_bases_are_named(tmp_path, text, error, match):
    path = tmp_path / "self.yaml"
    path.write_text(text)
    with pytest.raises(error, match=match):
        load_config(path)


def test_unused_gpu_is_said_once(monkeypatch, caplog):
    from skipclip.engine import trainer

    monkeypatch.setattr(trainer.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(trainer, "_warned_cpu", False)
    with caplog.at_level(logging.WARNING, logger="skipclip"):
        trainer.warn_unused_gpu(load_config("cpu-real"))
        trainer.warn_unused_gpu(load_config("cpu"))
        trainer.warn_unused_gpu(load_config("paper"))  # accelerator auto: it uses the GPU
    assert caplog.text.count("a GPU is present but this run trains on the CPU") == 1
    assert "--accelerator gpu" in caplog.text
