"""``train/`` ``val/`` ``test/`` trees of class folders, and a folder of class subfolders without a split."""

from __future__ import annotations

from collections import Counter

import pytest

from skipclip.data.catalog.index import SplitError, select, split_of
from skipclip.data.catalog.layouts import load_index, resolve

from video_factory import make_splitdirs, touch


def test_train_val_tree_is_detected_and_val_is_the_test_split(tmp_path):
    make_splitdirs(tmp_path)
    assert resolve(tmp_path)[0] == "splitdirs"  # not two classes named "train" and "val"
    index = load_index(tmp_path)
    assert index.classes == ["jump", "run", "walk"]
    assert Counter(e.folds[1] for e in index.entries) == {"train": 12, "test": 6}
    test = [index.entries[i] for i in select(index.entries, "test")]
    assert all(e.path.startswith("val/") for e in test) and {e.label for e in test} == {0, 1, 2}
    val = [index.entries[i] for i in select(index.entries, "val", val_fraction=0.1, classes=index.classes)]
    assert sorted(e.label for e in val) == [0, 1, 2] and all(e.path.startswith("train/") for e in val)


def test_with_test_folder_val_folder_is_validation(tmp_path):
    make_splitdirs(tmp_path, per_split={"train": 3, "val": 1, "test": 2})
    index = load_index(tmp_path)
    assert [len(select(index.entries, s)) for s in ("train", "val", "test")] == [9, 3, 6]


def test_class_without_training_videos_is_an_unknown_label(tmp_path):
    make_splitdirs(tmp_path)
    touch(tmp_path / "val" / "swim" / "swim_0.mp4")
    with pytest.raises(SplitError, match=r"val: class folders swim have no videos under train/ \(unknown labels\)"):
        load_index(tmp_path)


def test_empty_split_folder_is_named(tmp_path):
    make_splitdirs(tmp_path, per_split={"train": 2})
    (tmp_path / "test").mkdir()
    with pytest.raises(SplitError, match=r"test holds no videos in class folders: the test split is empty"):
        load_index(tmp_path, layout="splitdirs")


def test_folder_split_is_per_class_by_group_and_deterministic(tmp_path):
    for c in ("box", "clap", "wave"):
        for person in range(1, 6):
            for take in range(2):
                touch(tmp_path / c / f"person{person:02d}_{c}_d{take}.avi")
    index = load_index(tmp_path, group_pattern=r"(person\d+)", test_fraction=0.2)
    assert index.layout == "folder" and index.split["group_pattern"] == r"(person\d+)"
    test = [e for e in index.entries if e.role(1) == "test"]
    assert Counter(e.label for e in test) == {0: 2, 1: 2, 2: 2}  # one person of each class
    train_groups = {(e.label, e.group) for e in index.entries if e.role(1) == "train"}
    assert not {(e.label, e.group) for e in test} & train_groups
    regrouped = load_index(tmp_path, group_pattern=r"(person\d+)")
    assert [e.folds for e in regrouped.entries] == [e.folds for e in index.entries]
    roles = split_of(index.entries, val_fraction=0.1, classes=index.classes)
    assert {e.label for r, e in zip(roles, index.entries) if r == "val"} == {0, 1, 2}


def test_bad_group_pattern_is_named(tmp_path):
    touch(tmp_path / "a" / "x.avi")
    with pytest.raises(ValueError, match=r"--group-pattern '\(person' is not a valid regular expression"):
        load_index(tmp_path, group_pattern="(person")
