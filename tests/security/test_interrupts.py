"""Issue 21 case 5: how runs end. Ctrl+C exits 130 and marks the run interrupted (--resume
continues it); a failed fine-tuning is marked failed; booleans are refused where numbers are
expected; device lists are checked before a run folder exists; prepare's workers end with it; a
full disk is named as such and stops prepare."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from skipclip.cli import main
from skipclip.config import load_config, parse_sets
from skipclip.data.store import pool as decode_pool
from skipclip.data.store.prepare import prepare

from helpers import child_env, cli, tiny_config, tiny_overrides
from video_factory import make_folder, video


@pytest.fixture(autouse=True)
def default_signal_handlers():
    """Python's own SIGINT and SIGTERM handlers for each test: a pytest started in the background
    by a non-interactive shell (`cmd &`, nohup) inherits SIGINT ignored, and skipclip rightly
    leaves an ignored SIGINT alone."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


# ------------------------------------------------------------------------------ configuration


@pytest.mark.parametrize(
    "setting",
    [
        "optim.max_steps=yes",
        "finetune.max_steps=true",
        "trainer.time_budget_min=on",
        "trainer.limit_train_batches=yes",
        "optim.val_every_steps=no",
        "finetune.clip_frames=true",
        "trainer.devices=[true]",
    ],
)
def test_a_boolean_is_refused_where_a_number_is_expected(setting):
    key = setting.split("=")[0]
    with pytest.raises(ValueError, match=rf"^{key} must not be a boolean"):
        load_config("cpu", tiny_overrides(), sets=parse_sets([setting]))


@pytest.mark.parametrize("devices", ["[-1]", "[0, 0]", "[]", "[0]"])
def test_a_bad_device_list_is_refused_before_the_run_folder_exists(tmp_path, capsys, devices):
    out = tmp_path / "run"
    assert (
        main(
            [
                "pretrain",
                "--data",
                "synthetic",
                "--out",
                str(out),
                "--no-progress",
                "--config",
                str(tiny_config(tmp_path / "t.yaml")),
                "--set",
                f"trainer.devices={devices}",
            ]
        )
        == 2
    )
    assert "trainer.devices" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without a GPU")
def test_gpu_ids_on_a_machine_without_gpus_are_refused_before_the_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    config = str(tiny_config(tmp_path / "t.yaml"))
    args = [
        "--data",
        "synthetic",
        "--out",
        str(out),
        "--no-progress",
        "--config",
        config,
        "--set",
        "trainer.accelerator=auto",
        "trainer.devices=[0]",
    ]
    for command in ("pretrain", "finetune"):
        assert main([command, *args, *(["--ckpt", "random"] if command == "finetune" else [])]) == 2
        assert "names GPU ids, but this run trains on the CPU" in capsys.readouterr().err
        assert not out.exists()


# ------------------------------------------------------------------------------ a failed fine-tuning


def test_a_fine_tuning_that_fails_is_marked_failed(tmp_path, monkeypatch):
    from skipclip.eval.classifier import ActionClassifier
    from skipclip.recipes.finetune import run_finetune

    def broken(self, batch, batch_idx):
        raise RuntimeError("the first fine-tuning step fails")

    monkeypatch.setattr(ActionClassifier, "training_step", broken)
    out = tmp_path / "ft"
    cfg = load_config(tiny_config(tmp_path / "t.yaml"))
    with pytest.raises(RuntimeError, match="first fine-tuning step"):
        run_finetune(cfg, "synthetic", out, progress=False)
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "failed" and "the first fine-tuning step fails" in info["error"]


# ------------------------------------------------------------------------------ Ctrl+C, in process


def _ctrl_c_at_step(monkeypatch, cls, step: int = 2, signum=signal.SIGINT) -> None:
    """Deliver a real SIGINT (or ``signum``) to this process from inside the given training step."""
    real = cls.training_step

    def step_then_ctrl_c(self, batch, batch_idx):
        if self.global_step == step:
            os.kill(os.getpid(), signum)
        return real(self, batch, batch_idx)

    monkeypatch.setattr(cls, "training_step", step_then_ctrl_c)


def test_ctrl_c_in_pretraining_exits_130_and_marks_the_run_interrupted(tmp_path, monkeypatch, capsys):
    from skipclip.engine.skipclip_module import SkipClipModule

    _ctrl_c_at_step(monkeypatch, SkipClipModule)
    out = tmp_path / "run"
    assert (
        main(
            [
                "pretrain",
                "--data",
                "synthetic",
                "--out",
                str(out),
                "--no-progress",
                "--log-images-every",
                "0",
                "--config",
                str(tiny_config(tmp_path / "t.yaml")),
            ]
        )
        == 130
    )
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "interrupted" and "--resume" in info["error"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_sigterm_in_pretraining_exits_143_and_marks_the_run_interrupted(tmp_path, monkeypatch, capsys):
    """A scheduler's preemption (SIGTERM) is an interruption, not a crash: run.json says so and
    ``--resume`` continues; before, the run was left marked ``running``."""
    from skipclip.engine.skipclip_module import SkipClipModule

    _ctrl_c_at_step(monkeypatch, SkipClipModule, signum=signal.SIGTERM)
    out = tmp_path / "run"
    assert (
        main(
            [
                "pretrain",
                "--data",
                "synthetic",
                "--out",
                str(out),
                "--no-progress",
                "--log-images-every",
                "0",
                "--config",
                str(tiny_config(tmp_path / "t.yaml")),
            ]
        )
        == 143
    )
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "interrupted" and "SIGTERM" in info["error"] and "--resume" in info["error"]
    assert "terminated (SIGTERM)" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_sigterm_before_training_starts_is_an_interruption_too(tmp_path):
    from skipclip.engine.run_signals import recorded
    from skipclip.engine.runs import start_run

    out = tmp_path / "run"
    cfg = load_config(tiny_config(tmp_path / "t.yaml"))
    start_run(out, cfg, None, resume=False, force=False, kind="pretrain")
    with pytest.raises(KeyboardInterrupt) as caught, recorded(out):
        os.kill(os.getpid(), signal.SIGTERM)
    assert type(caught.value).__name__ == "Terminated"
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"


def test_ctrl_c_in_fine_tuning_exits_130_and_marks_the_run_interrupted(tmp_path, monkeypatch):
    from skipclip.eval.classifier import ActionClassifier

    _ctrl_c_at_step(monkeypatch, ActionClassifier)
    out = tmp_path / "ft"
    assert (
        main(
            [
                "finetune",
                "--data",
                "synthetic",
                "--out",
                str(out),
                "--no-progress",
                "--ckpt",
                "random",
                "--config",
                str(tiny_config(tmp_path / "t.yaml")),
            ]
        )
        == 130
    )
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"


# ------------------------------------------------------------------------------ prepare and a full disk


class _FullDisk(decode_pool.ShardWriter):
    def add(self, frame):
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_stops_prepare_and_is_named(tmp_path, monkeypatch, capsys):
    videos = make_folder(tmp_path / "videos", per_class=2, frames=12)
    monkeypatch.setattr(decode_pool, "ShardWriter", _FullDisk)
    with pytest.raises(decode_pool.DiskFullError, match=r"^disk full at .*store"):
        prepare(videos, tmp_path / "store", short_side=24, workers=0, progress=False)
    assert (
        main(
            [
                "prepare",
                "--videos",
                str(videos),
                "--out",
                str(tmp_path / "s2"),
                "--short-side",
                "24",
                "--workers",
                "0",
                "--no-progress",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "disk full at" in err and "could not be used" not in err


def test_a_quota_is_named_too(tmp_path):
    full = decode_pool.disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"), tmp_path)
    assert str(full).startswith(f"disk quota exceeded at {tmp_path}")
    assert decode_pool.disk_full(OSError(errno.EACCES, "Permission denied"), tmp_path) is None


# ------------------------------------------------------------------------------ processes (slow)


def _children(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (read from /proc)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] not in ("Z", "X"):
            parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        found += kids
        frontier += kids
    return found


def _alive(pids: list[int]) -> list[int]:
    out = []
    for p in pids:
        try:
            state = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in ("Z", "X"):
            out.append(p)
    return out


@pytest.mark.e2e
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_killing_prepare_ends_its_workers_and_forkserver(tmp_path, how):
    for c in ("a", "b"):
        for i in range(3):
            video(tmp_path / "videos" / c / f"{c}{i}.avi", n=1500, seed=i)
    proc = subprocess.Popen(
        cli(
            "prepare",
            "--videos",
            tmp_path / "videos",
            "--out",
            tmp_path / "store",
            "--workers",
            "2",
            "--short-side",
            "24",
            "--no-progress",
        ),
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    family: list[int] = []
    try:
        deadline = time.time() + 240
        while len(family) < 4 and time.time() < deadline:  # resource tracker, forkserver, 2 workers
            assert proc.poll() is None
            family = _children(proc.pid)
            time.sleep(0.2)
        assert len(family) >= 4, family
        proc.send_signal(how)
        proc.wait(timeout=60)
        deadline = time.time() + 30
        while _alive(family) and time.time() < deadline:
            time.sleep(0.2)
        assert _alive(family) == []
    finally:
        proc.kill()
        proc.wait()
        for p in _alive(family):  # what a failing run left behind
            Path(f"/proc/{p}").exists() and subprocess.run(["kill", "-9", str(p)], check=False)


def _status(out: Path) -> str | None:
    try:
        return json.loads((out / "run.json").read_text()).get("status")
    except (OSError, ValueError):
        return None


def _interrupt_when(ready: Path, proc: subprocess.Popen, timeout: float = 240) -> subprocess.CompletedProcess:
    deadline = time.time() + timeout
    while not ready.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, f"{ready} never appeared"
        time.sleep(0.2)
    time.sleep(1)
    proc.send_signal(signal.SIGINT)  # Ctrl+C, delivered to the main process only
    stdout, stderr = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@pytest.mark.e2e
def test_ctrl_c_in_pretraining_exits_130_marks_it_interrupted_and_resume_continues(tmp_path):
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
    proc = subprocess.Popen(
        cli(*common, "--max-epochs", "100000"),
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    done = _interrupt_when(out / "checkpoints" / "last.ckpt", proc)
    assert done.returncode == 130, done.stderr[-2000:]
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "interrupted" and "KeyboardInterrupt" in info["error"]
    again = subprocess.run(
        cli(*common, "--max-epochs", "100000", "--resume", "--time-budget", "0.05"),
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "finished" and info["attempts"][-1]["status"] == "interrupted"
    assert info["resumed_from_status"] == "interrupted"


@pytest.mark.e2e
def test_ctrl_c_in_fine_tuning_exits_130_and_marks_it_interrupted(tmp_path):
    out, config = tmp_path / "ft", tiny_config(tmp_path / "t.yaml")
    proc = subprocess.Popen(
        cli(
            "finetune",
            "--data",
            "synthetic",
            "--ckpt",
            "random",
            "--out",
            str(out),
            "--config",
            str(config),
            "--no-progress",
            "--max-epochs",
            "100000",
        ),
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    done = _interrupt_when(out / "checkpoints" / "last.ckpt", proc)
    assert done.returncode == 130, done.stderr[-2000:]
    assert _status(out) == "interrupted"


def test_ctrl_c_turned_into_another_error_by_a_library_still_reads_as_an_interruption(tmp_path):
    """Ctrl+C inside torch.save surfaces as torch's RuntimeError ("unexpected pos"), not as
    KeyboardInterrupt: the run is still marked interrupted, and the CLI exits 130."""
    import signal

    from skipclip.config import load_config
    from skipclip.engine.run_signals import recorded
    from skipclip.engine.runs import prepare_run_dir, read_run

    out = prepare_run_dir(tmp_path / "run", load_config("cpu"), resume=False, force=False, kind="pretrain")
    with pytest.raises(KeyboardInterrupt), recorded(out):
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos") from None
    assert read_run(out)["status"] == "interrupted"


# ------------------------------------------------------------------------------ a damaged run record


@pytest.mark.parametrize("content", [b'{"status": "runn', b"\xff\xfe\x00garbage", b"[1, 2, 3]"])
def test_a_damaged_run_json_is_named_not_a_traceback(tmp_path, capsys, content):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_bytes(content)
    args = [
        "pretrain",
        "--data",
        "synthetic",
        "--out",
        str(out),
        "--no-progress",
        "--config",
        str(tiny_config(tmp_path / "t.yaml")),
    ]
    assert main([*args, "--resume"]) == 2
    err = capsys.readouterr().err
    assert f"{out / 'run.json'} is not a readable run record" in err and "Traceback" not in err


def test_an_oversized_run_json_is_refused_before_it_is_read(tmp_path, monkeypatch):
    from skipclip.engine import run_files, runs

    monkeypatch.setattr(run_files, "RUN_RECORD_MAX_BYTES", 100)
    (tmp_path / "run.json").write_text(json.dumps({"status": "finished", "pad": "x" * 200}))
    with pytest.raises(ValueError, match="more than a run record's 100"):
        runs.read_run(tmp_path)


def test_the_end_of_a_run_replaces_a_damaged_record(tmp_path):
    from skipclip.engine.runs import finish_run, read_run

    (tmp_path / "run.json").write_text("{not json")
    finish_run(tmp_path, status="finished")
    assert read_run(tmp_path)["status"] == "finished"
