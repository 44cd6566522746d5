"""How a run that does not end well is recorded in ``run.json``: Ctrl+C and SIGTERM are
``interrupted`` (``--resume`` continues the run), any other error ``failed`` with the error."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from pathlib import Path

from skipclip.engine.runs import finish_run
from skipclip.errors import Terminated

INTERRUPTED = {
    "SIGINT": "KeyboardInterrupt (Ctrl+C); --resume continues the run",
    "SIGTERM": "terminated (SIGTERM); --resume continues the run",
}


class _Interrupts:
    """SIGINT and SIGTERM handlers that remember which fired, then raise ``KeyboardInterrupt``
    (as Python does for SIGINT) or :class:`~skipclip.errors.Terminated` (a ``KeyboardInterrupt``)."""

    def __init__(self):
        self.seen: str | None = None

    def __call__(self, signum, frame):
        self.seen = signal.Signals(signum).name
        raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt

    def error(self) -> KeyboardInterrupt:
        return Terminated() if self.seen == "SIGTERM" else KeyboardInterrupt()


_DEFAULTS = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}


def _watch_interrupts() -> tuple[_Interrupts, dict]:
    """Install an :class:`_Interrupts` for SIGINT and SIGTERM where Python's defaults are (main
    thread only; a signal that is ignored, as under nohup, or has the user's own handler is left
    alone). Lightning, during ``fit``, calls a SIGTERM handler it finds after its own notifier."""
    watch = _Interrupts()
    previous: dict = {}
    if threading.current_thread() is not threading.main_thread():
        return watch, previous
    for signum, default in _DEFAULTS.items():
        if signal.getsignal(signum) is default:
            previous[signum] = signal.signal(signum, watch)
    return watch, previous


def _mark_interrupted(out: Path, write: bool, watch: _Interrupts) -> None:
    if write:
        finish_run(out, status="interrupted", error=INTERRUPTED[watch.seen or "SIGINT"])


@contextmanager
def recorded(out: Path, write: bool = True):
    """Record in ``run.json`` how the work inside ends, when it does not end well, and re-raise:
    Ctrl+C is ``interrupted`` (raised on as ``KeyboardInterrupt``, so the CLI exits 130 and
    ``--resume`` continues the run; Lightning turns Ctrl+C into ``sys.exit(1)`` after its own
    shutdown, recognised by a SIGINT handler installed for the duration), SIGTERM likewise
    (raised on as :class:`~skipclip.errors.Terminated`, exit 143), any other error ``failed``
    with the error. ``write``: this process keeps the run record (rank 0)."""

    watch, previous = _watch_interrupts()
    try:
        yield
    except KeyboardInterrupt:
        _mark_interrupted(out, write, watch)
        raise
    except SystemExit as exc:
        if not watch.seen:
            if write and exc.code not in (0, None):
                finish_run(out, status="failed", error=f"SystemExit({exc.code})")
            raise
        _mark_interrupted(out, write, watch)
        raise watch.error() from None
    except Exception as exc:
        if watch.seen:  # Ctrl+C landed inside a library call that turned it into its own error
            # (torch.save's zip writer: "unexpected pos"); the user interrupted, nothing failed
            _mark_interrupted(out, write, watch)
            raise watch.error() from exc
        if write:
            finish_run(out, status="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
