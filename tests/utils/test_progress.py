"""Progress on stderr: a bar on a terminal, plain lines (no carriage returns) in a file."""

from __future__ import annotations

import io

from skipclip.utils import progress as progress_module
from skipclip.utils.progress import Progress, duration, track


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_file_gets_plain_lines_and_a_last_line(monkeypatch):
    clock = iter(range(10_000))  # every update is 1 s after the last
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: float(next(clock)))
    out = io.StringIO()
    with Progress(100, "features", "windows", stream=out) as bar:
        for _ in range(100):
            bar.update(1, loss=0.5)
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    # a tenth of the work (10 s apart: more than MIN_GAP_S, less than EVERY_S): 9 lines, then the last
    assert len(lines) == 10, lines
    assert lines[0].startswith("features: 10/100 windows (10 %)") and "left" in lines[0] and "loss=0.5" in lines[0]
    assert lines[-1].startswith("features: 100/100 windows (100 %)") and "left" not in lines[-1]


def test_quick_work_in_a_file_prints_only_the_last_line():
    out = io.StringIO()
    with Progress(50, "doctor: reading", "videos", stream=out) as bar:
        for _ in range(50):
            bar.update(1)
    assert out.getvalue().splitlines() == [out.getvalue().splitlines()[-1]]
    assert out.getvalue().startswith("doctor: reading: 50/50 videos (100 %)")


def test_a_terminal_gets_a_redrawing_bar():
    out = Terminal()
    with Progress(20, "testing", "windows", stream=out) as bar:
        for _ in range(20):
            bar.update(1)
    assert "\r" in out.getvalue()


def test_disabled_progress_writes_nothing():
    out = io.StringIO()
    with Progress(20, "x", stream=out, enabled=False) as bar:
        bar.update(20)
    assert list(track([1, 2], 2, "y", enabled=False)) == [1, 2]
    assert out.getvalue() == ""


def test_durations_read_naturally():
    assert duration(42) == "42 s" and duration(210) == "3.5 min" and duration(7560) == "2.1 h"
