"""One exception family for what a user can fix. The CLI prints a :class:`SkipClipError` as a
one-line error and exits 2; any other exception is a bug and keeps its traceback.

Each class also derives from the built-in it refines (``ValueError``, ``FileExistsError``...), so
``except ValueError`` in a user's code still catches a bad value. Imports nothing of skipclip.
"""

from __future__ import annotations


class SkipClipError(Exception):
    """Something the user can fix: a value, a file, a folder. The message names it and says what to do."""


class InvalidInputError(SkipClipError, ValueError):
    """A value, file or folder given to skipclip that it cannot use as it is."""


class InputNotFoundError(SkipClipError, FileNotFoundError):
    """A file or folder the user named does not exist."""


class OutputExistsError(SkipClipError, FileExistsError):
    """An output would replace something the user made; pass --force (or --resume) to allow it."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's preemption, ``kill``) during a run: handled as Ctrl+C is (the run is
    marked interrupted, ``--resume`` continues it), and the CLI exits 143."""


__all__ = ["InputNotFoundError", "InvalidInputError", "OutputExistsError", "SkipClipError", "Terminated"]
