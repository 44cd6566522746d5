"""Issue 11 case 2: paths read from split lists and manifests stay inside their folder, and a shard
header's sizes are checked against the file before anything is allocated."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from skipclip.cli import main
from skipclip.data.catalog.layouts import load_index
from skipclip.data.catalog.paths import PathEscapeError, contained
from skipclip.data.sources.base import VideoReadError
from skipclip.data.store.prepared import MANIFEST, PreparedStore
from skipclip.data.store.shard import MAGIC, check_shard, read_shard, write_shard

from video_factory import video


def _ucf(root, train_line: str):
    (root / "UCF-101" / "A").mkdir(parents=True)
    video(root / "UCF-101" / "A" / "v_A_g01_c01.avi", n=12)
    lists = root / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text("1 A\n")
    (lists / "trainlist01.txt").write_text(f"A/v_A_g01_c01.avi 1\n{train_line}\n")
    (lists / "testlist01.txt").write_text("A/v_A_g01_c01.avi\n")
    return root


@pytest.mark.parametrize(
    "line", ["A/../../../victim/evil.avi 1", "/etc/evil.avi 1", "A/../../evil.avi 1", "..\\..\\evil.avi 1"]
)
def test_a_split_line_leaving_the_data_set_is_refused_with_file_and_line(tmp_path, line):
    root = _ucf(tmp_path / "data", line)
    with pytest.raises(PathEscapeError, match=r"trainlist01.txt line 2") as info:
        load_index(root)
    assert repr(line.split()[0]) in str(info.value)


def test_prepare_reads_and_writes_nothing_outside(tmp_path, capsys):
    victim = tmp_path / "victim"
    video(victim / "evil.avi", n=12)
    root = _ucf(tmp_path / "a" / "b" / "data", "A/../../../../victim/evil.avi 1")
    store = tmp_path / "store"
    assert main(["prepare", "--videos", str(root), "--out", str(store), "--workers", "0", "--no-progress"]) == 2
    assert "leads outside" in capsys.readouterr().err
    assert sorted(p.name for p in victim.iterdir()) == ["evil.avi"]  # no evil.avi.frames next to it
    assert not list(tmp_path.rglob("*.frames"))


def test_hmdb_line_leaving_its_class_folder_is_refused(tmp_path):
    lists = tmp_path / "testTrainMulti_7030_splits"
    lists.mkdir()
    (tmp_path / "run").mkdir()
    (lists / "run_test_split1.txt").write_text("../../evil.avi 1\n")
    with pytest.raises(PathEscapeError, match="run_test_split1.txt line 1"):
        load_index(tmp_path)


def test_contained_keeps_ordinary_paths():
    assert contained("root", "A/./v.avi", "x") == "A/v.avi"
    assert contained("root", "A\\v.avi", "x") == "A/v.avi"
    assert contained("root", "A/B/../v.avi", "x") == "A/v.avi"


@pytest.mark.parametrize("file", ["/etc/hostname", "../../../etc/hostname", "videos/../../x.frames"])
def test_a_manifest_file_outside_the_store_is_never_opened(tmp_path, file):
    (tmp_path / MANIFEST).write_text(
        json.dumps(
            {
                "classes": ["a"],
                "short_side": 32,
                "videos": [{"name": "a/x.avi", "file": file, "frames": 10, "label": 0, "group": "g", "folds": {}}],
            }
        )
    )
    with pytest.raises(PathEscapeError, match=r"manifest.json video 1"):
        PreparedStore(tmp_path)


def _shard(tmp_path, codec="raw"):
    path = tmp_path / "v.frames"
    write_shard(path, np.zeros((3, 8, 8, 3), np.uint8), {"fps": 25}, codec=codec)
    return path


def _rewrite_header(path, **changes):
    data = path.read_bytes()
    size = struct.unpack("<I", data[12:16])[0]
    header = json.loads(data[16 : 16 + size])
    header.update(changes)
    new = json.dumps(header).encode()
    path.write_bytes(MAGIC + struct.pack("<II", 1, len(new)) + new + data[16 + size :])


@pytest.mark.parametrize(
    "changes",
    [
        {"frames": 2**40},
        {"height": 2**20, "width": 2**20},
        {"height": 4000, "width": 4000},
        {"frames": "3"},
        {"frames": -1},
    ],
)
def test_a_crafted_shard_header_is_refused_before_allocation(tmp_path, changes):
    path = _shard(tmp_path)
    _rewrite_header(path, **changes)
    with pytest.raises(VideoReadError):
        read_shard(path, [0])
    assert check_shard(path) is None


def test_a_header_size_beyond_the_file_is_refused(tmp_path):
    path = _shard(tmp_path, "jpeg")
    data = bytearray(path.read_bytes())
    data[12:16] = struct.pack("<I", 2**31)
    path.write_bytes(bytes(data))
    with pytest.raises(VideoReadError, match="does not fit"):
        read_shard(path, [0])


def test_an_altered_offset_table_is_refused(tmp_path):
    path = _shard(tmp_path)
    data = bytearray(path.read_bytes())
    size = struct.unpack("<I", data[12:16])[0]
    data[16 + size + 8 : 16 + size + 16] = struct.pack("<Q", 2**50)  # offset of frame 1
    path.write_bytes(bytes(data))
    with pytest.raises(VideoReadError, match="offset table"):
        read_shard(path, [1])


def test_a_whole_shard_reads_back(tmp_path):
    frames = np.arange(3 * 8 * 8 * 3, dtype=np.uint8).reshape(3, 8, 8, 3)
    write_shard(tmp_path / "v.frames", frames, {}, codec="raw")
    assert np.array_equal(read_shard(tmp_path / "v.frames", [2, 0]), frames[[2, 0]])
