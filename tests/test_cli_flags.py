"""One name per idea across commands, old names as hidden aliases, and help that shows a default
only where there is one."""

from __future__ import annotations

import argparse
import re

import pytest

from skipclip.cli import build_parser, main
from skipclip.commands.flags import RENAMED, renamed_in


def subparsers(parser: argparse.ArgumentParser, prefix=()):
    """``(name path, parser)`` for every command and bench benchmark."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name), sub
                yield from subparsers(sub, (*prefix, name))


PARSERS = dict(subparsers(build_parser()))


@pytest.mark.parametrize("name", sorted(PARSERS), ids=" ".join)
def test_help_shows_defaults_only_where_there_are_some(name):
    text = PARSERS[name].format_help()
    assert "(default: None)" not in text
    assert "(default: False)" not in text and "(default: [])" not in text
    doubled = re.findall(r"\(default[^)]*\)\s*\(default: [^)]*\)", text.replace("\n", " "))
    assert not doubled, doubled
    assert not re.search(r":(class|func|mod|meth):`", text) and "``" not in text, "Sphinx markup in --help"


@pytest.mark.parametrize(
    "name", [("pretrain",), ("finetune",), ("evaluate",), ("config",), ("reproduce",), ("bench", "train")], ids=" ".join
)
def test_config_help_lists_the_presets(name):
    text = " ".join(PARSERS[name].format_help().split())
    assert "cpu, cpu-real, paper" in text


def test_batch_size_help_says_per_device_or_global():
    for name in ("pretrain", "finetune"):
        text = " ".join(PARSERS[(name,)].format_help().split())
        assert "cpu, cpu-real: per device; paper: the global batch" in text


def test_finetune_help_says_what_each_preset_keeps():
    text = " ".join(PARSERS[("finetune",)].format_help().split())
    assert "cpu, cpu-real: the best validation video accuracy" in text and "paper: the last" in text


OLD_AND_NEW = [  # (command, old spelling, new spelling, dest, value)
    (("prepare",), "--videos", "--data", "data", "VIDS"),
    (("prepare",), "--workers", "--num-workers", "num_workers", "3"),
    (("bench", "loader"), "--crop", "--crop-size", "crop", "64"),
    (("bench", "train"), "--device", "--accelerator", "device", "cuda"),
    (("reproduce",), "--pretrain-epochs", "--max-epochs", "pretrain_epochs", "2"),
    (("finetune",), "--init", "--ckpt", "init", "CKPT"),
]
REQUIRED = {("prepare",): ["--out", "O", "--data", "D"], ("reproduce",): ["--out", "O"], ("finetune",): ["--out", "O"]}


@pytest.mark.parametrize("command,old,new,dest,value", OLD_AND_NEW, ids=lambda x: x if isinstance(x, str) else "")
def test_old_names_still_work_but_are_hidden(command, old, new, dest, value):
    parser = build_parser()
    base = [*command, *REQUIRED.get(command, [])]
    if old == "--videos":
        base = [*command, "--out", "O"]
    for flag in (old, new):
        args = parser.parse_args([*base, flag, value])
        got = getattr(args, dest)
        assert str(got) == value, (flag, got)
    help_text = PARSERS[command].format_help()
    assert new in help_text and not re.search(rf"{re.escape(old)}\b(?!-)", help_text), help_text
    assert RENAMED[old] == new and renamed_in(["x", f"{old}={value}"]) == [(old, new)]


def test_the_cli_says_what_an_old_name_is_now_called(capsys, tmp_path):
    assert main(["config", "--config", "cpu"]) == 0
    assert "is now" not in capsys.readouterr().err
    assert main(["prepare", "--videos", str(tmp_path / "none"), "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "note: --videos is now --data" in err and "no such file or folder" in err


@pytest.mark.e2e
def test_building_the_parser_imports_no_torch():
    """Every command line builds every command's parser, --help included: none of it may import
    torch, PyAV or Lightning (the benchmarks, say, are imported only when they run)."""
    import subprocess
    import sys

    code = (
        "import sys; from skipclip.cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('torch', 'av', 'lightning', 'skipclip.bench.train', 'skipclip.bench.loader') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
