"""The video-source interface every data set implements (synthetic, prepared store, raw files).

A source is an indexable collection of videos with random access to any set of frames. The pretext
sampler and the downstream datasets only talk to this interface, so a new data layout is one new
class.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from typing import Any, Protocol, cast, runtime_checkable

import numpy as np

from skipclip.errors import SkipClipError


class VideoReadError(RuntimeError):
    """A video could not be read. Carries the file (or video name) and the reason.

    Long runs catch it, skip the video, count it and report it at the end.
    """

    def __init__(self, video: str, reason: str):
        super().__init__(f"{video}: {reason}")
        self.video = video
        self.reason = reason


# what the machine runs out of, not what is wrong with a video: out of processes or threads (EAGAIN,
# FFmpeg's "Resource temporarily unavailable" under a memory cap), memory, file descriptors
MACHINE_ERRNOS = (errno.EAGAIN, errno.ENOMEM, errno.EMFILE, errno.ENFILE)


class MachineFaultError(SkipClipError):
    """The machine, not the video: decoding failed because a resource ran out (memory, threads,
    file descriptors). The video is not recorded as unreadable; ``prepare`` stops (finished videos
    are kept), the online kNN is skipped that once. Takes one message, so it crosses process
    boundaries (a decoding worker, a data loader worker) as itself."""


def machine_fault(video, exc: BaseException) -> MachineFaultError | None:
    """A :class:`MachineFaultError` naming ``video`` when ``exc`` is the machine running out of a
    resource (``MemoryError``, or an ``errno`` of :data:`MACHINE_ERRNOS`); else ``None``."""
    if isinstance(exc, MachineFaultError):
        return exc
    code = getattr(exc, "errno", None)
    if not isinstance(exc, MemoryError) and code not in MACHINE_ERRNOS:
        return None
    why = (
        "out of memory"
        if isinstance(exc, MemoryError) or code == errno.ENOMEM
        else "out of open files"
        if code in (errno.EMFILE, errno.ENFILE)
        else "out of processes or threads"
    )
    detail = getattr(exc, "strerror", None) or type(exc).__name__
    return MachineFaultError(
        f"{video}: the machine ran {why} while decoding it ({detail}); nothing is known to be "
        "wrong with the video, so it is not recorded as unreadable. Free memory, use fewer "
        "workers (--num-workers) or raise the limit (ulimit -v, -u, -n), then run the same "
        "command again"
    )


@runtime_checkable
class VideoSource(Protocol):
    """Random access to the frames of a set of videos.

    Attributes:
        classes: class names, index = label; empty for unlabelled footage.
    """

    classes: list[str]

    def __len__(self) -> int:
        """Number of videos."""

    def num_frames(self, index: int) -> int:
        """Number of frames of video ``index``."""

    def read(self, index: int, frames: Sequence[int] | np.ndarray) -> np.ndarray:
        """Frames of video ``index`` at the given indices (any order, repeats allowed).

        Returns:
            ``(len(frames), H, W, 3)`` uint8 RGB.

        Raises:
            VideoReadError: the video is corrupt or an index is out of range.
        """

    def label(self, index: int) -> int:
        """Class index of video ``index``; -1 when unlabelled."""

    def name(self, index: int) -> str:
        """A human-readable name (relative path) of video ``index``."""

    def group(self, index: int) -> str:
        """Group key for leakage-free splits (UCF101's gNN; the video name when there is none)."""


class SubsetSource:
    """A view of some videos of another source (train/val/test splits)."""

    def __init__(self, source: VideoSource, indices: Sequence[int]):
        self.source = source
        self.indices = list(indices)
        self.classes = source.classes

    def __len__(self) -> int:
        return len(self.indices)

    def num_frames(self, index: int) -> int:
        return self.source.num_frames(self.indices[index])

    def read(self, index: int, frames: Sequence[int] | np.ndarray) -> np.ndarray:
        return self.source.read(self.indices[index], frames)

    @property
    def jpeg(self) -> bool:
        return bool(getattr(self.source, "jpeg", False))

    def read_jpegs(self, index: int, frames: Sequence[int]):
        return cast(Any, self.source).read_jpegs(self.indices[index], frames)  # a JPEG store's (jpeg True)

    def label(self, index: int) -> int:
        return self.source.label(self.indices[index])

    def name(self, index: int) -> str:
        return self.source.name(self.indices[index])

    def group(self, index: int) -> str:
        return self.source.group(self.indices[index])


class InMemorySource:
    """Every frame of another source decoded once into memory (small data sets, synthetic demo).

    Worker processes forked from the main process share the array copy-on-write.
    """

    def __init__(self, source: VideoSource):
        self.source = source
        self.classes = source.classes
        self.frames = [source.read(i, range(source.num_frames(i))) for i in range(len(source))]

    def __len__(self) -> int:
        return len(self.frames)

    def num_frames(self, index: int) -> int:
        return len(self.frames[index])

    def read(self, index: int, frames: Sequence[int] | np.ndarray) -> np.ndarray:
        idx = np.asarray(frames)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self.frames[index])):
            raise VideoReadError(self.name(index), f"frame index out of range 0..{len(self.frames[index]) - 1}")
        return self.frames[index][idx]

    def label(self, index: int) -> int:
        return self.source.label(index)

    def name(self, index: int) -> str:
        return self.source.name(index)

    def group(self, index: int) -> str:
        return self.source.group(index)
