"""`skipclip bench train` on a tiny configuration: its JSON keys and their relations (not timed)."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import statistics

import pytest
import torch

from skipclip.commands import bench

from helpers import tiny_cfg

KEYS = ("matmul_gflops", "step_gflop", "mfu", "bare_encoders_mfu", "overhead_ratio", "peak_mem_mb_per_sample")


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)  # the `skipclip bench` dispatch, as the CLI builds it
    return parser.parse_args(["train", *argv])


def test_tiny_benchmark_writes_its_json_keys(tmp_path, capsys, one_thread):
    out = tmp_path / "bench" / "train.json"
    args = parse(
        "--tiny", "--repeats", "2", "--warmup", "1", "--matmul-size", "256", "--threads", "1", "--json", str(out)
    )
    assert bench.run(args) == 0
    r = json.loads(out.read_text())
    for key in KEYS:
        assert isinstance(r[key], float) and math.isfinite(r[key]) and r[key] > 0, key
    assert r["batch_size"] == 4 and r["shapes"]["frames_through_f"] == 4 * 3 * 2  # targets + rotated copies
    assert r["step_ms"] == pytest.approx(statistics.median(r["step_ms_all"]))
    # the step runs the bare encoders' work plus the scoring einsum and the rotation head, a little more
    assert r["bare_step_gflop"] < r["step_gflop"] < 1.05 * r["bare_step_gflop"]
    table = capsys.readouterr().out
    assert "Skip-Clip step" in table and "bare encoders" in table and "overhead ratio" in table


def test_flops_are_forward_and_backward(one_thread):
    """Counted FLOPs of a bare step are 2-3x the forward's (backward = grad input + grad weight,
    minus the input gradient of the first convolutions, which nothing needs)."""
    from torch.utils.flop_counter import FlopCounterMode

    from skipclip.bench.steps import bare_inputs, count_flops, make_batch, make_steps
    from skipclip.method import build_skipclip

    torch.set_num_threads(1)
    cfg = tiny_cfg()
    model = build_skipclip(cfg).train()
    device = torch.device("cpu")
    batch = make_batch(cfg, device)
    _, bare_step = make_steps(model, batch, device, contextlib.nullcontext, cfg.optim.lr)
    context, frames = bare_inputs(model, batch, device)
    with torch.no_grad(), FlopCounterMode(display=False) as fwd:
        model.context_encoder(context)
        model.frame_encoder(frames)
    step = count_flops(bare_step)
    assert 2.0 * fwd.get_total_flops() < step <= 3.0 * fwd.get_total_flops()


def test_bad_repeats_are_rejected():
    with pytest.raises(ValueError, match="--repeats"):
        bench.run(parse("--tiny", "--repeats", "0"))


@pytest.mark.e2e
def test_benchmark_path_imports_no_video_decoding():
    """The lent GPU machines have no PyAV: nothing the benchmark imports may need it."""
    import subprocess
    import sys

    code = (
        "import sys, skipclip.bench.train, skipclip.method.model, skipclip.config; "
        "print(sorted(m for m in ('av', 'decord', 'cv2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_help_descriptions_repeat_the_module_docs():
    """`skipclip bench NAME --help` shows a paragraph of the benchmark's docstring, kept in
    skipclip/bench/flags.py so that building the parser imports no benchmark."""
    from skipclip.bench import flags, loader, train

    assert flags.TRAIN.description == train.__doc__.split("\n\n")[1]
    assert flags.LOADER.description == loader.__doc__.split("\n\n")[1]


def test_ratios_on_known_timings(monkeypatch, one_thread):
    """Steps timed at known durations (Skip-Clip 0.2 s, bare 0.1 s, matmul 50 GFLOP/s): the
    overhead ratio, MFUs and throughput follow from them, not from the JSON's own fields."""
    from skipclip.bench import train

    def fake_timed(fn, device, clock=None):
        fn()
        return {"skipclip_step": 0.2, "bare_step": 0.1}.get(fn.__name__, 0.01)

    monkeypatch.setattr(train, "timed", fake_timed)
    monkeypatch.setattr(train, "matmul_timer", lambda device, n, clock=None: lambda: 50.0)
    r = train.measure(parse("--tiny", "--repeats", "2", "--warmup", "0", "--threads", "1"))
    assert r["step_ms"] == pytest.approx(200.0) and r["bare_step_ms"] == pytest.approx(100.0)
    assert r["overhead_ratio"] == pytest.approx(2.0)
    assert r["samples_per_s"] == pytest.approx(4 / 0.2)
    assert r["mfu"] == pytest.approx(r["step_gflop"] / 0.2 / 50.0)
    assert r["bare_encoders_mfu"] == pytest.approx(r["bare_step_gflop"] / 0.1 / 50.0)
