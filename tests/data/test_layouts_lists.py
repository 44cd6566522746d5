"""mmaction2-style list files: generated trees, every bad case named, and kinetics-tiny as it ships."""

from __future__ import annotations

from collections import Counter

import pytest

from skipclip.cli import main
from skipclip.data.catalog.index import SplitError, select, split_of
from skipclip.data.catalog.layouts import load_index, resolve

from video_factory import REAL_CLIPS, touch

LABELS = ["doing exercises", "typing"]


def make_lists(root, train=None, val=None, test=None, label_map=LABELS):
    """``root/{train,val}/`` and ``root/k_{train,val,test}_video.txt`` holding ``<name> <label>`` lines."""
    if label_map is not None:
        (root / "label_map.txt").parent.mkdir(parents=True, exist_ok=True)
        (root / "label_map.txt").write_text("".join(f"{n}\n" for n in label_map))
    for role, rows in (("train", train), ("val", val), ("test", test)):
        if rows is None:
            continue
        for name, _ in rows:
            if not name.startswith("!"):
                touch(root / role / name)
        (root / f"k_{role}_video.txt").write_text("".join(f"{n.lstrip('!')} {lab}\n" for n, lab in rows))
    return root


def rows(prefix, n, label):
    return [(f"{prefix}{i}.mp4", label) for i in range(n)]


def test_list_layout_detected_labels_from_the_map_and_val_list_is_test(tmp_path):
    make_lists(tmp_path, train=rows("a", 4, 0) + rows("b", 4, 1), val=rows("c", 2, 0) + rows("d", 2, 1))
    assert resolve(tmp_path)[0] == "lists"
    index = load_index(tmp_path)
    assert index.layout == "lists" and index.classes == LABELS  # names with spaces, in label order
    by_path = {e.path: e for e in index.entries}
    assert by_path["train/b3.mp4"].label == 1 and by_path["train/b3.mp4"].folds == {1: "train"}
    assert by_path["val/c1.mp4"].folds == {1: "test"}  # no test list: the validation list is the test split
    assert len(select(index.entries, "test")) == 4
    roles = split_of(index.entries, val_fraction=0.2, classes=index.classes)
    assert Counter((r, e.label) for r, e in zip(roles, index.entries) if r == "val") == {("val", 0): 1, ("val", 1): 1}


def test_with_a_test_list_the_val_list_is_validation(tmp_path):
    make_lists(
        tmp_path,
        train=rows("a", 3, 0) + rows("b", 3, 1),
        val=rows("c", 1, 0) + rows("d", 1, 1),
        test=rows("e", 2, 0) + rows("f", 2, 1),
    )
    index = load_index(tmp_path)
    assert [len(select(index.entries, s)) for s in ("train", "val", "test")] == [6, 2, 4]


def test_missing_and_unlisted_are_named_and_paths_may_be_relative_to_the_root(tmp_path):
    make_lists(tmp_path, train=[("a0.mp4", 0), ("!gone.mp4", 1), ("b0.mp4", 1)], val=[("c0.mp4", 0), ("!lost.mp4", 1)])
    touch(tmp_path / "test" / "stray.mp4")
    touch(tmp_path / "rooted.mp4")
    (tmp_path / "k_train_video.txt").write_text((tmp_path / "k_train_video.txt").read_text() + "rooted.mp4 0\n")
    index = load_index(tmp_path)
    assert index.missing_by_list() == {"k_train_video.txt": ["train/gone.mp4"], "k_val_video.txt": ["val/lost.mp4"]}
    assert index.unlisted() == ["test/stray.mp4"]
    assert "rooted.mp4" in {e.path for e in index.present()}


@pytest.mark.parametrize(
    "line, match",
    [
        ("a9.mp4 2", r"k_train_video.txt line 4: unknown label 2 \(labels are 0..1 of label_map.txt\)"),
        ("a0.mp4 0", r"k_train_video.txt line 4: train/a0.mp4 is listed twice \(first at k_train_video.txt line 1\)"),
        ("../../etc/x.mp4 0", r"k_train_video.txt line 4: '../../etc/x.mp4' points outside the data set's folder"),
        ("/abs/x.mp4 0", r"k_train_video.txt line 4: '/abs/x.mp4' points outside"),
        ("a0.mp4", r"k_train_video.txt line 4: expected '<video path> <0-based label>'"),
    ],
)
def test_bad_lines_are_named_with_file_and_line(tmp_path, line, match):
    make_lists(tmp_path, train=rows("a", 3, 0), val=rows("c", 1, 0))
    with open(tmp_path / "k_train_video.txt", "a") as f:
        f.write(line + "\n")
    with pytest.raises(SplitError, match=match):
        load_index(tmp_path)


def test_empty_split_is_named(tmp_path):
    make_lists(tmp_path, train=rows("a", 3, 0), val=[])
    with pytest.raises(SplitError, match=r"k_val_video.txt is empty: the val split has no videos"):
        load_index(tmp_path, layout="lists")


def test_forced_layout_that_is_not_there_is_refused(tmp_path):
    touch(tmp_path / "cls" / "a.mp4")
    with pytest.raises(ValueError, match="--layout lists: .* does not hold that layout's files"):
        load_index(tmp_path, layout="lists")


KT = REAL_CLIPS / "kinetics-tiny"
real = pytest.mark.skipif(not KT.is_dir(), reason=f"kinetics-tiny not found at {KT} (../shared is absent)")


@real
def test_kinetics_tiny_as_it_ships():
    index = load_index(KT)
    assert index.layout == "lists" and index.classes == ["doing exercises", "typing"]
    missing = index.missing_by_list()
    assert {k: len(v) for k, v in missing.items()} == {
        "kinetics_tiny_train_video.txt": 25,
        "kinetics_tiny_val_video.txt": 5,
    }
    assert index.unlisted() == [
        "test/doing_exercises38.mp4",
        "test/doing_exercises40.mp4",
        "test/typing38.mp4",
        "test/typing39.mp4",
        "test/typing40.mp4",
    ]
    present = index.present()
    roles = split_of(present, val_fraction=0.1, classes=index.classes)
    per = Counter((r, index.classes[e.label]) for r, e in zip(roles, present))
    assert per[("test", "doing exercises")] + per[("test", "typing")] == 15
    assert per[("val", "doing exercises")] >= 1 and per[("val", "typing")] >= 1  # every class in validation


@real
def test_doctor_names_every_missing_and_unlisted_clip(capsys):
    assert main(["doctor", "--data", str(KT), "--min-frames", "1", "--strict"]) == 1  # missing clips: warnings
    capsys.readouterr()
    assert main(["doctor", "--data", str(KT), "--min-frames", "1"]) == 0  # the data set is usable as shipped
    out = capsys.readouterr().out
    assert "25 listed in kinetics_tiny_train_video.txt but missing" in out
    assert "5 listed in kinetics_tiny_val_video.txt but missing" in out
    assert "train/doing_exercises1.mp4" in out or "train/typing" in out
    assert "5 present but listed in no split file" in out and "test/typing40.mp4" in out
    assert "per class (train/val/test)" in out


def test_prepare_names_the_gaps_by_list_and_carries_on(tmp_path, capsys):
    from video_factory import video

    root = tmp_path / "lists"
    make_lists(root, train=[("a0.mp4", 0), ("!gone.mp4", 1), ("b0.mp4", 1)], val=[("c0.mp4", 0), ("!lost.mp4", 1)])
    for p in list(root.rglob("*.mp4")):
        video(p, n=8, h=16, w=16)
    video(root / "test" / "stray.mp4", n=8, h=16, w=16)
    out = tmp_path / "store"
    assert (
        main(
            [
                "prepare",
                "--videos",
                str(root),
                "--out",
                str(out),
                "--short-side",
                "16",
                "--workers",
                "0",
                "--no-progress",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "2 videos are listed but missing (1 in k_train_video.txt, 1 in k_val_video.txt)" in text
    assert "k_train_video.txt: train/gone.mp4" in text and "k_val_video.txt: val/lost.mp4" in text
    assert "1 video files are listed in no split file and were not prepared:\n    test/stray.mp4" in text
    assert text.count("listed in no split file") == 1  # said once, not twice
    assert (out / "splits" / "train.txt").read_text() == "train/a0.mp4 0\ntrain/b0.mp4 1\n"  # what the store holds
    assert (out / "splits" / "test.txt").read_text() == "val/c0.mp4 0\n"
