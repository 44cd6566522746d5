"""``skipclip bench loader`` on a tiny configuration: the JSON has its keys (no timing assertions)."""

from __future__ import annotations

import json

from skipclip.cli import main
from video_factory import make_folder


def test_bench_loader_json(tmp_path, capsys):
    make_folder(tmp_path / "v", classes=("a", "b"), per_class=2, frames=30)
    out = tmp_path / "bench.json"
    args = ["bench", "loader", "--data", str(tmp_path / "v"), "--videos", "3", "--samples", "4", "--short-side", "40",
            "--crop", "32", "--context-frames", "4", "--num-targets", "2", "--sampling-rate", "2", "--json", str(out)]
    assert main(args) == 0
    r = json.loads(out.read_text())
    for key in ("store_frames_per_s_per_core", "onthefly_frames_per_s_per_core", "ratio", "peak_rss_mb",
                "store_samples_per_s", "onthefly_samples_per_s", "store_gb_per_hour"):
        assert r[key] > 0, key
    assert r["videos"] == 3 and r["frames_per_sample"] == 6 and r["source_sizes"] == ["64x48"]
    assert r["ratio"] == r["store_frames_per_s_per_core"] / r["onthefly_frames_per_s_per_core"]
    assert "ratio store / on-the-fly" in capsys.readouterr().out


def test_bench_help_lists_loader(capsys):
    try:
        main(["bench", "--help"])
    except SystemExit:
        pass
    assert "loader" in capsys.readouterr().out
