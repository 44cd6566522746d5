"""Logging through Lightning's loggers: one tiny pretraining run with CSV, TensorBoard and W&B
(offline) at once; the same scalars reach every logger, and the Figure 3 similarity maps arrive
as images."""

from __future__ import annotations

import csv
import glob
import json
import math
import struct
from importlib.util import find_spec
from pathlib import Path

import pytest

from skipclip.engine.loggers import parse_loggers

from helpers import child_env, cli, tiny_config

HEALTH = (
    "train/loss",
    "train/rank_acc",
    "val/rank_acc",
    "val/kendall_tau",
    "val/pos_neg_gap",
    # pretext health over many windows and the online kNN (docs/pretext-health.md)
    "health/rank_acc",
    "health/rank_acc_lo",
    "health/rank_acc_hi",
    "health/train_rank_acc",
    "knn/top1",
)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    import subprocess

    root = tmp_path_factory.mktemp("loggers")
    config = tiny_config(root / "tiny.yaml", optim={"max_epochs": 2}, trainer={"limit_train_batches": 3})
    names = ["csv"] + [n for n in ("tensorboard", "wandb") if find_spec(n) is not None]
    env = child_env()
    env.pop("WANDB_API_KEY", None)  # offline
    env.update(WANDB_SILENT="true", WANDB_DISABLE_CODE="true")
    out = root / "run"
    done = subprocess.run(
        cli(
            "pretrain",
            "--config",
            config,
            "--out",
            out,
            "--no-progress",
            "--log-images-every",
            "1",
            "--logger",
            ",".join(names[:2]),
            *(["--logger", names[2]] if len(names) > 2 else []),
        ),
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def csv_series(out, key):
    """{step: value} of a metric in metrics.csv."""
    with open(out / "logs" / "metrics.csv") as fh:
        return {int(r["step"]): float(r[key]) for r in csv.DictReader(fh) if r.get(key)}


def test_parse_loggers():
    assert parse_loggers(None) == ("csv",)
    assert parse_loggers(["csv,csv", "CSV"]) == ("csv",)
    with pytest.raises(ValueError, match="unknown logger 'mlflow'"):
        parse_loggers(["csv,mlflow"])


@pytest.mark.e2e
def test_csv_holds_the_pretext_health_and_figures_are_drawn(run):
    for key in HEALTH:
        assert csv_series(run, key), key
    assert len(csv_series(run, "val/rank_acc")) == 2  # one value per epoch
    pngs = sorted(p.name for p in (run / "figures").glob("similarity_*.png"))
    assert len(pngs) == 6 and pngs[0].startswith("similarity_epoch0000_")  # 3 videos x 2 epochs
    assert (run / "figures" / "pretraining_curves.png").is_file()


@pytest.mark.e2e
def test_tensorboard_event_file_has_the_scalars_and_images(run):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (events,) = glob.glob(str(run / "logs" / "tensorboard" / "events.out.tfevents.*"))
    ea = EventAccumulator(str(run / "logs" / "tensorboard"), size_guidance={"images": 0})
    ea.Reload()
    tags = ea.Tags()
    assert set(HEALTH) <= set(tags["scalars"])
    for key in ("val/rank_acc", "val/kendall_tau", "train/loss"):
        tb = {e.step: e.value for e in ea.Scalars(key)}
        assert tb.keys() == csv_series(run, key).keys()
        for step, value in csv_series(run, key).items():
            assert tb[step] == pytest.approx(value, rel=1e-5)
    assert len(tags["images"]) == 3 and all(len(ea.Images(t)) == 2 for t in tags["images"])


def read_wandb_history(path):
    """The history rows of an offline ``run-*.wandb`` file (a LevelDB-style log of protobuf records)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data, block, off, records, part = Path(path).read_bytes(), 32768, 7, [], b""  # 7: the ":W&B" header
    while off + 7 <= len(data):
        if block - off % block < 7:  # a block's tail too short for a record header is padding
            off += block - off % block
            continue
        _, length, kind = struct.unpack("<IHB", data[off : off + 7])
        chunk, off = data[off + 7 : off + 7 + length], off + 7 + length
        if kind in (1, 2):  # full record, or first fragment
            part = chunk
        elif kind in (3, 4):  # middle, last fragment
            part += chunk
        if kind in (1, 4):
            records.append(part)
    rows = []
    for raw in records:
        rec = pb.Record()
        rec.ParseFromString(raw)
        if rec.WhichOneof("record_type") == "history":
            rows.append({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in rec.history.item})
    return rows


@pytest.mark.e2e
def test_wandb_offline_run_has_the_scalars_and_images(run):
    pytest.importorskip("wandb")
    (offline,) = glob.glob(str(run / "logs" / "wandb" / "offline-run-*"))
    (log_file,) = glob.glob(f"{offline}/run-*.wandb")
    rows = read_wandb_history(log_file)
    for key in ("val/rank_acc", "val/kendall_tau", "train/loss"):
        wb = {r["trainer/global_step"]: r[key] for r in rows if key in r}
        assert wb.keys() == csv_series(run, key).keys()
        for step, value in csv_series(run, key).items():
            assert math.isclose(wb[step], value, rel_tol=1e-5)
    images = glob.glob(f"{offline}/files/media/images/similarity/*.png")
    assert len(images) == 6


def test_the_csv_log_continues_an_earlier_attempt(tmp_path):
    """Issue 25: Lightning's CSVLogger deleted metrics.csv when it found one, so a resume kept only
    the resumed part of the history."""
    import csv

    from skipclip.engine.run_csv import RunCSVLogger, cut_after

    first = RunCSVLogger(tmp_path)
    for step in range(10):
        first.log_metrics({"train/loss": float(step)}, step=step)
    first.save()
    assert cut_after(tmp_path, 6) == 6  # resumed from the step-6 checkpoint: steps 6-9 are trained again
    second = RunCSVLogger(tmp_path)
    for step in range(6, 12):
        second.log_metrics({"train/loss": float(step), **({"val/rank_acc": 0.5} if step == 11 else {})}, step=step)
    second.save()
    with open(tmp_path / "logs" / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows] == list(range(12))  # once each, in order, one header
    assert [float(r["train/loss"]) for r in rows] == [float(s) for s in range(12)]
    assert rows[-1]["val/rank_acc"] == "0.5" and rows[0]["val/rank_acc"] == ""  # a new column: header rewritten
    cut_after(tmp_path, None)  # a fresh start in the folder: no earlier rows
    assert not (tmp_path / "logs" / "metrics.csv").exists()
