"""Resume state is checked against the model before anything is restored (issue 25): a crafted
``last.ckpt`` (plain tensors and containers, so ``weights_only`` lets it through) ends in one
error naming the file and the field, never a traceback or a segmentation fault; and a finished
run is never damaged by a second command."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from run_children import fingerprint, metric_rows, train_losses

from skipclip.cli import main
from skipclip.config import load_config
from skipclip.config.budget import pretrain_budget
from skipclip.engine.resume_state import check_resume_state
from skipclip.engine.skipclip_module import SkipClipModule
from skipclip.errors import InvalidInputError

from helpers import run_cli


@pytest.fixture(scope="module")
def module_and_state(tiny_pretrained_run):
    cfg = load_config(str(tiny_pretrained_run / "config.yaml"))
    module = SkipClipModule.from_config(cfg)
    module.schedule_epoch_steps = pretrain_budget(cfg).schedule_epoch_steps
    state = torch.load(tiny_pretrained_run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    return module, state


def _opt(s):
    return s["optimizer_states"][0]


def _pos(s):
    return s["callbacks"]["TrainingPosition"]


def _loops(s):
    return s["loops"]["fit_loop"]["epoch_loop.batch_progress"]["total"]


def _first_param(s):
    return next(iter(s["state_dict"]))


MUTATIONS = {  # name: (change the state in place, the field the error names)
    "exp_avg shape": (lambda s: _opt(s)["state"][0].update(exp_avg=torch.zeros(3)), r"state\[0\]\.exp_avg"),
    "exp_avg dtype": (
        lambda s: _opt(s)["state"][0].update(exp_avg=_opt(s)["state"][0]["exp_avg"].double()),
        r"state\[0\]\.exp_avg",
    ),
    "state of no parameter": (lambda s: _opt(s)["state"].update({999: _opt(s)["state"][0]}), r"state\[999\]"),
    "exp_avg missing": (lambda s: _opt(s)["state"][0].pop("exp_avg"), r"state\[0\]\.exp_avg"),  # found by fuzzing
    "unknown state key": (lambda s: _opt(s)["state"][0].update(evil=torch.zeros(1)), r"state\[0\]\.evil"),
    "step of two values": (lambda s: _opt(s)["state"][0].update(step=torch.zeros(2)), r"state\[0\]\.step"),
    "params reversed": (
        lambda s: _opt(s)["param_groups"][0].update(params=_opt(s)["param_groups"][0]["params"][::-1]),
        r"param_groups\[0\]\.params",
    ),
    "lr a string": (lambda s: _opt(s)["param_groups"][0].update(lr="x"), r"param_groups\[0\]\.lr"),
    "lr negative": (lambda s: _opt(s)["param_groups"][0].update(lr=-1.0), r"param_groups\[0\]\.lr"),
    "no optimizer": (lambda s: s.update(optimizer_states=[]), r"optimizer_states"),
    "scheduler epoch a string": (lambda s: s["lr_schedulers"][0].update(last_epoch="a"), r"lr_schedulers\[0\]"),
    "scheduler base_lrs empty": (lambda s: s["lr_schedulers"][0].update(base_lrs=[]), r"base_lrs"),
    "loop counter negative": (lambda s: _loops(s).update(ready=-1), r"loops.fit_loop"),
    "loop counter a float": (lambda s: _loops(s).update(completed=1.5), r"loops.fit_loop"),
    "no fit loop": (lambda s: s["loops"].pop("fit_loop"), r"loops"),
    "position epoch a string": (lambda s: _pos(s).update(epoch="a"), r"TrainingPosition'\]\.epoch"),
    "position batch size 0": (lambda s: _pos(s).update(batch_size=0), r"batch_size"),
    "position no rng": (lambda s: _pos(s).update(rng=[]), r"\.rng"),
    "position numpy keys": (
        lambda s: _pos(s)["rng"][0]["numpy"].update(keys=torch.zeros(3, dtype=torch.int64)),
        r"numpy\.keys",
    ),
    "position torch rng": (lambda s: _pos(s)["rng"][0].update(torch=torch.zeros(3, dtype=torch.uint8)), r"\.torch"),
    "position python rng": (lambda s: _pos(s)["rng"][0].update(python=(3, (1, 2), None)), r"\.python"),
    "keep-best value": (lambda s: s["callbacks"].update(KeepBest={"best": "a", "history": []}), r"KeepBest'\]\.best"),
    "keep-best weights": (
        lambda s: s["callbacks"].update(KeepBest={"best": 0.5, "best_state": {"w": torch.zeros(1)}, "history": []}),
        r"best_state",
    ),
    "keep-best history": (lambda s: s["callbacks"].update(KeepBest={"best": None, "history": [["x"]]}), r"history"),
    "unknown callback": (lambda s: s["callbacks"].update(Evil={}), r"Evil"),
    "monitor seconds negative": (
        lambda s: s["callbacks"].update(MonitorClock={"seconds": -1.0, "validations": 1}),
        r"MonitorClock'\]\['seconds'\]",
    ),
    "figure sets a string": (
        lambda s: s["callbacks"].update(SimilarityMaps={"seconds": 1.0, "sets": "2", "last_step": None}),
        r"SimilarityMaps'\]\['sets'\]",
    ),
    "figure state with another field": (
        lambda s: s["callbacks"].update(SimilarityMaps={"seconds": 1.0, "sets": 2, "last_step": 4, "x": 0}),
        r"SimilarityMaps'\]",
    ),
    "model weight shape": (lambda s: s["state_dict"].update({_first_param(s): torch.zeros(1)}), r"state_dict\["),
    "global step a string": (lambda s: s.update(global_step="5"), r"global_step"),
}


def test_the_untouched_state_passes(module_and_state):
    module, state = module_and_state
    check_resume_state(state, module, "last.ckpt")


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_crafted_resume_state_is_refused_naming_the_field(module_and_state, name):
    import copy

    module, state = module_and_state
    crafted = copy.deepcopy(state)
    change, field = MUTATIONS[name]
    change(crafted)
    with pytest.raises(InvalidInputError, match=rf"last\.ckpt: resume state field .*{field}"):
        check_resume_state(crafted, module, "RUN/checkpoints/last.ckpt")


def test_a_wrong_adam_state_exits_2_where_it_crashed_the_interpreter(tmp_path, tiny_pretrained_run):
    """Before: a segmentation fault (exit 139) in the fused Adam step, run.json left "running"."""
    run = tmp_path / "run"
    shutil.copytree(tiny_pretrained_run, run)
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, "status": "interrupted"}))
    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    state["optimizer_states"][0]["state"][0]["exp_avg"] = torch.zeros(3)
    torch.save(state, run / "checkpoints" / "last.ckpt")
    before = fingerprint(run)
    done = run_cli("pretrain", "--data", "synthetic", "--out", run, "--resume", "--max-epochs", "4", "--no-progress")
    assert done.returncode == 2, done.stderr[-2000:]
    assert "exp_avg" in done.stderr and "Traceback" not in done.stderr
    assert fingerprint(run) == before  # checked before the folder is touched


def test_resume_of_a_finished_run_changes_nothing(tmp_path, tiny_pretrained_run, capsys):
    """Before: Lightning deleted logs/metrics.csv, run.json ended with an empty summary."""
    run = tmp_path / "run"
    shutil.copytree(tiny_pretrained_run, run)
    before = fingerprint(run)
    assert main(["pretrain", "--data", "synthetic", "--out", str(run), "--resume", "--no-progress"]) == 0
    said = capsys.readouterr().out
    assert "finished pretrain run" in said and "--resume --max-epochs 6" in said
    assert {k: v for k, v in fingerprint(run).items() if k != ".lock"} == {
        k: v for k, v in before.items() if k != ".lock"
    }


def test_resume_extends_a_run_and_keeps_its_whole_record(tmp_path, tiny_pretrained_run, capsys):
    """`--resume --max-epochs 4` without --config (the run's own config.yaml): before, the cpu preset
    was used and refused, and metrics.csv kept only the new epoch."""
    run = tmp_path / "run"
    shutil.copytree(tiny_pretrained_run, run)
    first = json.loads((run / "run.json").read_text())
    losses = train_losses(run)
    assert (
        main(
            [
                "pretrain",
                "--data",
                "synthetic",
                "--out",
                str(run),
                "--resume",
                "--max-epochs",
                "4",
                "--checkpoint-every",
                "0",
                "--log-images-every",
                "0",
                "--no-progress",
            ]
        )
        == 0
    )
    assert "pretrained 4 epochs, 64 steps" in capsys.readouterr().out
    now = train_losses(run)  # each step once, in order
    assert sorted(now) == list(range(64)) and all(now[k] == v for k, v in losses.items())
    with open(run / "logs" / "metrics.csv") as fh:
        assert sum(line.startswith("epoch,") or line.startswith("step,") for line in fh) <= 1  # one header
    assert len(metric_rows(run)) > len(metric_rows(tiny_pretrained_run))
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "finished" and info["summary"]["steps"] == 64 and info["resumes"] == 1
    # the monitoring the summary counts is the whole run's, earlier attempt included
    assert info["summary"]["validations"] > first["summary"]["validations"] > 0
    assert info["summary"]["monitor_s"] > first["summary"]["monitor_s"]
    (earlier,) = info["attempts"]
    assert earlier["steps"] == [0, 48] and earlier["wall_s"] == pytest.approx(first["summary"]["wall_s"])
    assert info["summary"]["wall_s"] > first["summary"]["wall_s"]  # the whole run's time
    assert (run / "figures" / "pretraining_curves.png").is_file()
