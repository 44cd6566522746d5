"""Every kind of bad input gets a clear message naming the file and the reason."""

from __future__ import annotations

import shutil

import pytest

from skipclip.cli import main
from skipclip.data.catalog.index import SplitError, VideoEntry
from skipclip.data.catalog.layouts import load_index
from skipclip.data.sources.base import VideoReadError
from skipclip.data.sources.files import VideoFileSource
from skipclip.data.store.prepared import PreparedStore
from skipclip.data.video.pyav import decode, probe

from video_factory import make_hmdb51, make_ucf101, video


@pytest.fixture(scope="module")
def ucf_master(tmp_path_factory):
    return make_ucf101(tmp_path_factory.mktemp("ucf"), groups=2, test_groups=1, frames=12)


@pytest.fixture
def ucf(ucf_master, tmp_path):
    """A fresh copy each test may break."""
    return shutil.copytree(ucf_master, tmp_path / "ucf")


# ---------------------------------------------------------------------------------- split files


def _lists(ucf):
    return ucf / "ucfTrainTestlist"


def test_missing_class_index(ucf):
    (_lists(ucf) / "classInd.txt").unlink()
    with pytest.raises(SplitError, match=r"classInd.txt is missing"):
        load_index(ucf)


def test_missing_test_list(ucf):
    (_lists(ucf) / "testlist01.txt").unlink()
    with pytest.raises(SplitError, match=r"testlist01.txt is missing"):
        load_index(ucf)


@pytest.mark.parametrize(
    "file,line,match",
    [
        ("classInd.txt", "one ApplyEyeMakeup", r"classInd.txt line 4: expected '<1-based index> <ClassName>'"),
        (
            "trainlist01.txt",
            "Basketball/v_Basketball_g02_c01.avi",
            r"trainlist01.txt line \d+: expected '<Class>/<video>.avi <1-based label>'",
        ),
        ("trainlist01.txt", "Basketball/v_Basketball_g02_c01.avi 0", r"label 0 is outside 1..3 \(labels are 1-based"),
        (
            "trainlist01.txt",
            "Basketball/v_Basketball_g02_c01.avi 3",
            r"label 3 \(YoYo\) contradicts the folder Basketball",
        ),
        (
            "trainlist01.txt",
            "Surfing/v_Surfing_g02_c01.avi 1",
            r"class 'Surfing' of Surfing/v_Surfing_g02_c01.avi is not in classInd.txt",
        ),
        ("testlist01.txt", "Surfing/v_Surfing_g01_c01.avi", r"testlist01.txt line \d+: class 'Surfing'"),
        ("testlist01.txt", "v_YoYo_g01_c01.avi", r"has no class folder"),
        ("testlist01.txt", "Basketball/v_Basketball_g02_c01.avi", r"in both the train and the test list of fold 1"),
    ],
)
def test_malformed_ucf_lines_name_file_and_line(ucf, file, line, match):
    with open(_lists(ucf) / file, "a") as f:
        f.write(line + "\n")
    with pytest.raises(SplitError, match=match):
        load_index(ucf)


def test_malformed_hmdb_split_file(tmp_path):
    root = make_hmdb51(tmp_path, films=2, frames=12)
    f = root / "testTrainMulti_7030_splits" / "cartwheel_test_split2.txt"
    f.write_text(f.read_text() + "Film9_cartwheel_x_0.avi 7\n")
    with pytest.raises(SplitError, match=r"cartwheel_test_split2.txt line 5: expected '<video>.avi <0\|1\|2>'"):
        load_index(root)
    f.unlink()
    with pytest.raises(SplitError, match=r"class 'cartwheel' has split files for folds \[1, 3\]"):
        load_index(root)


def test_prepare_cli_exits_non_zero_on_bad_split_files(ucf, tmp_path, capsys):
    (_lists(ucf) / "trainlist01.txt").write_text("garbage\n")
    assert main(["prepare", "--videos", str(ucf), "--out", str(tmp_path / "s"), "--workers", "0", "--no-progress"]) == 2
    assert "trainlist01.txt line 1" in capsys.readouterr().err


# ---------------------------------------------------------------------------------- video files


def _break(path, kind):
    good = path.read_bytes()
    if kind == "truncated":
        path.write_bytes(good[: len(good) * 2 // 3])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "not a video":
        path.write_text("this is a text file with a video extension\n" * 50)
    elif kind == "corrupt":
        path.write_bytes(good[:64] + bytes(range(256)) * 20)
    elif kind == "no frames":
        import av

        path.unlink()
        with av.open(str(path), "w") as c:
            s = c.add_stream("mpeg4", rate=25)
            s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
            c.start_encoding()


REASONS = {
    "truncated": r"truncated: the header promises 40 frames but only \d+ are in the file",
    "empty": r"empty file \(0 bytes\)",
    "not a video": r"not a video FFmpeg can read",
    "corrupt": r"not a video FFmpeg can read|has no video stream",
    "no frames": r"the video stream has no (decodable )?frames",
}


@pytest.mark.parametrize("kind", list(REASONS))
def test_bad_video_file_names_file_and_reason(tmp_path, kind):
    path = video(tmp_path / "bad.avi", n=40, h=96, w=128)
    _break(path, kind)
    for read in (probe, decode):
        with pytest.raises(VideoReadError, match=REASONS[kind]) as err:
            read(path)
        assert err.value.video == str(path) and str(path) in str(err.value)
    src = VideoFileSource(tmp_path, [VideoEntry("bad.avi", 0, "bad")], ["x"])
    with pytest.raises(VideoReadError, match=REASONS[kind]):
        src.num_frames(0)


def test_prepare_carries_on_past_bad_videos_and_lists_them(ucf, tmp_path, capsys):
    root = ucf / "UCF-101"
    video(root / "YoYo/v_YoYo_g01_c01.avi", n=40, h=96, w=128)
    _break(root / "YoYo/v_YoYo_g01_c01.avi", "truncated")
    _break(root / "YoYo/v_YoYo_g01_c02.avi", "not a video")
    _break(root / "Basketball/v_Basketball_g02_c01.avi", "no frames")
    (root / "Basketball/v_Basketball_g02_c02.avi").unlink()  # listed but absent
    video(root / "Basketball/v_Basketball_g09_c01.avi", n=12)  # present but listed nowhere
    out = tmp_path / "s"
    assert (
        main(
            [
                "prepare",
                "--videos",
                str(ucf),
                "--out",
                str(out),
                "--short-side",
                "24",
                "--workers",
                "0",
                "--no-progress",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "3 videos could not be used" in text
    assert "YoYo/v_YoYo_g01_c01.avi: truncated" in text
    assert "YoYo/v_YoYo_g01_c02.avi: not a video" in text
    assert "Basketball/v_Basketball_g02_c01.avi: the video stream has no decodable frames" in text
    assert "1 videos are listed but missing (1 in the split files)" in text
    assert "the split files: Basketball/v_Basketball_g02_c02.avi" in text
    assert (
        "1 video files are listed in no split file and were not prepared:\n    Basketball/v_Basketball_g09_c01.avi"
    ) in text
    assert len(PreparedStore(out)) == 8


def test_prepare_fails_when_nothing_usable_is_left(tmp_path, capsys):
    for name in ("a.avi", "b.mp4"):
        _break(video(tmp_path / "v" / name, n=12), "empty")
    assert (
        main(
            [
                "prepare",
                "--videos",
                str(tmp_path / "v"),
                "--out",
                str(tmp_path / "s"),
                "--workers",
                "0",
                "--no-progress",
            ]
        )
        == 1
    )
    assert "no usable video" in capsys.readouterr().out


def test_on_the_fly_missing_file_is_skipped_by_the_pretext_dataset(tmp_path):
    from skipclip.data.sampling.pretext import PretextDataset
    from skipclip.data.sampling.window import PretextWindow

    video(tmp_path / "ok.avi", n=20)
    src = VideoFileSource(tmp_path, [VideoEntry("gone.avi", -1, "g"), VideoEntry("ok.avi", -1, "o")], [])
    ds = PretextDataset(src, PretextWindow(4, 2, 2), 32, short_side=32)
    assert len(ds) == 1 and "file not found" in ds.failed["gone.avi"]
