"""The Python API and ``skipclip features``: an encoder from any file skipclip writes, its
preprocessing, and the same per-video features from the command and from Python."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import skipclip
from skipclip.cli import main
from skipclip.errors import InputNotFoundError, InvalidInputError
from skipclip.weights.export import export_encoders

from helpers import tiny_cfg
from video_factory import make_folder


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny pretraining run (1 epoch on the synthetic set) with an export inside it."""
    out = tmp_path_factory.mktemp("feat") / "run"
    result = skipclip.pretrain(
        tiny_cfg(), "synthetic", out, sets={"optim.max_epochs": 1}, progress=False, images_every=0
    )
    export_encoders(result.checkpoint, out / "export")
    return result


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("vids") / "footage", per_class=3, frames=24)


def state(module) -> dict:
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_pretrain_returns_a_typed_result(run):
    assert isinstance(run, skipclip.PretrainResult)
    assert run.checkpoint == run.out / "checkpoints" / "last.ckpt" and run.checkpoint.is_file()
    assert run.epochs == 1 and run.steps > 0 and "train/loss" in run.metrics


def test_load_encoder_reads_every_file_skipclip_writes(run):
    ckpt = skipclip.load_encoder(run.checkpoint)  # a .ckpt: skipclip 0.x read it as safetensors and failed
    want = state(ckpt)
    assert not ckpt.training and ckpt.source.kind == "skipclip" and ckpt.source.file == run.checkpoint
    for path in (run.out, run.out / "export", run.out / "export" / "context_encoder.safetensors"):
        g = skipclip.load_encoder(path)
        assert g.transforms == ckpt.transforms and state(g).keys() == want.keys()
        assert all(torch.equal(state(g)[k], want[k]) for k in want), path
    torch.testing.assert_close(
        ckpt.state_dict()["trunk.stem.0.weight"], run.model.context_encoder.state_dict()["trunk.stem.0.weight"]
    )
    cfg = tiny_cfg()
    assert ckpt.transforms == skipclip.Preprocess(
        frames=cfg.pretext.context_frames,
        crop_size=cfg.data.crop_size,
        short_side=cfg.data.short_side,
        stats="kinetics",
    )
    assert skipclip.preprocess_for(ckpt) is ckpt.transforms


def test_load_encoder_names_what_it_looked_for(tmp_path):
    with pytest.raises(InputNotFoundError, match="does not exist"):
        skipclip.load_encoder(tmp_path / "none")
    with pytest.raises(InputNotFoundError, match=r"checkpoints/last.ckpt"):
        skipclip.load_encoder(tmp_path)
    with pytest.raises(InvalidInputError, match="no Skip-Clip context encoder"):
        bad = tmp_path / "bad.pt"
        torch.save({"x": torch.zeros(2)}, bad)
        skipclip.load_encoder(bad)


def test_read_clip_and_its_limits(videos):
    path = next((videos / "cats").iterdir())
    clip = skipclip.read_clip(path, start=2, frames=5)
    assert clip.shape == (5, 48, 64, 3) and clip.dtype == np.uint8
    assert skipclip.read_clip(path, frames=None).shape[0] == 24
    np.testing.assert_array_equal(skipclip.read_clip(path, frames=None)[2:7], clip)
    with pytest.raises(InvalidInputError, match="has 24 frames"):
        skipclip.read_clip(path, start=20, frames=16)


def test_the_command_and_python_give_the_same_features(run, videos, tmp_path, capsys):
    out = tmp_path / "f.npz"
    assert (
        main(
            [
                "features",
                "--ckpt",
                str(run.out),
                "--data",
                str(videos),
                "--out",
                str(out),
                "--per-window",
                "--no-progress",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "next: python -c" in printed
    f = np.load(out)  # no pickle needed
    names, split = list(f["names"]), list(f["split"])
    assert sorted(names) == sorted(str(p.relative_to(videos)) for p in videos.rglob("*.avi"))
    assert set(split) <= {"train", "val", "test"} and "test" in split
    assert [f["classes"][y] for y in f["labels"]] == [n.split("/")[0] for n in names]
    encoder = skipclip.load_encoder(run.checkpoint)
    for i, name in enumerate(names):
        clip = skipclip.read_clip(videos / name, frames=None, short_side=encoder.transforms.short_side)
        vector = skipclip.features(encoder, clip)
        assert vector.shape == (encoder.out_channels,)
        np.testing.assert_allclose(vector.numpy(), f["features"][i], rtol=1e-4, atol=1e-5)
        rows = f["window_video"] == i
        assert rows.sum() == 24 // encoder.transforms.frames
        np.testing.assert_allclose(f["window_features"][rows].mean(0), f["features"][i], rtol=1e-5, atol=1e-6)
        assert list(f["window_start"][rows]) == list(range(0, 24, encoder.transforms.frames))


def test_safetensors_output_and_no_overwrite(run, videos, tmp_path, capsys):
    npz, st = tmp_path / "f.npz", tmp_path / "f.safetensors"
    for out in (npz, st):
        assert (
            main(["features", "--ckpt", str(run.checkpoint), "--data", str(videos), "--out", str(out), "--no-progress"])
            == 0
        )
    tensors = load_file(str(st))
    np.testing.assert_array_equal(tensors["features"].numpy(), np.load(npz)["features"])
    from safetensors import safe_open

    with safe_open(str(st), "pt") as fh:
        meta = fh.metadata()
    assert '"cats/cats_0.avi"' in meta["names"] and "classes" in meta
    before = npz.read_bytes()
    capsys.readouterr()
    assert main(["features", "--ckpt", str(run.checkpoint), "--data", str(videos), "--out", str(npz)]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err and npz.read_bytes() == before
    csv = str(tmp_path / "f.csv")
    assert main(["features", "--ckpt", str(run.checkpoint), "--data", str(videos), "--out", csv]) == 2


def test_evaluate_always_writes_its_report_beside_the_run(run, videos, capsys):
    args = [
        "evaluate",
        "--ckpt",
        str(run.checkpoint),
        "--data",
        str(videos),
        "--protocols",
        "linear_probe,knn",
        "--no-progress",
    ]
    assert main(args) == 0
    report = run.out / "evaluation" / "report.json"
    assert report.is_file() and f"the report is {report}" in capsys.readouterr().out
    stamp = report.stat().st_mtime_ns
    assert main(args) == 2  # refused up front: the earlier report stays
    assert "pass --force" in capsys.readouterr().err and report.stat().st_mtime_ns == stamp
    result = skipclip.evaluate(run.checkpoint, videos, run.out / "eval2", protocols=["knn"], progress=False)
    assert isinstance(result, skipclip.EvaluateResult) and result.report_path.is_file()
    assert 0 <= result.top1("knn") <= 1


def test_features_of_float_input_and_short_clips(run):
    encoder = skipclip.load_encoder(run.checkpoint)
    pre = encoder.transforms
    frames = np.random.default_rng(0).integers(0, 256, (pre.frames, 40, 40, 3), dtype=np.uint8)
    by_frames = skipclip.features(encoder, frames)
    torch.testing.assert_close(skipclip.features(encoder, pre(frames)), by_frames)
    with pytest.raises(InvalidInputError, match="fewer than one"):
        skipclip.features(encoder, frames[: pre.frames - 1])
    with pytest.raises(InvalidInputError, match="uint8"):
        skipclip.features(encoder, frames.astype(np.float32) / 255)


def test_a_video_file_gives_exactly_the_commands_row(run, videos, tmp_path):
    # skipclip.features(encoder, "clip.avi") reads the file as `skipclip features` reads the folder:
    # the same numbers to the bit (read_clip's frames at full size gave another answer)
    out = tmp_path / "f.npz"
    assert (
        main(
            [
                "features",
                "--ckpt",
                str(run.out),
                "--data",
                str(videos),
                "--out",
                str(out),
                "--no-progress",
                "--num-workers",
                "0",
            ]
        )
        == 0
    )
    f = np.load(out)
    encoder = skipclip.load_encoder(run.out)
    for i, name in enumerate(f["names"]):
        for path in (videos / name, str(videos / name)):
            vector = skipclip.features(encoder, path)
            assert isinstance(vector, torch.Tensor) and vector.dtype == torch.float32
            np.testing.assert_array_equal(vector.numpy(), f["features"][i])
    per_window = skipclip.features(encoder, videos / f["names"][0], per_window=True)
    assert per_window.shape == (24 // encoder.transforms.frames, encoder.out_channels)
    with pytest.raises(InputNotFoundError, match="does not exist"):
        skipclip.features(encoder, videos / "nope.avi")


def test_uint8_errors_name_the_fix_for_numpy_and_torch(run):
    encoder = skipclip.load_encoder(run.checkpoint)
    frames = np.zeros((encoder.transforms.frames, 40, 40, 3), np.float32)
    for x in (frames, torch.from_numpy(frames)):
        with pytest.raises(InvalidInputError) as err:
            skipclip.features(encoder, x if isinstance(x, np.ndarray) else x.to(torch.float64))
        assert ".astype(np.uint8)" in str(err.value) and ".to(torch.uint8)" in str(err.value)


def test_features_command_decodes_with_workers_and_matches_one_process(run, videos, tmp_path, capsys):
    one, two = tmp_path / "one.npz", tmp_path / "two.npz"
    for out, n in ((one, "0"), (two, "2")):
        assert (
            main(["features", "--ckpt", str(run.out), "--data", str(videos), "--out", str(out), "--num-workers", n])
            == 0
        )
        err = capsys.readouterr().err
        assert "features (train):" in err and "windows (100 %)" in err  # progress, on stderr
    a, b = np.load(one), np.load(two)
    assert list(a["names"]) == list(b["names"])
    np.testing.assert_array_equal(a["features"], b["features"])


def test_the_pretraining_summary_says_which_videos_it_used(run):
    from skipclip.commands.pretrain import videos_line
    from skipclip.recipes.pretrain_summary import PretrainSummary

    s = run.summary
    assert s["train_videos"] > 0 and s["val_videos"] > 0 and s["test_videos"] > 0
    fields = {k: v for k, v in s.items() if k in PretrainSummary.__dataclass_fields__ and k != "health"}
    line = videos_line(PretrainSummary(**fields))
    total = s["train_videos"] + s["too_short_videos"] + s["val_videos"] + s["test_videos"]
    assert f"trained on {s['train_videos']} of {total}" in line
    assert f"{s['val_videos']} held out for validation" in line and f"{s['test_videos']} in the test split" in line
