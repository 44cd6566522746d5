"""`--set KEY=VALUE` overrides of any configuration key, and `skipclip config` printing the result."""

from __future__ import annotations

import pytest
import yaml

from skipclip.cli import build_parser, main

from helpers import tiny_config


def test_config_prints_the_resolved_yaml_with_sets(capsys):
    assert (
        main(
            [
                "config",
                "--config",
                "paper",
                "--set",
                "optim.lr=1e-4",
                "data.val_fraction=0",
                "finetune.clip_frames=null",
                "trainer.devices=[0, 1]",
                "--set",
                "trainer.deterministic=true",
            ]
        )
        == 0
    )
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["optim"]["lr"] == 1e-4 and cfg["data"]["val_fraction"] == 0
    assert cfg["finetune"]["clip_frames"] is None and cfg["trainer"]["devices"] == [0, 1]
    assert cfg["trainer"]["deterministic"] is True
    assert cfg["model"]["width"] == 64  # the rest is the paper preset's


@pytest.mark.parametrize(
    "argv, named",
    [
        (["optim.foo=1"], "optim.foo"),
        (["nosection.lr=1"], "nosection.lr"),
        (["optim.lr=-1"], "optim.lr"),
        (["optim.lr=fast"], "optim.lr"),
        (["optim.max_epochs=1.5"], "optim.max_epochs"),
        (["trainer.deterministic=1"], "trainer.deterministic"),
        (["data.val_fraction=[0"], "data.val_fraction"),
        (["lr=1"], "lr=1"),
    ],
)
def test_a_bad_set_exits_2_naming_the_key(argv, named, capsys):
    assert main(["config", "--set", *argv]) == 2
    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err


@pytest.mark.parametrize("command", ["finetune", "evaluate"])
def test_set_reaches_finetune_and_evaluate(command, tmp_path):
    from skipclip.commands.finetune import config_from_args
    from skipclip.config import load_config, parse_sets

    extra = ["--ckpt", "x.ckpt"] if command == "evaluate" else ["--out", str(tmp_path)]
    args = build_parser().parse_args(
        [command, *extra, "--lr", "0.01", "--set", "finetune.lr=0.02", "finetune.val_every=2", "data.val_fraction=0.25"]
    )
    if command == "finetune":
        cfg = config_from_args(args)
    else:  # evaluate passes the flags and --set to run_evaluate, which loads like this
        cfg = load_config("cpu", {"finetune.lr": args.lr}, sets=parse_sets(args.set))
    assert (cfg.finetune.lr, cfg.finetune.val_every, cfg.data.val_fraction) == (0.02, 2, 0.25)  # --set wins


@pytest.mark.e2e
def test_set_reaches_a_pretraining_run(tmp_path, capsys):
    config = tiny_config(tmp_path / "tiny.yaml")
    out = tmp_path / "run"
    assert (
        main(
            [
                "pretrain",
                "--config",
                str(config),
                "--out",
                str(out),
                "--no-progress",
                "--set",
                "optim.max_epochs=1",
                "trainer.limit_train_batches=2",
                "pretext.rank_margin=0.3",
            ]
        )
        == 0
    )
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["optim"]["max_epochs"] == 1 and saved["trainer"]["limit_train_batches"] == 2
    assert saved["pretext"]["rank_margin"] == 0.3
    assert main(["pretrain", "--config", str(config), "--out", str(tmp_path / "never"), "--set", "pretext.nope=1"]) == 2
    assert "pretext.nope" in capsys.readouterr().err and not (tmp_path / "never").exists()
