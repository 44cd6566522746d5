"""Progress that suits where it goes: a redrawing bar on a terminal, plain lines in a file.

Progress always goes to stderr, so stdout keeps only results. When stderr is a terminal, a tqdm
bar redraws in place; when it is a file or a pipe (a SLURM ``.out``, ``| tee``), a bar would fill
it with carriage-return redraws, so :class:`Progress` prints one plain line every
:data:`EVERY_S` seconds or every tenth of the work instead, and a last line when it ends.
Imports nothing of skipclip.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

from tqdm import tqdm

EVERY_S = 30.0  # seconds between plain progress lines
MIN_GAP_S = 5.0  # a tenth of the work done sooner than this after the last line waits (no floods)
T = TypeVar("T")


def interactive(stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (default stderr) is a terminal, where a redrawing bar belongs."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or not a real stream
        return False


def duration(seconds: float) -> str:
    """``"42 s"``, ``"3.5 min"``, ``"2.1 h"``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class Progress:
    """Progress of ``total`` units of work named ``what`` (``None`` total: count only).

    Args:
        total: units of work, or ``None`` when unknown.
        what: what is being done, e.g. ``"features"``; starts every line.
        unit: what one unit is, e.g. ``"videos"``.
        enabled: ``False`` shows nothing.
        every_s: seconds between plain lines (non-terminal output).
        every_n: units between plain lines (default a tenth of ``total``).
        stream: where to write (default stderr); a terminal gets a tqdm bar.
    """

    def __init__(
        self,
        total: int | None,
        what: str,
        unit: str = "items",
        *,
        enabled: bool = True,
        every_s: float = EVERY_S,
        every_n: int | None = None,
        stream: TextIO | None = None,
    ):
        self.total, self.what, self.unit, self.enabled = total, what, unit, enabled and total != 0
        self.stream = sys.stderr if stream is None else stream
        self.every_s = every_s
        self.every_n = every_n or (max(1, total // 10) if total else 0)
        self.done, self.start, self.last_line = 0, time.monotonic(), time.monotonic()
        self.postfix = ""
        self._next_n = self.every_n
        self._bar = None
        if self.enabled and interactive(self.stream):
            self._bar = tqdm(
                total=total, desc=what, unit=unit.rstrip("s") or "it", file=self.stream, dynamic_ncols=True, leave=False
            )

    def update(self, n: int = 1, **postfix) -> None:
        """``n`` more units done; ``postfix`` values are shown beside the count."""
        if not self.enabled:
            return
        self.done += n
        if postfix:
            self.postfix = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in postfix.items())
        if self._bar is not None:
            if postfix:
                self._bar.set_postfix_str(self.postfix, refresh=False)
            self._bar.update(n)
            return
        now = time.monotonic()
        since = now - self.last_line
        due = since >= self.every_s or (self.every_n and self.done >= self._next_n and since >= MIN_GAP_S)
        if due and (self.total is None or self.done < self.total):
            self._line(now)
            while self.every_n and self._next_n <= self.done:
                self._next_n += self.every_n

    def _line(self, now: float, final: bool = False) -> None:
        elapsed = now - self.start
        if self.total:
            text = f"{self.what}: {self.done}/{self.total} {self.unit} ({100 * self.done / self.total:.0f} %)"
        else:
            text = f"{self.what}: {self.done} {self.unit}"
        text += f", {duration(elapsed)}"
        if not final and self.total and self.done:
            text += f", ~{duration(elapsed * (self.total - self.done) / self.done)} left"
        if self.postfix:
            text += f" [{self.postfix}]"
        print(text, file=self.stream, flush=True)
        self.last_line = now

    def close(self) -> None:
        """End the progress: the bar goes, a plain last line says what was done and how long it took."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.done:
            self._line(time.monotonic(), final=True)
        self.enabled = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def track(
    items: Iterable[T], total: int | None, what: str, unit: str = "items", *, enabled: bool = True
) -> Iterator[T]:
    """``items``, one :meth:`Progress.update` per item."""
    with Progress(total, what, unit, enabled=enabled) as bar:
        for item in items:
            yield item
            bar.update(1)


__all__ = ["EVERY_S", "MIN_GAP_S", "Progress", "duration", "interactive", "track"]
