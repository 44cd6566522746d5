"""``skipclip bench loader`` on a tiny configuration: its JSON keys, and its ratio on known rates
(no timing assertions)."""

from __future__ import annotations

import json

import pytest

from skipclip.cli import main
from skipclip.data.sampling.window import PretextWindow

from video_factory import make_folder


def test_bench_loader_json(tmp_path, capsys):
    make_folder(tmp_path / "v", classes=("a", "b"), per_class=2, frames=30)
    out = tmp_path / "bench.json"
    args = [
        "bench",
        "loader",
        "--data",
        str(tmp_path / "v"),
        "--videos",
        "3",
        "--samples",
        "4",
        "--short-side",
        "40",
        "--crop",
        "32",
        "--context-frames",
        "4",
        "--num-targets",
        "2",
        "--sampling-rate",
        "2",
        "--json",
        str(out),
    ]
    assert main(args) == 0
    r = json.loads(out.read_text())
    for key in (
        "store_frames_per_s_per_core",
        "onthefly_frames_per_s_per_core",
        "ratio",
        "peak_rss_mb",
        "store_samples_per_s",
        "onthefly_samples_per_s",
        "store_gb_per_hour",
    ):
        assert r[key] > 0, key
    assert r["videos"] == 3 and r["frames_per_sample"] == 6 and r["source_sizes"] == ["64x48"]
    detail = r["detail"]["store"]  # one clock for both rates: their quotient is the frames per sample
    assert detail["frames_per_s"] / detail["samples_per_s"] == pytest.approx(4 + 2 * 1)
    assert "ratio store / on-the-fly" in capsys.readouterr().out


def test_ratio_is_the_store_over_on_the_fly(tmp_path, monkeypatch):
    """With known rates put in for each source, the ratio and its goal follow: the store's rate
    over the decoder's, not the other way round (which a recomputation from the JSON cannot see)."""
    from skipclip.bench import loader
    from skipclip.data.store.prepared import PreparedStore

    seen = []

    def fake_time(dataset, samples):
        store = isinstance(dataset.source, PreparedStore)
        seen.append("store" if store else "onthefly")
        dataset[0]  # the dataset reads
        rate = 3600.0 if store else 1200.0
        return {
            "samples_per_s": rate / 6,
            "frames_per_s": rate,
            "frames_per_s_per_core": rate,
            "cpu_s": 1.0,
            "wall_s": 1.0,
            "peak_rss_mb": 10.0,
            "rss_growth_mb": 0.0,
        }

    monkeypatch.setattr(loader, "_time", fake_time)
    make_folder(tmp_path / "v", classes=("a", "b"), per_class=2, frames=30)
    r = loader.benchmark(
        str(tmp_path / "v"),
        videos=3,
        samples=4,
        short_side=40,
        crop=32,
        window=PretextWindow(4, 2, 2),
        workdir=tmp_path,
    )
    assert sorted(seen) == ["onthefly", "store"]
    assert r["ratio"] == pytest.approx(3.0) and r["goals"]["ratio_at_least_3"]
    assert r["store_frames_per_s_per_core"] == 3600.0 and r["onthefly_frames_per_s_per_core"] == 1200.0
    assert r["goals"]["store_at_least_1000_frames_per_s_per_core"]


def test_bench_help_lists_loader(capsys):
    try:
        main(["bench", "--help"])
    except SystemExit:
        pass
    assert "loader" in capsys.readouterr().out
