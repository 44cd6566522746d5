"""The user's own labelled footage: a folder of class subfolders and a train/ + val/ tree fine-tune
and evaluate with no split files and no layout flag, straight from the folder and from a store."""

from __future__ import annotations

import json

import pytest

from skipclip.cli import main
from skipclip.data.open import open_split
from skipclip.data.store.prepared import PreparedStore

from helpers import tiny_config
from video_factory import make_splitdirs, video

CLASSES = ("jump", "run", "walk")


def _video(path):
    return video(path, n=16, h=32, w=40, seed=len(path.name))


def _tiny(path):
    return tiny_config(
        path,
        pretext={"context_frames": 8, "num_targets": 4, "sampling_rate": 2},
        data={"short_side": 32},
        finetune={"max_epochs": 1, "batch_size": 8, "lr_step_epochs": 1, "lr_last_step_epoch": 2},
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("own") / "clips"
    for c in CLASSES:
        for i in range(5):
            _video(root / c / f"{c}{i}.mp4")
    return root


def _finetune_and_evaluate(data, tmp_path, capsys):
    cfg = str(_tiny(tmp_path / "tiny.yaml"))
    out = tmp_path / "ft"
    assert (
        main(["finetune", "--data", str(data), "--out", str(out), "--config", cfg, "--no-progress", "--ckpt", "random"])
        == 0
    )
    text = capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    per = report["data"]["per_class"]
    assert set(per) == {"train", "val", "test"}
    for split in ("train", "val", "test"):
        assert sorted(per[split]) == sorted(CLASSES) and all(n >= 1 for n in per[split].values()), (split, per)
    assert "videos per class (train/val/test):" in text and "no validation video" not in text
    js = tmp_path / "eval.json"
    assert (
        main(
            [
                "evaluate",
                "--data",
                str(data),
                "--ckpt",
                str(out / "checkpoints" / "best.ckpt"),
                "--json",
                str(js),
                "--no-progress",
                "--protocols",
                "finetune,linear_probe",
            ]
        )
        == 0
    )
    ev = json.loads(js.read_text())
    assert ev["data"]["test_videos"] == report["data"]["test_videos"] == sum(per["test"].values())
    return report


@pytest.mark.e2e
def test_folder_of_class_subfolders_fine_tunes_from_the_folder(folder, tmp_path, capsys):
    report = _finetune_and_evaluate(folder, tmp_path, capsys)
    assert report["data"]["per_class"]["test"] == {"jump": 1, "run": 1, "walk": 1}  # ceil(0.2 * 5) per class


def _prepare(folder, store, capsys):
    assert (
        main(
            [
                "prepare",
                "--videos",
                str(folder),
                "--out",
                str(store),
                "--short-side",
                "32",
                "--workers",
                "0",
                "--no-progress",
            ]
        )
        == 0
    )
    return capsys.readouterr().out


def test_prepare_writes_the_folder_split(folder, tmp_path, capsys):
    store = tmp_path / "store"
    assert "split written to splits/train.txt, splits/test.txt" in _prepare(folder, store, capsys)
    test_lines = (store / "splits" / "test.txt").read_text().splitlines()
    raw_test = open_split(folder, "test")
    assert sorted(test_lines) == sorted(f"{raw_test.name(i)} {raw_test.label(i)}" for i in range(len(raw_test)))
    assert (store / "splits" / "classes.txt").read_text() == "jump\nrun\nwalk\n"
    assert json.loads((store / "manifest.json").read_text())["split"]["test_fraction"] == 0.2
    assert len(PreparedStore(store, "test")) == 3


@pytest.mark.e2e
def test_the_prepared_folder_store_fine_tunes(folder, tmp_path, capsys):
    store = tmp_path / "store"
    _prepare(folder, store, capsys)
    _finetune_and_evaluate(store, tmp_path, capsys)


@pytest.mark.e2e
def test_train_val_tree_fine_tunes_with_val_as_test(tmp_path, capsys):
    root = make_splitdirs(tmp_path / "tree", classes=CLASSES, per_split={"train": 4, "val": 2}, make=_video)
    report = _finetune_and_evaluate(root, tmp_path, capsys)
    assert report["data"]["test_videos"] == 6 and report["data"]["train_videos"] == 9


def test_forced_layout_and_test_fraction_reach_the_run(folder, tmp_path):
    from skipclip.config import load_config

    cfg = load_config(str(_tiny(tmp_path / "t.yaml")), {"data.test_fraction": 0.4})
    assert len(open_split(folder, "test", cfg=cfg)) == 6  # ceil(0.4 * 5) per class
    assert (
        main(["finetune", "--data", str(folder), "--out", str(tmp_path / "x"), "--layout", "lists", "--ckpt", "random"])
        == 2
    )
