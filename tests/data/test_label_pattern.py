"""``--label-pattern``: flat folders whose file names carry the class (KTH's
``person01_boxing_d2_uncomp.avi`` with ``person\\d+_([a-z]+)_``)."""

from __future__ import annotations

import logging

import pytest

from skipclip.config import load_config
from skipclip.data import load_index, open_data
from skipclip.errors import InvalidInputError

from video_factory import REAL_CLIPS, make_ucf101, touch, video

KTH_PATTERN = r"person\d+_([a-z]+)_"
KTH = REAL_CLIPS / "kth"


def kth_like(root, people=4, actions=("boxing", "walking")):
    for p in range(1, people + 1):
        for a in actions:
            touch(root / f"person{p:02d}_{a}_d{p % 2 + 1}_uncomp.avi")
    return root


def test_classes_come_from_the_file_names(tmp_path):
    root = kth_like(tmp_path / "kth")
    index = load_index(root, label_pattern=KTH_PATTERN, group_pattern=r"(person\d+)")
    assert index.layout == "folder" and index.classes == ["boxing", "walking"]
    for e in index.entries:
        assert index.classes[e.label] in e.path and e.group == e.path[:8]
    test = [e for e in index.entries if e.role(1) == "test"]
    assert {index.classes[e.label] for e in test} == {"boxing", "walking"}  # every class in test, by group
    assert not {e.group for e in test} & {e.group for e in index.entries if e.role(1) == "train"}
    without = load_index(root)
    assert without.classes == [] and all(e.label == -1 for e in without.entries)  # unlabelled without a pattern


def test_a_run_reads_the_pattern_from_the_config(tmp_path):
    root = tmp_path / "kth"
    for p in range(1, 5):
        for a in ("boxing", "walking"):
            video(root / f"person{p:02d}_{a}_d1_uncomp.avi", n=20, seed=p)
    cfg = load_config("cpu", {"data.label_pattern": KTH_PATTERN, "data.val_fraction": 0.0})
    splits = open_data(root, cfg, need_test=True)
    assert splits.train.classes == ["boxing", "walking"]
    names = [splits.test.name(i) for i in range(len(splits.test))]
    assert all(splits.test.classes[splits.test.label(i)] in names[i] for i in range(len(names)))


def test_videos_the_pattern_misses_are_unlabelled_and_named(tmp_path, caplog):
    root = kth_like(tmp_path / "kth", people=2)
    touch(root / "notes_from_the_shoot.avi")
    with caplog.at_level(logging.WARNING, logger="skipclip"):
        index = load_index(root, label_pattern=KTH_PATTERN)
    odd = next(e for e in index.entries if e.path == "notes_from_the_shoot.avi")
    assert odd.label == -1 and "notes_from_the_shoot.avi" in caplog.text and "matches 4 of 5" in caplog.text


@pytest.mark.parametrize(
    "pattern,match",
    [(r"person(\d+", "not a valid regular expression"), (r"walker_([a-z]+)", "matches none of the 4 video paths")],
)
def test_bad_patterns_are_refused_with_the_fix(tmp_path, pattern, match):
    root = kth_like(tmp_path / "kth", people=2)
    with pytest.raises(InvalidInputError, match=match):
        load_index(root, label_pattern=pattern)


def test_layouts_with_split_files_refuse_a_label_pattern(tmp_path):
    root = make_ucf101(tmp_path / "ucf", groups=2, test_groups=1, frames=4)
    with pytest.raises(InvalidInputError, match="label-pattern.*folder layout"):
        load_index(root, label_pattern=KTH_PATTERN)


@pytest.mark.skipif(not KTH.is_dir(), reason=f"real KTH clips not found at {KTH} (../shared is absent)")
def test_the_kth_clips_get_their_actions():
    index = load_index(KTH, label_pattern=KTH_PATTERN)
    assert index.classes == ["boxing", "handclapping", "jogging"]
    labels = {e.path: index.classes[e.label] for e in index.entries}
    assert labels == {
        "person01_boxing_d2_uncomp.mp4": "boxing",
        "person03_boxing_d4_uncomp.mp4": "boxing",
        "person04_boxing_d1_uncomp.mp4": "boxing",
        "person01_handclapping_d1_uncomp.mp4": "handclapping",
        "person01_handclapping_d2_uncomp.avi": "handclapping",
        "person01_jogging_d1_uncomp.avi": "jogging",
    }
