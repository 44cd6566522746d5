"""Validation carved per class by group: every class is held out, or the classes that cannot be are
named and the user's fallback applies."""

from __future__ import annotations

import pytest

from skipclip.data.catalog.carve import CoverageWarning, carve
from skipclip.data.catalog.index import VideoEntry, group_split


def sessions(groups_per_class: dict[int, list[str]], per_group: int = 5) -> list[VideoEntry]:
    return [
        VideoEntry(f"c{c}/{g}_{k}.avi", c, g)
        for c, gs in groups_per_class.items()
        for g in gs
        for k in range(per_group)
    ]


def test_every_class_is_in_validation_with_few_sessions_per_class():
    # the case: 6 classes, a few recording sessions each, 150 videos; a draw over all groups
    # held 2 classes only; drawn per class, each class is in validation
    entries = sessions({c: [f"s{c}{g}" for g in range(5)] for c in range(6)})
    idx = list(range(len(entries)))
    for seed in range(5):
        train, val = group_split(entries, idx, 0.1, seed=seed)
        assert {entries[i].label for i in val} == set(range(6))
        assert not {entries[i].group for i in train} & {entries[i].group for i in val}
        assert {entries[i].label for i in train} == set(range(6))
        assert len(val) == 30  # one 5-video session of each class: ceil(0.1 * 25) = 3 videos need one session


def test_a_class_with_one_group_is_named_and_the_fallback_applies():
    entries = sessions({0: ["a1", "a2", "a3"], 1: ["only"]}, per_group=4)
    idx = list(range(len(entries)))
    with pytest.warns(CoverageWarning, match=r"1 class cannot be in the validation split by whole groups .*: walk"):
        c = carve(entries, idx, 0.2, fallback="videos", classes=["run", "walk"])
    assert c.uncovered == [1] and sorted({entries[i].label for i in c.held}) == [0, 1]
    assert sum(entries[i].label == 1 for i in c.held) == 1 and sum(entries[i].label == 1 for i in c.keep) == 3
    with pytest.warns(CoverageWarning, match="left out of the validation split"):
        c = carve(entries, idx, 0.2, fallback="skip", classes=["run", "walk"])
    assert {entries[i].label for i in c.held} == {0}
    with pytest.raises(ValueError, match=r"cannot be in the validation split by whole groups.*walk.*--val-fallback"):
        carve(entries, idx, 0.2, fallback="error", classes=["run", "walk"])


def test_a_group_shared_by_classes_never_takes_a_class_s_last_training_video():
    entries = [
        VideoEntry("a/1.avi", 0, "g1"),
        VideoEntry("b/1.avi", 1, "g1"),
        VideoEntry("a/2.avi", 0, "g2"),
        VideoEntry("b/2.avi", 1, "g2"),
        VideoEntry("b/3.avi", 1, "g3"),
    ]
    c = carve(entries, range(5), 0.3, seed=0, fallback="skip")
    kept = {entries[i].label for i in c.keep}
    assert kept == {0, 1} and c.held and not {entries[i].group for i in c.keep} & {entries[i].group for i in c.held}


def test_bad_fraction_and_fallback_are_refused():
    with pytest.raises(ValueError, match=r"fraction must be in \[0, 1\)"):
        carve([], [], 1.0)
    with pytest.raises(ValueError, match="unknown fallback 'maybe'"):
        carve([], [], 0.1, fallback="maybe")


def test_doctor_names_the_classes_validation_cannot_hold(tmp_path, capsys):
    from skipclip.cli import main

    from video_factory import video

    for c, people in (("box", (1, 2, 3, 4, 5, 6)), ("wave", (7,))):
        for p in people:
            for take in range(2):
                video(tmp_path / c / f"person{p:02d}_{c}_d{take}.avi", n=8, h=16, w=16)
    args = ["doctor", "--data", str(tmp_path), "--min-frames", "1", "--group-pattern", r"(person\d+)"]
    assert main(args + ["--val-fallback", "skip"]) == 0
    out = capsys.readouterr().out
    assert "warning: 1 class cannot be in the test split by whole groups" in out and ": wave;" in out
    assert "warning: 1 class cannot be in the validation split by whole groups" in out
    assert main(args + ["--val-fallback", "error"]) == 2
    assert "wave" in capsys.readouterr().err


def test_a_class_with_one_video_is_not_said_to_be_held_out():
    # KTH with --label-pattern: jogging has one video; the warning said "held out single videos of
    # them instead" while the table showed it only in training
    entries = [
        VideoEntry("p1_box_a.avi", 0, "p1"),
        VideoEntry("p1_box_b.avi", 0, "p1"),
        VideoEntry("p1_clap_a.avi", 1, "p1"),
        VideoEntry("p1_clap_b.avi", 1, "p1"),
        VideoEntry("p1_jog.avi", 2, "p1"),
    ]
    with pytest.warns(CoverageWarning) as caught:
        c = carve(entries, range(5), 0.2, fallback="videos", classes=["box", "clap", "jog"])
    text = str(caught[0].message)
    assert sorted(entries[i].label for i in c.held) == [0, 1] and [entries[i].label for i in c.keep].count(2) == 1
    assert "held out single videos of box, clap instead" in text
    assert "jog has one training video left, which stays in training: no validation video of it" in text
    assert "of jog instead" not in text and "box, clap, jog" in text
