"""Figure 3: per-cell context-target cosine similarity, whose cell mean is the score of Eq. 3."""

import re

import numpy as np
import pytest
import torch

from skipclip.cli import main
from skipclip.config import load_config
from skipclip.method import build_skipclip, losses
from skipclip.models.normalize import normalize
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
    real_draw = similarity_callback.draw

    def keep(*args, **kwargs):
        fig = real_draw(*args, **kwargs)
        drawn.append([ax.get_title() for ax in fig.axes])
        return fig

    cb = similarity_callback.SimilarityMaps(ds, tmp_path, every_n_epochs=1, count=1)
    similarity_callback.draw, saved = keep, similarity_callback.draw
    try:
        cb._draw(type("T", (), {"loggers": []})(), model, 0, 0)
    finally:
        similarity_callback.draw = saved
    titles = [t for t in drawn[0] if t.startswith("target")]
    assert [t.split("t=")[1].split("\n")[0] for t in titles] == ["10", "13", "16", "19"]  # K - 1 + r * k
    assert all(re.fullmatch(r"-?\d\.\d{3}", t.split("score ")[1].split(" ")[0]) for t in titles)  # three decimals


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
