"""The reproduction command's tables on a tiny synthetic budget."""

import json

import numpy as np
import pytest

from skipclip.cli import main


@pytest.mark.e2e
def test_reproduce_quick_writes_both_tables(tmp_path, capsys, report_writes):
    out = tmp_path / "repro"
    assert main(["reproduce", "--quick", "--out", str(out), "--no-progress"]) == 0
    assert ("renamed", str(out / "report.json")) in report_writes  # atomically: a temporary file renamed over it
    assert {how for how, _ in report_writes} == {"renamed"}  # no report of the run written in place
    report = json.loads((out / "report.json").read_text())
    t1, t2 = report["tables"]
    assert [r["row"] for r in t1["rows"]] == ["random", "inflation", "rotation+negatives"]
    assert [r["row"] for r in t2["rows"]] == ["basic", "rotation", "rotation+negatives"]
    for row in t1["rows"] + t2["rows"]:
        assert row["seeds"] == 3 and len(row["values"]) == 3
        assert row["mean"] == pytest.approx(np.mean(row["values"]))  # the row summarises its seeds
        assert row["std"] == pytest.approx(np.std(row["values"], ddof=1))
    assert t1["rows"][2]["values"] == t2["rows"][2]["values"]  # the full model is one row of both tables
    assert len(report["results"]) == 15
    assert "not ImageNet" in report["protocol_card"]["inflation"]
    assert (out / "tables.png").stat().st_size > 10_000
    printed = capsys.readouterr().out
    assert "Table 1" in printed and "Table 2" in printed and "±" in printed
    assert main(["reproduce", "--quick", "--out", str(out)]) == 2  # never overwrites without --force


def test_each_table_2_row_switches_only_its_pretext_terms():
    from skipclip.config import load_config
    from skipclip.recipes.reproduce import VARIANTS, variant_config

    cfg = load_config("cpu")
    rows = {name: variant_config(cfg, name) for name in VARIANTS}
    assert {name: (v.pretext.rotation, v.pretext.negatives) for name, v in rows.items()} == {
        "basic": (False, False),
        "rotation": (True, False),
        "rotation+negatives": (True, True),
    }
    assert all(v.model == cfg.model and v.optim == cfg.optim and v.data == cfg.data for v in rows.values())
    assert cfg.pretext.rotation and cfg.pretext.negatives  # the configuration handed in is left as it was


def test_fewer_than_one_seed_is_refused_before_any_work(tmp_path, capsys):
    out = tmp_path / "repro"
    assert main(["reproduce", "--quick", "--seeds", "0", "--out", str(out), "--no-progress"]) == 2
    assert "--seeds must be >= 1" in capsys.readouterr().err and not (out / "pretrain").exists()
