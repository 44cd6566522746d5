"""Reading source video files on the fly, for users who do not prepare a store.

Frames are found the way torchvision's ``read_video`` (used by its video-classification reference
scripts) finds them: seek to the keyframe at or before the first wanted frame's timestamp, then
decode forward to the last wanted frame. Frame ``i`` is the i-th timestamp in presentation order
(learnt once per video by demuxing, see :func:`skipclip.data.video.pyav.probe`), which stays exact
for variable-frame-rate footage.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import av
import numpy as np

from skipclip.data.catalog.index import VideoEntry
from skipclip.data.sources.base import VideoReadError, machine_fault
from skipclip.data.video.pyav import _open, check_source_size, decode_into, probe, resized_size, to_rgb


class VideoFileSource:
    """A :class:`~skipclip.data.sources.base.VideoSource` that decodes the video files on every read.

    Args:
        root: the video root; entry paths are relative to it.
        entries: the videos (from :func:`skipclip.data.catalog.layouts.load_index` and ``select``).
        classes: class names, index = label.
        short_side: resize at decoding time (FFmpeg's scaler); None returns the source size.
    """

    def __init__(
        self, root: str | Path, entries: Sequence[VideoEntry], classes: Sequence[str], short_side: int | None = None
    ):
        self.root = Path(root)
        self.entries = list(entries)
        self.classes = list(classes)
        self.short_side = short_side
        self._timestamps: dict[int, np.ndarray] = {}  # index -> sorted pts (a few KB per video)
        self._counts: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def path(self, index: int) -> Path:
        return self.root / self.entries[index].path

    def _probe(self, index: int) -> None:
        info, pts = probe(self.path(index))
        self._counts[index] = info.frames
        self._timestamps[index] = pts

    def num_frames(self, index: int) -> int:
        if index not in self._counts:
            self._probe(index)
        return self._counts[index]

    def read(self, index: int, frames: Sequence[int]) -> np.ndarray:
        n = self.num_frames(index)
        idx = np.asarray(frames, dtype=np.int64)
        if idx.size == 0:
            raise VideoReadError(str(self.path(index)), "no frame indices requested")
        if idx.min() < 0 or idx.max() >= n:
            raise VideoReadError(str(self.path(index)), f"frame index out of range [0, {n})")
        unique, inverse = np.unique(idx, return_inverse=True)
        pts = self._timestamps[index]
        try:
            got = self._decode(index, unique, pts if len(pts) == n else None)
            if got is None:  # timestamps did not line up after the seek: decode from the start
                got = self._decode(index, unique, None)
        except (av.error.FFmpegError, MemoryError) as exc:
            fault = machine_fault(str(self.path(index)), exc)  # the machine's, not the video's
            if fault is not None:
                raise fault from exc
            raise VideoReadError(str(self.path(index)), f"decoding failed: {exc.strerror or exc}") from exc
        if len(got) < len(unique):
            raise VideoReadError(
                str(self.path(index)),
                f"only {len(got)} of {len(unique)} wanted frames decode; the file is damaged, re-copy it",
            )
        return np.stack([got[int(i)] for i in unique])[inverse.reshape(-1)]

    def _decode(self, index: int, wanted: np.ndarray, pts: np.ndarray | None) -> dict[int, np.ndarray] | None:
        container, stream = _open(self.path(index))
        wanted_set = set(int(i) for i in wanted)
        last = int(wanted[-1])
        out: dict[int, np.ndarray] = {}
        try:
            if pts is not None:
                container.seek(int(pts[wanted[0]]), backward=True, any_frame=False, stream=stream)
            k = -1
            for frame in container.decode(stream):
                if pts is not None:
                    if frame.pts is None:
                        return None
                    k = int(np.searchsorted(pts, frame.pts))
                    if k >= len(pts) or pts[k] != frame.pts:
                        return None
                else:
                    k += 1
                if k in wanted_set:
                    check_source_size(self.path(index), frame.height, frame.width)
                    h, w = resized_size(frame.height, frame.width, self.short_side)
                    out[k] = to_rgb(frame, h, w)  # as prepare does
                if k >= last:
                    break
        finally:
            container.close()
        if pts is not None and len(out) < len(wanted_set):
            return None
        return out

    def stream(self, index: int, sink: Callable[[np.ndarray], None]) -> None:
        """Hand every frame of video ``index`` to ``sink``, in order, decoded once from the start
        (the frames :meth:`read` returns, at ``short_side``): for reading a whole video.

        Raises:
            VideoReadError: see :func:`~skipclip.data.video.pyav.decode_into`.
        """
        decode_into(self.path(index), sink, self.short_side)

    def label(self, index: int) -> int:
        return self.entries[index].label

    def name(self, index: int) -> str:
        return self.entries[index].path

    def group(self, index: int) -> str:
        return self.entries[index].group
