"""Kinetics annotation CSVs (class folders or flat, downloader names or ids) and Something-Something v2 JSON."""

from __future__ import annotations

import json

import pytest

from skipclip.data.catalog.index import SplitError, select
from skipclip.data.catalog.layouts import load_index, resolve

from video_factory import touch

HEADER = "label,youtube_id,time_start,time_end,split\n"
ROWS = {
    "train": [
        ("abseiling", "aaa", 10),
        ("abseiling", "bbb", 0),
        ("air drumming", "ccc", 5),
        ("air drumming", "ddd", 7),
    ],
    "validate": [("abseiling", "eee", 3), ("air drumming", "fff", 1)],
}


def make_kinetics(root, class_folders=True, id_only=False, rows=ROWS, skip=("ddd",)):
    for split, items in rows.items():
        lines = [f'"{lab}",{yid},{t},{t + 10},{split}\n' for lab, yid, t in items]
        (root / f"{split}.csv").parent.mkdir(parents=True, exist_ok=True)
        (root / f"{split}.csv").write_text(HEADER + "".join(lines))
        for lab, yid, t in items:
            if yid in skip:
                continue
            name = f"{yid}.mp4" if id_only else f"{yid}_{t:06d}_{t + 10:06d}.mp4"
            touch(root / split / lab.replace(" ", "_") / name if class_folders else root / "videos" / name)
    return root


@pytest.mark.parametrize("class_folders, id_only", [(True, False), (False, False), (False, True)])
def test_kinetics_csvs_find_the_downloaded_files(tmp_path, class_folders, id_only):
    make_kinetics(tmp_path, class_folders, id_only)
    assert resolve(tmp_path)[0] == "kinetics"
    index = load_index(tmp_path)
    assert index.classes == ["abseiling", "air drumming"]
    by_group = {e.group: e for e in index.entries}
    sub = "train/abseiling/" if class_folders else "videos/"
    assert by_group["aaa"].path == sub + ("aaa.mp4" if id_only else "aaa_000010_000020.mp4")
    assert by_group["fff"].folds == {1: "test"} and by_group["fff"].label == 1  # validate.csv is the test split
    assert index.missing() == ["ddd_000007_000017.mp4"]  # not downloaded: named, carried on without
    assert len(select(index.present(), "test")) == 2


@pytest.mark.parametrize(
    "rows, match",
    [
        (
            {"train": ROWS["train"], "validate": [("juggling", "eee", 3)]},
            r"validate.csv row 2: unknown label 'juggling'",
        ),
        (
            {"train": ROWS["train"] + [("abseiling", "aaa", 10)]},
            r"train.csv row 6: clip aaa_000010_000020 is listed twice",
        ),
        (
            {"train": ROWS["train"] + [("abseiling", "../x", 1)]},
            r"train.csv row 6: youtube id '../x' is not a plain name",
        ),
        ({"train": ROWS["train"], "validate": []}, r"validate.csv has a header but no clips: the val split is empty"),
    ],
)
def test_kinetics_bad_csvs_are_named(tmp_path, rows, match):
    make_kinetics(tmp_path, rows=rows, skip=("../x",))
    with pytest.raises(SplitError, match=match):
        load_index(tmp_path)


LABELS = {"Holding something": "1", "Pushing something from left to right": "0"}


def make_ssv2(root, train=None, validation=None):
    (root / "labels").mkdir(parents=True, exist_ok=True)
    (root / "labels" / "labels.json").write_text(json.dumps(LABELS))
    train = (
        train
        if train is not None
        else [{"id": str(i), "template": "Holding [something]"} for i in range(3)]
        + [{"id": str(i), "template": "Pushing [something] from left to right"} for i in range(3, 6)]
    )
    if validation is None:
        validation = [
            {"id": "10", "template": "Holding [something]"},
            {"id": "11", "template": "Pushing [something] from left to right"},
        ]
    (root / "labels" / "train.json").write_text(json.dumps(train))
    (root / "labels" / "validation.json").write_text(json.dumps(validation))
    (root / "labels" / "test.json").write_text(json.dumps([{"id": "20"}]))
    for item in train + validation + [{"id": "20"}]:
        if item["id"] != "5":
            touch(root / "20bn-something-something-v2" / f"{item['id']}.webm")
    return root


def test_ssv2_labels_json_and_webm(tmp_path):
    make_ssv2(tmp_path)
    assert resolve(tmp_path)[0] == "ssv2"
    index = load_index(tmp_path)
    assert index.classes == ["Pushing something from left to right", "Holding something"]  # labels.json order
    by_id = {e.group: e for e in index.entries}
    assert by_id["0"].path == "20bn-something-something-v2/0.webm" and by_id["0"].label == 1
    assert by_id["11"].folds == {1: "test"} and by_id["20"].folds == {1: "unused"} and by_id["20"].label == -1
    assert index.missing() == ["20bn-something-something-v2/5.webm"] and index.unlisted() == []


@pytest.mark.parametrize(
    "validation, match",
    [
        (
            [{"id": "10", "template": "Juggling [something]"}],
            r"validation.json entry 0: unknown label 'Juggling something'",
        ),
        ([{"id": "1", "template": "Holding [something]"}], r"validation.json entry 0: video 1 is listed twice"),
        (
            [{"id": "../../1", "template": "Holding [something]"}],
            r"validation.json entry 0: id '../../1' is not a plain",
        ),
        ([], r"validation.json lists no videos: the test split is empty"),
    ],
)
def test_ssv2_bad_files_are_named(tmp_path, validation, match):
    make_ssv2(tmp_path, validation=validation)
    with pytest.raises(SplitError, match=match):
        load_index(tmp_path)
