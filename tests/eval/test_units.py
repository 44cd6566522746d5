"""One unit: fractions in files and the API, percent only where a table says so; top-5 only with
more than 5 classes (with 2 or 3 it was reported as 100.0)."""

from __future__ import annotations

import numpy as np

from skipclip.eval.metrics import topk_accuracy
from skipclip.eval.report import mean_std, over_seeds, results_table, summary_table


def test_top5_only_with_more_than_five_classes():
    rng = np.random.default_rng(0)
    labels = np.array([0, 1, 2, 1])
    assert topk_accuracy(rng.random((4, 3)), labels, 5) is None
    assert topk_accuracy(rng.random((4, 5)), labels, 5) is None
    scores = rng.random((4, 6))
    assert 0 <= topk_accuracy(scores, labels, 5) <= 1 and topk_accuracy(scores, labels, 1) is not None
    assert topk_accuracy(rng.random((4, 1)), np.zeros(4, int), 1) == 1.0  # top-1 stays, whatever the count
    assert mean_std([None, None]) == (None, None)
    assert over_seeds([{"top1": 0.5, "top5": None, "seed": 0}, {"top1": 0.7, "top5": None, "seed": 1}])["top5"] is None


def test_printed_tables_say_percent_and_drop_an_empty_top5_column():
    rows = [{"init": "skipclip", "protocol": "finetune", "top1": 0.6, "top5": None, "clip_top1": 0.55, "seeds": 1}]
    text = results_table(rows)
    head, _, row = text.splitlines()
    assert "top-1 (%)" in head and "top-5" not in head and "60.0" in row and "0.6" not in row.split()
    assert len(head) == len(text.splitlines()[1])  # the rule under the header as wide as it
    assert head.index("top-1 (%)") + len("top-1 (%)") == row.index("60.0") + len("60.0")  # aligned columns
    with_top5 = results_table([{**rows[0], "top5": 0.9}])
    assert "top-5 (%)" in with_top5 and "90.0" in with_top5
    table = summary_table(
        "Table 1. Top-1",
        [{"name": "random", "mean": 0.5, "std": 0.1, "values": [0.4, 0.6], "top5_mean": None, "top5_std": None}],
    )
    assert "top-5" not in table and "50.0 ± 10.0" in table


def test_reproduce_tables_in_the_report_hold_fractions_and_do_not_claim_percent():
    import inspect

    from skipclip.recipes import reproduce

    source = inspect.getsource(reproduce.reproduce)
    assert "accuracy (%)" not in source  # the JSON titles; the values beside them are fractions
