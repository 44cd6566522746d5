"""Split parsing of every layout, and validation splits that never share a group with train."""

from __future__ import annotations

import pytest

from skipclip.data.catalog.index import group_split, select
from skipclip.data.catalog.layouts import EXPECTED, load_index, resolve

from video_factory import HMDB_CLASSES, UCF_CLASSES, make_folder, make_hmdb51, make_ucf101, video


@pytest.fixture(scope="module")
def ucf(tmp_path_factory):
    return make_ucf101(tmp_path_factory.mktemp("ucf"))


def test_ucf101_labels_are_one_based_and_test_labels_come_from_the_folder(ucf):
    index = load_index(ucf)
    assert index.layout == "ucf101" and index.root == ucf / "UCF-101"
    assert index.classes == UCF_CLASSES  # classInd order, not alphabetical by accident
    by_path = {e.path: e for e in index.entries}
    train = by_path["Basketball/v_Basketball_g03_c01.avi"]  # listed with label 2 (1-based)
    test = by_path["YoYo/v_YoYo_g01_c02.avi"]  # listed without a label
    assert (train.label, train.folds, train.group) == (1, {1: "train"}, "g03")
    assert (test.label, test.folds, test.group) == (2, {1: "test"}, "g01")
    assert len(select(index.entries, "trainval")) == 12 and len(select(index.entries, "test")) == 12


def test_ucf101_found_from_the_video_root_too(ucf):
    layout, root, splits = resolve(ucf / "UCF-101")
    assert (layout, root, splits) == ("ucf101", ucf / "UCF-101", ucf / "ucfTrainTestlist")


def test_hmdb51_roles_1_train_2_test_0_unused(tmp_path):
    index = load_index(make_hmdb51(tmp_path))
    assert index.layout == "hmdb51" and index.classes == HMDB_CLASSES and index.folds == [1, 2, 3]
    e = {x.path: x for x in index.entries}["cartwheel/Film1_cartwheel_f_cm_np1_ri_med_1.avi"]
    assert e.folds == {1: "unused", 2: "test", 3: "train"}
    assert e.label == 1 and e.group == "Film1"
    roles = [x.role(1) for x in index.entries]
    assert roles.count("test") == 4 and roles.count("unused") == 2 and roles.count("train") == 10


def test_folder_with_class_subfolders(tmp_path):
    index = load_index(make_folder(tmp_path))
    assert index.layout == "folder" and index.classes == ["cats", "dogs"]
    assert sorted(e.label for e in index.entries) == [0, 0, 0, 1, 1, 1]
    # no split files: each class holds out ceil(0.2 * 3) = 1 video (its own group) as test
    roles = sorted((e.label, e.role(1)) for e in index.entries)
    assert roles == [(0, "test"), (0, "train"), (0, "train"), (1, "test"), (1, "train"), (1, "train")]
    assert index.split["test_fraction"] == 0.2 and load_index(tmp_path).entries == index.entries  # deterministic


def test_flat_folder_is_unlabelled(tmp_path):
    for i in range(3):
        video(tmp_path / f"clip{i}.mp4", n=12)
    (tmp_path / "notes.txt").write_text("not a video")
    index = load_index(tmp_path)
    assert index.classes == [] and [e.label for e in index.entries] == [-1, -1, -1]


@pytest.mark.parametrize("val_fraction", [0.1, 0.3, 0.6])
def test_group_split_never_straddles_a_group(val_fraction):
    from skipclip.data.catalog.index import VideoEntry

    entries = [
        VideoEntry(f"C{c}/v_C{c}_g{g:02d}_c{k:02d}.avi", c, f"g{g:02d}")
        for c in range(5)
        for g in range(8, 26)
        for k in range(3)
    ]
    idx = list(range(len(entries)))
    train, val = group_split(entries, idx, val_fraction, seed=1)
    assert sorted(train + val) == idx
    assert not {entries[i].group for i in train} & {entries[i].group for i in val}
    assert val_fraction <= len(val) / len(idx) < val_fraction + 1 / 18 + 1e-9  # whole groups, no more than needed
    assert group_split(entries, idx, val_fraction, seed=1) == (train, val)  # seeded


def test_val_comes_from_train_list_only_and_test_is_untouched(ucf):
    index = load_index(ucf)
    test = set(select(index.entries, "test"))
    train, val = set(select(index.entries, "train")), set(select(index.entries, "val", val_fraction=0.3))
    assert val and not val & test and not train & test
    assert {index.entries[i].group for i in test} == {"g01", "g02"}


def test_unknown_split_name_is_rejected(ucf):
    with pytest.raises(ValueError, match="unknown split 'validation'"):
        select(load_index(ucf).entries, "validation")


def test_expected_official_figures_agree_with_each_other():
    """Each official split partitions the same videos (UCF101: 13,320 in 101 classes; HMDB51: 70
    training and 30 test clips in each of 51 classes), so a mistyped figure breaks a sum."""
    ucf, hmdb = EXPECTED["ucf101"], EXPECTED["hmdb51"]
    assert ucf["classes"] == 101 and {sum(ucf[fold]) for fold in (1, 2, 3)} == {13320}
    assert hmdb["classes"] == 51 and all(hmdb[fold] == (51 * 70, 51 * 30) for fold in (1, 2, 3))


def test_doctor_compares_counts_with_the_official_figures(ucf):
    """The tiny UCF101 copy has 12 / 12 videos: the doctor says it differs from split 1's 9537 / 3783."""
    from skipclip.data.catalog.doctor import examine

    report = examine(ucf, fold=1)
    assert report.expected == (9537, 3783)
    assert "train+val 12 / test 12 DIFFERS from the official ucf101 split 1: 9537 / 3783" in report.text()
