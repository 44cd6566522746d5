"""Issue 11 case 3: nothing a user made is overwritten or deleted without --force; a failed start
leaves nothing (or a failed record a retry may reuse); --resume keeps the history of attempts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skipclip.cli import main
from skipclip.engine.attempts import RunFinished
from skipclip.engine.runs import check_run_dir, finish_run, prepare_run_dir

from helpers import tiny_cfg, tiny_config


def _pretrain_run(folder: Path) -> Path:
    (folder / "logs").mkdir(parents=True)
    (folder / "logs" / "metrics.csv").write_text("epoch,train/loss\n0,1.0\n")
    (folder / "run.json").write_text(json.dumps({"kind": "pretrain", "status": "finished"}))
    return folder


@pytest.mark.parametrize("force", [False, True])
def test_finetune_never_writes_into_a_pretraining_run(tmp_path, capsys, force):
    run = _pretrain_run(tmp_path / "run")
    args = [
        "finetune",
        "--data",
        "synthetic",
        "--ckpt",
        "random",
        "--out",
        str(run),
        "--config",
        str(tiny_config(tmp_path / "t.yaml")),
    ]
    assert main(args + (["--force"] if force else [])) == 2
    assert "holds a pretrain run" in capsys.readouterr().err
    assert (run / "logs" / "metrics.csv").read_text() == "epoch,train/loss\n0,1.0\n"
    assert sorted(p.name for p in run.iterdir()) == ["logs", "run.json"]


def _ucf_lists(root: Path) -> Path:
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("1 RealClass\n")
    (lists / "trainlist01.txt").write_text("RealClass/v_RealClass_g01_c01.avi 1\n")
    return root


def test_synth_refuses_an_existing_data_set_without_force(tmp_path, capsys):
    root = _ucf_lists(tmp_path / "ucf")
    synth = ["synth", "--out", str(root), "--classes", "2", "--videos-per-class", "2", "--frames", "8", "--size", "32"]
    assert main(synth) == 2
    assert "ucfTrainTestlist" in capsys.readouterr().err
    assert (root / "ucfTrainTestlist" / "classInd.txt").read_text() == "1 RealClass\n"
    assert main(synth + ["--force"]) == 0
    assert (root / "ucfTrainTestlist" / "classInd.txt").read_text() != "1 RealClass\n"


def test_pretrain_keeps_a_config_yaml_it_did_not_write(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "config.yaml").write_text("my: own notes\n")
    config = tiny_config(tmp_path / "t.yaml")
    assert main(["pretrain", "--data", "synthetic", "--out", str(out), "--config", str(config), "--no-progress"]) == 2
    assert "config.yaml but no run.json" in capsys.readouterr().err
    assert (out / "config.yaml").read_text() == "my: own notes\n"


def test_a_start_that_fails_on_its_data_leaves_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    args = [
        "pretrain",
        "--data",
        str(tmp_path / "nonexistent"),
        "--out",
        str(out),
        "--no-progress",
        "--config",
        str(tiny_config(tmp_path / "t.yaml")),
    ]
    assert main(args) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert not out.exists()
    assert main(args) == 2  # the retry meets the same clear error, not "already holds an unfinished run"
    assert "already holds" not in capsys.readouterr().err


def test_a_run_that_fails_in_training_is_recorded_and_may_be_retried(tmp_path, monkeypatch):
    from skipclip.engine.skipclip_module import SkipClipModule
    from skipclip.recipes.pretrain import pretrain

    def broken(self, batch, batch_idx):
        raise RuntimeError("the first step fails")

    monkeypatch.setattr(SkipClipModule, "training_step", broken)
    out = tmp_path / "run"
    with pytest.raises(RuntimeError, match="first step"):
        pretrain(tiny_cfg(), "synthetic", out, progress=False)
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "failed" and "the first step fails" in info["error"]
    assert check_run_dir(out, tiny_cfg(), resume=False, force=False, kind="pretrain")["status"] == "failed"
    prepare_run_dir(out, tiny_cfg(), resume=False, force=False, kind="pretrain")  # the retry reuses the folder
    again = json.loads((out / "run.json").read_text())
    assert again["status"] == "running" and again["attempts"][0]["status"] == "failed"


@pytest.mark.parametrize("command", [["demo", "--quick"], ["reproduce", "--quick"]])
@pytest.mark.parametrize("existing", ["report.json", "pretrain"])
def test_demo_and_reproduce_refuse_an_existing_output_without_force(tmp_path, capsys, command, existing):
    out = tmp_path / "out"
    (out / "pretrain" / "basic").mkdir(parents=True)
    (out / "pretrain" / "basic" / "keep.txt").write_text("mine")
    (out / "report.json").write_text('{"old": 1}')
    if existing == "pretrain":
        (out / "report.json").unlink()
    assert main([*command, "--out", str(out), "--no-progress"]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "pretrain" / "basic" / "keep.txt").read_text() == "mine"
    if existing == "report.json":
        assert (out / "report.json").read_text() == '{"old": 1}'


def test_force_flags_exist_on_demo_and_reproduce():
    from skipclip.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["demo", "--force"]).force
    assert parser.parse_args(["reproduce", "--out", "x", "--force"]).force


def test_report_writes_are_atomic(tmp_path, monkeypatch):
    from skipclip.eval.report import write_report

    path = tmp_path / "report.json"
    write_report(path, {"v": 1})

    class Unwritable:
        def __str__(self):
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        write_report(path, {"v": 2, "x": Unwritable()})
    assert json.loads(path.read_text()) == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_reports_are_renamed_into_place_never_written_in_place(tmp_path, report_writes):
    (tmp_path / "report.json").write_text("{}")  # what the spy catches: a report written in place
    assert report_writes == [("opened", str(tmp_path / "report.json"))]
    report_writes.clear()
    js = tmp_path / "eval" / "report.json"
    assert (
        main(
            [
                "evaluate",
                "--data",
                "synthetic",
                "--ckpt",
                "random",
                "--protocols",
                "linear_probe",
                "--config",
                str(tiny_config(tmp_path / "t.yaml", data={"synthetic_classes": 2})),
                "--json",
                str(js),
                "--out",
                str(tmp_path / "ev"),
                "--no-progress",
            ]
        )
        == 0
    )
    assert sorted(report_writes) == [("renamed", str(tmp_path / "ev" / "report.json")), ("renamed", str(js))]
    assert json.loads(js.read_text())["results"]
    # finetune, demo and reproduce write theirs the same way: see their end-to-end tests (report_writes)


def test_resume_keeps_the_history_of_attempts(tmp_path):
    cfg = tiny_cfg()
    out = prepare_run_dir(tmp_path / "run", cfg, resume=False, force=False, kind="pretrain")
    finish_run(out, summary={"steps": 5, "wall_s": 2.0})
    with pytest.raises(RunFinished, match="finished pretrain run.*--resume --max-epochs 6"):
        prepare_run_dir(out, cfg, resume=True, force=False, kind="pretrain")  # no more budget: nothing to do
    prepare_run_dir(out, tiny_cfg(optim={"max_epochs": 6}), resume=True, force=False, kind="pretrain")
    finish_run(out, summary={"steps": 9, "wall_s": 3.5})
    prepare_run_dir(out, tiny_cfg(optim={"max_epochs": 9}), resume=True, force=False, kind="pretrain")
    info = json.loads((out / "run.json").read_text())
    assert [a["summary"]["steps"] for a in info["attempts"]] == [5, 9]
    assert [a["wall_s"] for a in info["attempts"]] == [2.0, 3.5]
    assert [a["status"] for a in info["attempts"]] == ["finished", "finished"]
    assert info["resumes"] == 2 and info["status"] == "running"
