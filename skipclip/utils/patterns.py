r"""Regular expressions from users (``--label-pattern``, ``--group-pattern``, ``data.*_pattern``)
run with a bound on what they may cost.

Python's ``re`` backtracks, so a pattern such as ``((a+)+)_z`` takes time exponential in the
length of a name it fails on (a 30-character file name ran for over a minute). Two guards:

- :func:`compile_pattern` refuses, before anything is matched, a pattern of more than
  :data:`MAX_PATTERN` characters and one with a repeat inside a repeat (``(a+)+``, ``(\w*)*``,
  ``(x{1,9})+``), the shape of nearly every catastrophic pattern; a repeat of a fixed count
  (``(ab){2}``) or an optional part (``(_\d+)?``) inside a repeat is fine.
- :func:`search_all` matches every name under one deadline, :data:`PATTERN_SECONDS` in all (a
  ``SIGALRM`` timer: CPython's matcher checks for signals while it backtracks); past it, an
  :class:`PatternTimeoutError` names the pattern. That covers what the first check cannot see,
  such as overlapping alternatives (``(a|aa)+z``). The timer needs the main thread; elsewhere
  the first check alone applies.

A pattern of the usual kind (``person\d+_([a-z]+)_`` over KTH's 600 names) takes microseconds a
name: a million names fit the deadline several times over.
"""

from __future__ import annotations

import re
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from skipclip.errors import InvalidInputError

try:  # Python 3.11+
    from re import _constants as _sre  # type: ignore[attr-defined]
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants as _sre
    import sre_parse as _sre_parse

MAX_PATTERN = 1000  # characters of a pattern
PATTERN_SECONDS = 10.0  # matching one pattern against every name of a data set
_REPEATS = {_sre.MAX_REPEAT, _sre.MIN_REPEAT} | (
    {_sre.POSSESSIVE_REPEAT} if hasattr(_sre, "POSSESSIVE_REPEAT") else set()
)


class PatternTimeoutError(InvalidInputError):
    """A user's regular expression ran past its deadline."""


def _variable(lo: int, hi: int) -> bool:
    """Whether a repeat ``{lo,hi}`` may match a varying number of times, more than once."""
    return hi != lo and (hi is _sre.MAXREPEAT or hi > 1)


def _nested_repeat(items, in_repeat: bool = False) -> bool:
    """Whether the parsed pattern ``items`` holds a variable repeat inside a variable repeat."""
    for op, av in items:
        subs = []
        inner = in_repeat
        if op in _REPEATS:
            lo, hi, sub = av
            if _variable(lo, hi):
                if in_repeat:
                    return True
                inner = True
            subs = [sub]
        elif op is _sre.SUBPATTERN:
            subs = [av[-1]]
        elif op is _sre.BRANCH:
            subs = list(av[1])
        elif op in (_sre.ASSERT, _sre.ASSERT_NOT):
            subs = [av[1]]
        elif op is _sre.GROUPREF_EXISTS:
            subs = [s for s in av[1:] if s is not None]
        elif getattr(_sre, "ATOMIC_GROUP", None) is not None and op is _sre.ATOMIC_GROUP:
            subs = [av]
        if any(_nested_repeat(s, inner) for s in subs):
            return True
    return False


def compile_pattern(pattern, flag: str) -> re.Pattern:
    """``pattern`` compiled, once it is known to be a string of at most :data:`MAX_PATTERN`
    characters, valid, and without a repeat inside a repeat.

    Args:
        pattern: the user's regular expression.
        flag: where it came from, for messages (``--label-pattern``, ``data.group_pattern``).

    Raises:
        InvalidInputError: naming ``flag``, the pattern (cut to 100 characters) and the rule.
    """
    if not isinstance(pattern, str):
        raise InvalidInputError(f"{flag} must be a string, got {type(pattern).__name__}")
    shown = repr(pattern[:100]) + ("..." if len(pattern) > 100 else "")
    if len(pattern) > MAX_PATTERN:
        raise InvalidInputError(f"{flag} is {len(pattern)} characters long; a pattern is at most {MAX_PATTERN}")
    try:
        compiled = re.compile(pattern)
        nested = _nested_repeat(_sre_parse.parse(pattern))
    except (re.error, RecursionError, OverflowError) as exc:
        raise InvalidInputError(f"{flag} {shown} is not a valid regular expression: {exc}") from None
    if nested:
        raise InvalidInputError(
            f"{flag} {shown} repeats a repeat (as in (a+)+ or (\\w*)*), which can take "
            "exponential time on a name it does not match; write it without the outer "
            "repeat, e.g. (a+) instead of (a+)+"
        )
    return compiled


@contextmanager
def _deadline(seconds: float, flag: str, pattern: str, count: int) -> Iterator[None]:
    """Raise :class:`PatternTimeoutError` in the block after ``seconds`` (main thread only; an
    earlier ``SIGALRM`` timer and handler, such as pytest-timeout's, are put back after)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    class _Expired(Exception):
        pass

    def _on_alarm(signum, frame):
        raise _Expired

    old_handler = signal.signal(signal.SIGALRM, _on_alarm)
    old_delay, old_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    start = time.monotonic()
    try:
        yield
    except _Expired:
        raise PatternTimeoutError(
            f"{flag} {pattern[:100]!r} took more than {seconds:g} s to match {count} names; a pattern may cost "
            f"at most {seconds:g} s over a whole data set: make it simpler (no alternatives that overlap, "
            "such as (a|aa)+)"
        ) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        if old_delay > 0:
            signal.setitimer(signal.ITIMER_REAL, max(old_delay - (time.monotonic() - start), 1e-3), old_interval)


def search_all(
    pattern: re.Pattern, texts: Sequence[str], flag: str, seconds: float | None = None
) -> list[re.Match | None]:
    """``pattern.search(t)`` for every ``t`` of ``texts``, all within ``seconds`` (default
    :data:`PATTERN_SECONDS`).

    Raises:
        PatternTimeoutError: past the deadline, naming ``flag`` and the pattern.
    """
    with _deadline(PATTERN_SECONDS if seconds is None else seconds, flag, pattern.pattern, len(texts)):
        return [pattern.search(t) for t in texts]


__all__ = ["MAX_PATTERN", "PATTERN_SECONDS", "PatternTimeoutError", "compile_pattern", "search_all"]
