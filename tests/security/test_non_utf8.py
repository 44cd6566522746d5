"""Issue 11 case 8: file names that are not valid UTF-8 are handled end to end: prepared, stored
safely in the manifest, read back, and printed by doctor and prepare without UnicodeEncodeError."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from skipclip.data.catalog.paths import printable
from skipclip.data.store.prepare import prepare
from skipclip.data.store.prepared import PreparedStore

from helpers import child_env, cli
from video_factory import make_folder

NAME = os.fsdecode(b"cats/caf\xe9.avi")  # Latin-1 bytes: Python keeps the \xe9 as a lone surrogate


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = make_folder(tmp_path_factory.mktemp("videos"), per_class=2, frames=12)
    shutil.copy(root / "cats" / "cats_0.avi", root / NAME)
    (root / os.fsdecode(b"dogs/d\xff.avi")).write_bytes(b"not a video")  # unreadable too
    out = tmp_path_factory.mktemp("store")
    report = prepare(root, out, short_side=32, workers=0, progress=False)
    assert report.videos == 5
    print(report.summary())  # prints without UnicodeEncodeError (pytest's capture is UTF-8)
    assert "d\\xff.avi" in report.summary()
    return out


def test_the_manifest_is_valid_utf8_and_gives_the_name_back(store):
    raw = (store / "manifest.json").read_bytes()
    manifest = json.loads(raw.decode("utf-8", errors="strict"))
    assert NAME in [v["name"] for v in manifest["videos"]]


def test_the_video_reads_back_from_the_store(store):
    src = PreparedStore(store)
    i = [src.name(k) for k in range(len(src))].index(NAME)
    assert src.read(i, [0, 11]).shape == (2, 32, 43, 3)


@pytest.mark.e2e
def test_doctor_prints_the_names_on_a_utf8_terminal(store):
    env = dict(child_env(), PYTHONIOENCODING="utf-8", LC_ALL="C.UTF-8")
    proc = subprocess.run(
        cli("doctor", "--data", store, "--min-frames", "100"), env=env, capture_output=True, timeout=240
    )
    out = proc.stdout.decode("utf-8")  # strict: everything printed is valid UTF-8
    assert proc.returncode == 1, proc.stderr.decode("utf-8", "replace")[-2000:]  # d\xff.avi is unreadable
    assert "cats/caf\\xe9.avi (12 frames)" in out and "dogs/d\\xff.avi" in out
    assert "UnicodeEncodeError" not in proc.stderr.decode("utf-8", "replace")


def test_printable():
    assert printable(NAME) == "cats/caf\\xe9.avi"
    assert printable("Basketball/ü.avi") == "Basketball/ü.avi"


def test_a_split_list_naming_a_non_utf8_file_finds_it(tmp_path):
    from skipclip.data.catalog.layouts import load_index

    from video_factory import video

    name = b"A/v_A_g01_caf\xe9.avi"
    video(tmp_path / "UCF-101" / os.fsdecode(name), n=12)
    lists = tmp_path / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text("1 A\n")
    (lists / "trainlist01.txt").write_bytes(name + b" 1\n")
    (lists / "testlist01.txt").write_bytes(b"A/v_A_g02_c01.avi\n")
    video(tmp_path / "UCF-101" / "A" / "v_A_g02_c01.avi", n=12)
    index = load_index(tmp_path)
    assert [e.path for e in index.entries][0] == os.fsdecode(name) and index.missing() == []
