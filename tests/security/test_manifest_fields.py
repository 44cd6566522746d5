"""Issue 21 point 5: a tampered ``manifest.json`` (a label out of range, a string for a number,
``classes: null``, a list for a group...) is refused when the store is opened, with an
``InvalidInputError`` naming the file and the field, and exit status 2 from the CLI; before, it
gave tracebacks, and a label out of range stopped fine-tuning mid-run."""

from __future__ import annotations

import json
import shutil

import pytest
from crafted import tiny_store

from skipclip.cli import main
from skipclip.data import examine
from skipclip.data.store.prepared import PreparedStore
from skipclip.errors import InvalidInputError

from helpers import tiny_config


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    base = tmp_path_factory.mktemp("store")
    return tiny_store(base / "videos", base / "store")


def tampered(store, tmp_path, where: str, value):
    """A copy of ``store`` whose manifest has ``value`` at ``where`` (``videos[0].label``, ``classes``...)."""
    copy = shutil.copytree(store, tmp_path / "store")
    manifest = json.loads((copy / "manifest.json").read_text())
    if where == "the manifest":
        manifest = value
    elif where.startswith("videos[0]."):
        manifest["videos"][0][where.split(".", 1)[1]] = value
    else:
        manifest[where] = value
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy


CASES = [
    ("videos[0].label", 99),
    ("videos[0].label", "x"),
    ("videos[0].label", -2),
    ("videos[0].label", True),
    ("videos[0].label", 1.0),
    ("classes", None),
    ("classes", "cats"),
    ("classes", [1, 2]),
    ("videos[0].group", ["a"]),
    ("videos[0].name", 5),
    ("videos[0].file", None),
    ("videos[0].frames", -1),
    ("videos[0].frames", "40"),
    ("videos[0].frames", 4.5),
    ("videos[0].frames", 10**30),
    ("videos[0].folds", ["train"]),
    ("videos[0].folds", {"1": "boss"}),
    ("videos[0].folds", {"x": "train"}),
    ("videos[0].folds", {"²": "train"}),
    ("videos[0].fps", "25"),
    ("videos[0].duration", -1),
    ("videos", {}),
    ("videos", None),
    ("short_side", "32"),
    ("codec", "gif"),
    ("failed", {"a": 1}),
    ("failed", [{"name": 1, "reason": "x"}]),
    ("missing", []),
    ("missing", {"list.txt": [3]}),
    ("unlisted", [1]),
    ("layout", ["lists"]),
    ("the manifest", []),
    ("the manifest", "x"),
]


@pytest.mark.parametrize("where, value", CASES, ids=[f"{w}={v!r}"[:40] for w, v in CASES])
def test_a_tampered_field_is_refused_when_the_store_opens(store, tmp_path, where, value):
    copy = tampered(store, tmp_path, where, value)
    for open_it in (lambda: PreparedStore(copy, "all"), lambda: examine(copy)):
        with pytest.raises(InvalidInputError) as info:
            open_it()
        message = str(info.value)
        assert str(copy / "manifest.json") in message and where.split(".")[0].split("[")[0] in message, message


def test_a_manifest_nested_too_deeply_is_damaged(store, tmp_path):
    copy = shutil.copytree(store, tmp_path / "store")
    (copy / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InvalidInputError, match="is damaged"):
        PreparedStore(copy)


def test_the_untouched_store_opens(store):
    assert len(PreparedStore(store, "all")) == 6 and examine(store).problems == 0


@pytest.mark.parametrize("command", ["doctor", "finetune"])
def test_the_cli_exits_2_naming_the_file_and_field(store, tmp_path, capsys, command):
    copy = tampered(store, tmp_path, "videos[0].label", 99)
    args = (
        ["doctor", "--data", str(copy)]
        if command == "doctor"
        else [
            "finetune",
            "--data",
            str(copy),
            "--out",
            str(tmp_path / "run"),
            "--no-progress",
            "--max-epochs",
            "1",
            "--ckpt",
            "random",
            "--config",
            str(tiny_config(tmp_path / "tiny.yaml")),
        ]
    )
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "manifest.json: videos[0].label is 99, expected an integer in [-1, 1]" in err


def test_the_advice_works_prepare_keeps_the_finished_shards(store, tmp_path):
    from skipclip.data import prepare

    copy = tampered(store, tmp_path, "videos[0].label", 99)
    with pytest.raises(InvalidInputError, match="delete it and run `skipclip prepare` again"):
        prepare(store.parent / "videos", copy, short_side=32, workers=0, progress=False)
    (copy / "manifest.json").unlink()
    report = prepare(store.parent / "videos", copy, short_side=32, workers=0, progress=False)
    assert report.ok and report.skipped == 6 and report.prepared == 0
    assert len(PreparedStore(copy, "all")) == 6
