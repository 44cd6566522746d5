"""Bad flags and configs: a clear error naming the value, before any work starts (no run folder
is created, nothing is trained)."""

from __future__ import annotations

import pytest

from skipclip.cli import main
from skipclip.config import load_config
from skipclip.config.sections import REMOVED_KEYS

BAD_FLAGS = [
    (["--context-frames", "0"], "pretext.context_frames (K) must be an integer >= 1, got 0"),
    (["--num-targets", "1"], "pretext.num_targets (M) must be an integer >= 2"),
    (["--sampling-rate", "0"], "pretext.sampling_rate (r) must be an integer >= 1, got 0"),
    (["--target-length", "3"], "pretext.target_length (d=3) must not exceed the sampling rate (r=2)"),
    (["--rank-margin", "-0.1"], "pretext.rank_margin must be in [0, 2]"),
    (["--neg-margin", "-1"], "pretext.neg_margin must be in [0, 2]"),
    (["--crop-size", "64"], "data.crop_size (64) must not be larger than data.short_side (56)"),
    (["--batch-size", "1"], "data.batch_size must be >= 2"),
    (["--lr", "0"], "optim.lr must be > 0, got 0.0"),
    (["--max-epochs", "0"], "optim.max_epochs must be an integer >= 1, got 0"),
    (["--width", "6"], "model.width must be a multiple of 4"),
    (["--devices", "0"], "trainer.devices must be 'auto', a count >= 1"),
    (["--num-nodes", "0"], "trainer.num_nodes must be an integer >= 1, got 0"),
    (["--seed", "-1"], "trainer.seed must be an integer in [0, 2**32), got -1"),
    (["--num-workers", "-2"], "data.num_workers must be >= 0, got -2"),
    (["--context-frames", "40"], "data.synthetic_frames (40) is shorter than the pretext window"),
    (["--precision", "16-mixed", "--accelerator", "cpu"], "16-mixed needs a GPU"),
    (["--precision", "fp8"], "trainer.precision must be one of"),
    (["--resume", "--force"], "--resume and --force contradict each other"),
]


@pytest.mark.parametrize("flags,message", BAD_FLAGS, ids=[" ".join(f) for f, _ in BAD_FLAGS])
def test_bad_flag_is_refused_before_any_work(flags, message, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["pretrain", "--data", "synthetic", "--out", str(out), "--no-progress", *flags])
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert not out.exists()


def test_bad_checkpoint_every_is_an_argument_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["pretrain", "--out", str(tmp_path / "run"), "--checkpoint-every", "-5"])
    assert exc.value.code == 2 and "must be >= 0, got -5" in capsys.readouterr().err


@pytest.mark.parametrize(
    "text,message",
    [
        ("pretext:\n  context_frame: 8\n", "unknown key 'context_frame' in"),
        ("pretexts:\n  context_frames: 8\n", "unknown section 'pretexts'"),
        ("data:\n  crop_size: 300\n", "data.crop_size (300) must not be larger than data.short_side (256)"),
        ("pretext: [1, 2]\n", "section 'pretext'"),
        ("trainer:\n  limit_train_batches: 0\n", "trainer.limit_train_batches must be a fraction in (0, 1]"),
        ("trainer:\n  accelerator: tpu7\n", "trainer.accelerator must be cpu, gpu, cuda, mps or auto, got 'tpu7'"),
        ("pretext:\n  num_targets: [\n", "is not valid YAML"),
    ],
)
def test_bad_yaml_names_the_key(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as exc:
        load_config(path)
    assert message in str(exc.value)


def test_unknown_yaml_key_through_the_cli(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("optim:\n  learning_rate: 0.1\n")
    code = main(["pretrain", "--config", str(path), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "unknown key 'learning_rate'" in err and "lr" in err
    assert not (tmp_path / "run").exists()


def test_existing_run_is_refused(tmp_path, capsys):
    from skipclip.engine.runs import prepare_run_dir

    prepare_run_dir(tmp_path / "run", load_config("cpu"), resume=False, force=False, kind="pretrain")
    code = main(["pretrain", "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "unfinished pretrain run; pass --resume" in err


@pytest.mark.parametrize(
    "key, variant",
    [
        ("pretext.far_negatives", 8),
        ("pretext.neg_reduce", "hardest"),
        ("pretext.rotation_input", "targets"),
        ("pretext.rank_weight", 4.0),
        ("model.init_context_taps", "single"),
        ("pretext.far_reduce", "hardest"),
    ],
)
def test_a_removed_option_is_refused_saying_so_and_its_paper_value_is_dropped(tmp_path, key, variant):
    """The variants measured and lost were removed (docs/results.md): a config choosing one gets an
    error naming the key and saying it was removed; the paper's value (a saved run's config) loads."""
    section, name = key.split(".")
    path = tmp_path / "old.yaml"
    path.write_text(f"base: cpu\n{section}:\n  {name}: {variant!r}\n")
    with pytest.raises(ValueError, match=f"{key} .*was removed"):
        load_config(str(path))
    with pytest.raises(ValueError, match="was removed"):
        load_config("cpu", sets={key: variant})
    paper = REMOVED_KEYS[key]
    path.write_text(f"base: cpu\n{section}:\n  {name}: {paper!r}\n")
    cfg = load_config(str(path))
    assert not hasattr(getattr(cfg, section), name)
    assert load_config("cpu", sets={key: paper}).to_dict() == load_config("cpu").to_dict()


def test_the_synthetic_length_binds_only_runs_on_the_synthetic_videos():
    """A real store's run is not refused because data.synthetic_frames is shorter than its window
    (r = 8 on cpu-real: 72 frames against 64); a synthetic run still is, naming the key."""
    from skipclip.config import check_synthetic_window, load_config
    from skipclip.data import synthetic_sources
    from skipclip.errors import InvalidInputError

    cfg = load_config("cpu-real", {"pretext.sampling_rate": 8})  # validated: no error
    assert cfg.window_length == 72 > cfg.data.synthetic_frames
    with pytest.raises(InvalidInputError, match=r"data.synthetic_frames \(64\) is shorter than the pretext window"):
        check_synthetic_window(cfg)
    with pytest.raises(InvalidInputError, match="data.synthetic_frames"):
        synthetic_sources(cfg)
