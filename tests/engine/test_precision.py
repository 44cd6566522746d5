"""trainer.precision: auto: the choice logic with a fake clock (no timing of this machine)."""

from __future__ import annotations

import json

import pytest

from skipclip.config import load_config
from skipclip.engine import precision as prec
from skipclip.errors import InvalidInputError


class FakeClock:
    """A clock that only the fake steps move: fp32 steps take ``fp32`` s, bf16 steps ``bf16`` s."""

    def __init__(self, fp32: float, bf16: float):
        self.now, self.cost, self.built = 0.0, {False: fp32, True: bf16}, []

    def __call__(self) -> float:
        return self.now

    def probe(self, bf16: bool):
        self.built.append(bf16)

        def step():
            self.now += self.cost[bf16]

        return step


SHAPES = {"step": "skipclip", "width": 16, "crop": 48}
AMX = {"fpu", "avx512f", "amx_bf16"}


def choose(clock, tmp_path, flags=AMX, **kw):
    return prec.choose_precision(clock.probe, SHAPES, "cpu", flags=flags, cache=tmp_path / "p.json", timer=clock, **kw)


def test_no_native_bf16_means_fp32_untimed(tmp_path):
    clock = FakeClock(1.0, 0.1)
    got = choose(clock, tmp_path, flags={"fpu", "avx2", "avx512f"})
    assert got.precision == "32-true" and got.fp32_ms is None and clock.built == []
    assert "no native bf16" in got.reason and not (tmp_path / "p.json").exists()


@pytest.mark.parametrize("flag", ["amx_bf16", "avx512_bf16"])
def test_bf16_where_measured_faster(tmp_path, flag):
    got = choose(FakeClock(0.200, 0.150), tmp_path, flags={flag})
    assert got.precision == "bf16-mixed" and (got.fp32_ms, got.bf16_ms) == (200.0, 150.0) and not got.cached


@pytest.mark.parametrize("bf16", [0.250, 0.200, 0.192])  # slower, equal, and within the 5 % margin
def test_fp32_unless_bf16_is_clearly_faster(tmp_path, bf16):
    got = choose(FakeClock(0.200, bf16), tmp_path)
    assert got.precision == "32-true" and got.bf16_ms == pytest.approx(1e3 * bf16)


def test_the_choice_is_kept_per_machine_and_shape(tmp_path):
    first = choose(FakeClock(0.2, 0.1), tmp_path)
    clock = FakeClock(0.1, 0.2)  # would choose fp32 now, but the machine's choice is kept
    again = choose(clock, tmp_path)
    assert again.precision == first.precision == "bf16-mixed" and again.cached and clock.built == []
    other = prec.choose_precision(
        clock.probe, {**SHAPES, "crop": 112}, "cpu", flags=AMX, cache=tmp_path / "p.json", timer=clock
    )
    assert other.precision == "32-true" and not other.cached  # another shape is timed on its own
    assert len(json.loads((tmp_path / "p.json").read_text())) == 2


def test_a_damaged_cache_is_timed_again(tmp_path):
    (tmp_path / "p.json").write_text("{not json")
    assert choose(FakeClock(0.2, 0.1), tmp_path).precision == "bf16-mixed"
    assert json.loads((tmp_path / "p.json").read_text())


def test_timing_is_interleaved_after_warmup():
    order = []

    def probe(bf16):
        return lambda: order.append(bf16)

    prec.time_steps(probe, repeats=3, warmup=1, timer=lambda: 0.0)
    assert order == [False, True] * 4


def test_auto_is_a_precision_and_trains_fp32_unresolved():
    cfg = load_config("cpu-real", {"trainer.precision": "auto"})
    assert cfg.trainer.precision == "auto"
    assert prec.resolved(load_config("cpu-real", {}), lambda: pytest.fail("probed"), "cpu") is None
    with pytest.raises(InvalidInputError, match="auto"):
        load_config("cpu-real", {"trainer.precision": "fast"})


def test_the_real_probes_run_one_step(tmp_path):
    cfg = load_config("cpu", {"data.batch_size": 2, "data.crop_size": 32, "model.width": 8})
    for probe, shapes in (prec.skipclip_probe(cfg, "cpu"), prec.encoder_probe(cfg, 4, 32, 2, "cpu", frozen=True)):
        probe(False)()
        probe(True)()
        assert shapes["width"] == 8
