"""Figure 3: per-cell context-target cosine similarity, whose cell mean is the score of Eq. 3."""

import re

import matplotlib
import numpy as np
import pytest
import torch
from PIL import Image

from skipclip.cli import main
from skipclip.config import load_config
from skipclip.method import build_skipclip, losses
from skipclip.models.normalize import normalize
from skipclip.viz import similarity_figure
from skipclip.viz.similarity import busiest_window, similarity_maps


def _tiny():
    cfg = load_config("cpu", {"model.width": 4, "data.synthetic_videos_per_class": 2})
    torch.manual_seed(0)
    return build_skipclip(cfg).eval(), cfg


def test_cell_mean_is_the_score():
    model, cfg = _tiny()
    rng = np.random.default_rng(0)
    s = cfg.data.crop_size
    context = rng.integers(0, 255, (8, s, s, 3), dtype=np.uint8)
    targets = rng.integers(0, 255, (3, 1, s, s, 3), dtype=np.uint8)
    maps, scores = similarity_maps(model, context, targets)
    assert maps.shape[0] == 3 and maps.ndim == 3
    assert maps.min() >= -1 - 1e-5 and maps.max() <= 1 + 1e-5
    with torch.no_grad():
        h = model.context_encoder(normalize(torch.from_numpy(context).permute(3, 0, 1, 2)[None], 1))
        z = model.frame_encoder(normalize(torch.from_numpy(targets[:, 0]).permute(0, 3, 1, 2), 1))
        ref = losses.score(h, z[None])[0].numpy()
    np.testing.assert_allclose(scores, ref, atol=1e-5)
    np.testing.assert_allclose(maps.reshape(3, -1).mean(1), ref, atol=1e-5)


def test_visualize_command_writes_a_png(tmp_path, capsys):
    model, cfg = _tiny()
    ckpt = tmp_path / "s.ckpt"
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": {"config": cfg.to_dict()}}, ckpt)
    png = tmp_path / "fig3.png"
    assert main(["visualize", "--ckpt", str(ckpt), "--video", "synthetic:1", "--out", str(png)]) == 0
    assert png.stat().st_size > 5_000 and "scores" in capsys.readouterr().out
    assert main(["visualize", "--ckpt", str(ckpt), "--video", "synthetic:x", "--out", str(tmp_path / "n.png")]) == 2
    assert "synthetic:N" in capsys.readouterr().err and not (tmp_path / "n.png").exists()
    before = png.read_bytes()  # an existing figure is kept without --force
    assert main(["visualize", "--ckpt", str(ckpt), "--video", "synthetic:2", "--out", str(png)]) == 2
    assert "--force" in capsys.readouterr().err and png.read_bytes() == before


def test_default_window_is_where_the_frames_change():
    # 100 still frames with motion only in frames 60..79: the chosen 16-frame window lies inside it
    frames = np.zeros((100, 16, 16, 3), dtype=np.uint8)
    rng = np.random.default_rng(0)
    frames[60:80] = rng.integers(0, 255, (20, 16, 16, 3), dtype=np.uint8)
    start = busiest_window(frames, 16)
    assert start >= 60 and start + 16 <= 81
    assert busiest_window(np.zeros((40, 8, 8, 3), np.uint8), 16) == 0  # all still: the earliest
    with pytest.raises(ValueError, match="fewer than"):
        busiest_window(frames[:10], 16)


def test_visualize_start_chooses_the_window(tmp_path, capsys):
    model, cfg = _tiny()
    ckpt = tmp_path / "s.ckpt"
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": {"config": cfg.to_dict()}}, ckpt)
    assert (
        main(
            [
                "visualize",
                "--ckpt",
                str(ckpt),
                "--video",
                "synthetic:1",
                "--out",
                str(tmp_path / "a.png"),
                "--start",
                "3",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "window at frame 3 (given)" in out and "context frames 3..10" in out


def test_visualize_takes_a_run_folder_and_an_export_with_f(tmp_path, capsys):
    # visualize took only a .ckpt ("checkpoint runs/x does not exist" for a run folder)
    from skipclip.weights.export import export_encoders

    model, cfg = _tiny()
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    ckpt = run / "checkpoints" / "last.ckpt"
    torch.save(
        {
            "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
            "hyper_parameters": {"config": cfg.to_dict()},
        },
        ckpt,
    )
    export_encoders(ckpt, tmp_path / "export", frame=True)
    export_encoders(ckpt, tmp_path / "g_only")
    printed = {}
    for name, given in (
        ("ckpt", ckpt),
        ("run", run),
        ("export", tmp_path / "export"),
        ("file", tmp_path / "export" / "context_encoder.safetensors"),
    ):
        assert (
            main(
                [
                    "visualize",
                    "--ckpt",
                    str(given),
                    "--video",
                    "synthetic:1",
                    "--start",
                    "0",
                    "--out",
                    str(tmp_path / f"{name}.png"),
                ]
            )
            == 0
        )
        printed[name] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("scores")]
    assert printed["run"] == printed["ckpt"] == printed["export"] == printed["file"]
    assert (
        main(
            [
                "visualize",
                "--ckpt",
                str(tmp_path / "g_only"),
                "--video",
                "synthetic:1",
                "--out",
                str(tmp_path / "g.png"),
            ]
        )
        == 2
    )
    assert "--frame-encoder" in capsys.readouterr().err and not (tmp_path / "g.png").exists()


def test_training_figures_label_targets_by_frame_offset(tmp_path):
    # the figure drawn during training labelled targets t=8..15 (positions) where r=3 puts them at 10, 13, ...
    from skipclip.data import PretextDataset, PretextWindow, synthetic_sources
    from skipclip.viz import similarity_callback

    model, cfg = _tiny()
    window = PretextWindow(8, 4, 3, 1)
    ds = PretextDataset(synthetic_sources(cfg)["val"], window, cfg.data.crop_size, train=False)
    drawn = []
    real_compose = similarity_callback.compose

    def keep(*args, **kwargs):
        drawn.append(args)  # context, targets, maps, scores, name, context_t, target_t
        return real_compose(*args, **kwargs)

    cb = similarity_callback.SimilarityMaps(ds, tmp_path, every_n_epochs=1, count=1)
    similarity_callback.compose = keep
    try:
        cb._draw(type("T", (), {"loggers": []})(), model, 0, 0)
    finally:
        similarity_callback.compose = real_compose
    _, _, _, scores, _, context_t, target_t = drawn[0]
    _, titles = similarity_figure._captions(context_t, target_t, scores)
    assert [t.split("t=")[1].split("\n")[0] for t in titles] == ["10", "13", "16", "19"]  # K - 1 + r * k
    assert all(re.fullmatch(r"-?\d\.\d{3}", t.split("score ")[1].split(" ")[0]) for t in titles)  # three decimals
    assert " (+" in titles[1] or " (-" in titles[1]  # the gap to target 1, from the second target on
    png = tmp_path / "figures" / "similarity_epoch0000_0.png"
    assert cb.drawn == [png] and np.asarray(Image.open(png)).shape[2] == 3


def _runs(labels):
    """(label, length) of the runs of equal values along a row."""
    out = []
    for v in labels:
        if out and out[-1][0] == v:
            out[-1][1] += 1
        else:
            out.append([v, 1])
    return [tuple(r) for r in out]


def test_the_composed_figure_colours_each_target_by_its_map():
    # grey targets under a 2x2 map: target 1 is most similar on its left, target 2 on its right;
    # black context frames; the blend of grey and the ends of 'jet' marks the two target tiles
    s = 48
    context = np.zeros((8, s, s, 3), np.uint8)
    targets = np.full((2, 1, s, s, 3), 128, np.uint8)
    maps = np.array([[[0.9, 0.1], [0.9, 0.1]], [[0.1, 0.9], [0.1, 0.9]]], np.float32)
    img = similarity_figure.compose(context, targets, maps, maps.reshape(2, -1).mean(1), "v", range(8), [9, 11])
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    jet = matplotlib.colormaps["jet"]
    hi, lo = (np.asarray(jet(v, bytes=True)[:3], np.float64) for v in (1.0, 0.0))
    red, blue = (
        np.rint((1 - similarity_figure.ALPHA) * 128 + similarity_figure.ALPHA * c).astype(np.uint8) for c in (hi, lo)
    )
    is_red, is_blue = (img == red).all(-1), (img == blue).all(-1)
    tile = int(np.sqrt(2 * is_red.sum() / 2))  # two half tiles of red, two of blue
    assert tile >= 144 and tile % s == 0 and is_red.sum() == is_blue.sum() == tile * tile
    rows = np.flatnonzero(is_red.any(1))
    assert np.array_equal(rows, np.flatnonzero(is_blue.any(1))) and rows[-1] - rows[0] + 1 == len(rows) == tile
    labels = np.where(is_red[rows[tile // 2]], 1, np.where(is_blue[rows[tile // 2]], 2, 0))
    runs = [r for r in _runs(labels) if r[0]]
    assert runs == [(1, tile // 2), (2, tile // 2), (2, tile // 2), (1, tile // 2)]  # left of 1 red, right of 2 red
    # the context row (black tiles, full width) lies above the targets
    black_rows = np.flatnonzero(_longest_run((img == 0).all(-1)) >= tile)
    assert len(black_rows) == tile and black_rows.max() < rows.min()
    near_top = np.abs(img.astype(int) - hi.astype(int)).max(-1) <= 6
    assert near_top.any()  # the colour bar reaches jet's max, unblended
    assert (img[:3] == 255).all() and (img[:, :3] == 255).all()  # a white margin


def _longest_run(mask):
    """Per row, the longest run of True."""
    return np.array([max((n for v, n in _runs(row) if v), default=0) for row in mask])


def test_constant_maps_and_a_missing_font(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    context = rng.integers(0, 255, (4, 56, 56, 3), dtype=np.uint8)
    targets = rng.integers(0, 255, (3, 2, 56, 56, 3), dtype=np.uint8)
    maps = np.full((3, 2, 2), 0.25, np.float32)
    img = similarity_figure.compose(context, targets, maps, np.full(3, 0.25), "still", range(4), [5, 6, 7])
    assert img.dtype == np.uint8 and img.shape[0] > 2 * 168 and np.isfinite(img).all()
    monkeypatch.setattr(similarity_figure, "FONT_FILE", tmp_path / "missing.ttf")  # Pillow's own font then
    similarity_figure._font.cache_clear()
    try:
        again = similarity_figure.compose(context, targets, maps, np.full(3, 0.25), "still", range(4), [5, 6, 7])
    finally:
        monkeypatch.undo()
        similarity_figure._font.cache_clear()
    assert again.ndim == 3 and again.dtype == np.uint8


def test_save_png_reads_back_the_same_pixels_and_never_leaves_a_half_file(tmp_path):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (37, 53, 3), dtype=np.uint8)
    png = tmp_path / "a" / "b" / "fig.png"
    assert similarity_figure.save_png(img, png) == png
    np.testing.assert_array_equal(np.asarray(Image.open(png)), img)
    before = png.read_bytes()
    with pytest.raises((TypeError, ValueError)):
        similarity_figure.save_png(np.zeros((4, 4, 7), np.uint8), png)  # not an image: the old file stays
    assert png.read_bytes() == before and sorted(p.name for p in png.parent.iterdir()) == ["fig.png"]


def test_the_callback_times_its_sets_for_the_summary(tmp_path):
    """The summary's "similarity figures N s (k sets)" is the callback's own clock: one set per
    drawing epoch, its seconds counted, none when the cadence skips the epoch."""
    from types import SimpleNamespace

    from skipclip.data import PretextDataset, PretextWindow, synthetic_sources
    from skipclip.viz.similarity_callback import SimilarityMaps

    model, cfg = _tiny()
    ds = PretextDataset(synthetic_sources(cfg)["val"], PretextWindow(8, 4, 3, 1), cfg.data.crop_size, train=False)
    cb = SimilarityMaps(ds, tmp_path, every_n_epochs=2, count=1)
    module = SimpleNamespace(training=True, model=model, eval=lambda: None, train=lambda mode: None)
    for epoch in range(4):
        trainer = SimpleNamespace(current_epoch=epoch, max_steps=-1, global_step=epoch, is_global_zero=True, loggers=[])
        cb.on_train_epoch_end(trainer, module)
    assert cb.sets == 2 and len(cb.drawn) == 2 and cb.seconds > 0
