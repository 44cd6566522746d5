"""``skipclip doctor``: counts per split and class, official figures, missing, unlisted, short videos."""

from __future__ import annotations

import pytest

from skipclip.cli import main
from skipclip.data.catalog.doctor import examine
from skipclip.data.store.prepare import prepare

from video_factory import make_ucf101, video


@pytest.fixture
def ucf(tmp_path):
    root = make_ucf101(tmp_path / "ucf", groups=3, test_groups=1, frames=12)
    (root / "UCF-101" / "YoYo" / "v_YoYo_g03_c02.avi").unlink()  # listed, missing
    video(root / "UCF-101" / "YoYo" / "v_YoYo_g07_c01.avi", n=30)  # present, listed nowhere
    return root


def test_doctor_on_raw_folder(ucf):
    r = examine(ucf, fold=1, min_frames=16, val_fraction=0.3)
    assert r.kind == "raw" and r.layout == "ucf101" and r.expected == (9537, 3783)
    assert r.counts["train"] + r.counts["val"] == 11 and r.counts["test"] == 6  # the videos that are there
    assert r.per_class["test"]["YoYo"] == 2
    assert r.missing == ["YoYo/v_YoYo_g03_c02.avi"] and r.unlisted == ["YoYo/v_YoYo_g07_c01.avi"]
    assert len(r.too_short) == 17 and r.too_short[0][1] == 12  # 12-frame videos, 16-frame window
    assert not r.leaks and r.problems == 1
    text = r.text()
    assert "train+val 11 / test 6 DIFFERS from the official ucf101 split 1: 9537 / 3783" in text
    assert "1 listed in the split files but missing" in text and "YoYo/v_YoYo_g07_c01.avi" in text


def test_doctor_on_store_and_cli_exit_status(ucf, tmp_path, capsys):
    prepare(ucf, tmp_path / "s", short_side=24, workers=0, progress=False)
    r = examine(tmp_path / "s", min_frames=8)
    assert r.kind == "store" and r.missing == ["YoYo/v_YoYo_g03_c02.avi"] and not r.too_short
    assert main(["doctor", "--data", str(tmp_path / "s"), "--min-frames", "8"]) == 0  # usable: warned, not failed
    out = capsys.readouterr().out
    assert "1 listed in the split files but missing" in out and "usable, with the warnings above" in out
    assert main(["doctor", "--data", str(tmp_path / "s"), "--min-frames", "8", "--strict"]) == 1
    capsys.readouterr()
    (ucf / "ucfTrainTestlist" / "trainlist01.txt").write_text(
        (ucf / "ucfTrainTestlist" / "trainlist01.txt").read_text().replace("YoYo/v_YoYo_g03_c02.avi 3\n", "")
    )
    (ucf / "UCF-101" / "YoYo" / "v_YoYo_g07_c01.avi").unlink()
    assert main(["doctor", "--data", str(ucf), "--min-frames", "8", "--strict"]) == 0
    assert "usable, no warnings" in capsys.readouterr().out
    assert main(["doctor", "--data", str(ucf), "--min-frames", "64"]) == 1  # no video is a pretext window long
    out = capsys.readouterr().out
    assert "cannot be used: no readable video is at least the pretext window (64 frames) long" in out


def test_doctor_suggests_label_pattern_for_names_that_carry_a_class(tmp_path, capsys):
    for name in ("person01_boxing_d1", "person01_jogging_d2", "person02_boxing_d1", "person03_waving_d3"):
        video(tmp_path / "flat" / f"{name}_uncomp.avi", n=20)
    assert main(["doctor", "--data", str(tmp_path / "flat"), "--min-frames", "8"]) == 0
    out = capsys.readouterr().out
    assert "--label-pattern 'person\\d+_([a-z]+)_'" in out and "0 classes" in out
    assert "skipclip prepare --data" in out and "--label-pattern" in out.split("next:")[1]
    assert (
        main(
            ["doctor", "--data", str(tmp_path / "flat"), "--min-frames", "8", "--label-pattern", "person\\d+_([a-z]+)_"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "3 classes" in out and "hint" not in out
