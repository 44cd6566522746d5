"""Reading and writing video files with PyAV, with a clear error for every kind of bad file.

Frame counts come from decoding (``decode``) or from demuxing (``probe``): container metadata
(``stream.frames``) is 0 for many AVI/MKV files and wrong for some, so it is never trusted. Frames
are returned in presentation order, which is also what makes variable-frame-rate footage safe:
frame ``i`` is the i-th frame shown, whatever the gaps between timestamps.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from skipclip.data.sources.base import MachineFaultError, VideoReadError, machine_fault

# the largest source frames decoded: 8K (DCI 8192 x 4320); bigger videos are skipped as unreadable
MAX_SOURCE_SIDE = 8192
MAX_SOURCE_PIXELS = 8192 * 4320
# PyAV 17 and later scale frames on one thread per CPU by default (FFmpeg's swscale slice threads).
# Processes hung for good in their teardown (a loader worker joining a thread id its own decoder
# threads had taken over; its parent in the same call). A frame here is scaled down once, small:
# one thread, no slice threads at all, and faster at these sizes.
_SCALE_ON_ONE_THREAD = {"threads": 1} if int(av.__version__.split(".")[0]) >= 17 else {}


def to_rgb(frame, height: int, width: int) -> np.ndarray:
    """``frame`` scaled to ``height`` x ``width`` (area averaging) as ``(H, W, 3)`` uint8 RGB, on
    the calling thread only."""
    return frame.reformat(
        width=width, height=height, format="rgb24", interpolation="AREA", **_SCALE_ON_ONE_THREAD
    ).to_ndarray()


VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp")


@dataclass(frozen=True)
class VideoInfo:
    """What ``probe`` and ``decode`` learn about a video. ``height``/``width`` are the source's."""

    frames: int
    fps: float
    height: int
    width: int
    duration: float  # seconds
    vfr: bool = False  # timestamps not evenly spaced (variable frame rate)


def is_video_file(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def resized_size(height: int, width: int, short_side: int | None) -> tuple[int, int]:
    """``(H, W)`` with the short side scaled to ``short_side`` and the aspect ratio kept."""
    if short_side is None:
        return height, width
    scale = short_side / min(height, width)
    return max(short_side, round(height * scale)), max(short_side, round(width * scale))


def check_source_size(path, height: int, width: int) -> None:
    """Refuse source frames over :data:`MAX_SOURCE_SIDE` / :data:`MAX_SOURCE_PIXELS` before any is
    decoded or converted (one 10000 x 10000 RGB frame is 300 MB).

    Raises:
        VideoReadError: the frames are too large (the video is skipped and reported).
    """
    if max(height, width) > MAX_SOURCE_SIDE or height * width > MAX_SOURCE_PIXELS:
        raise VideoReadError(
            str(path),
            f"frames of {width}x{height} are larger than skipclip reads "
            f"({MAX_SOURCE_SIDE} px a side, {MAX_SOURCE_PIXELS} pixels); downscale the video first, "
            "e.g. ffmpeg -i IN -vf scale=-2:720 OUT",
        )


def _open(path: str | os.PathLike, threads: bool = True):
    """Open ``path`` and return (container, video stream), or raise a VideoReadError saying why."""

    path = str(path)
    if not os.path.exists(path):
        raise VideoReadError(path, "file not found; check the path or re-copy the data set")
    if os.path.getsize(path) == 0:
        raise VideoReadError(path, "empty file (0 bytes); the copy is incomplete, re-copy it")
    if not os.path.isfile(path):  # a FIFO would make FFmpeg wait for a writer for ever
        raise VideoReadError(path, "not a regular file (a FIFO, device or folder); replace it with the video")
    try:
        container = av.open(path)
    except (av.error.FFmpegError, MemoryError) as exc:
        _raise_machine_fault(path, exc)
        raise VideoReadError(
            path,
            f"not a video FFmpeg can read ({exc.strerror or exc}); the file is corrupt or not "
            "really a video despite its extension, re-copy or delete it",
        ) from exc
    if not container.streams.video:
        container.close()
        raise VideoReadError(path, "has no video stream (audio only or not a video); delete it or move it out")
    stream = container.streams.video[0]
    try:
        check_source_size(path, stream.codec_context.height or 0, stream.codec_context.width or 0)
    except VideoReadError:
        container.close()
        raise
    if threads:
        stream.thread_type = "AUTO"
    else:
        stream.codec_context.thread_count = 1
    return container, stream


def _raise_machine_fault(path, exc: BaseException) -> None:
    """Raise :class:`~skipclip.data.sources.base.MachineFaultError` when ``exc`` is the machine
    running out of memory, threads or file descriptors rather than a fault of the video."""
    fault = machine_fault(str(path), exc)
    if fault is not None:
        raise fault from exc


def _check_truncated(path, found: int, promised: int) -> None:
    """Headers that promise many more frames than the file holds mean an incomplete copy."""
    if promised > 0 and found < promised - max(2, promised // 100):
        raise VideoReadError(
            str(path),
            f"truncated: the header promises {promised} frames but only {found} are in the "
            "file (an incomplete copy); re-copy it",
        )


def probe(path: str | os.PathLike) -> tuple[VideoInfo, np.ndarray]:
    """Count frames by demuxing (no decoding) and return the sorted presentation timestamps.

    Fast (milliseconds per clip) and exact for every codec that puts one frame in each packet,
    which covers the formats of UCF101, HMDB51 and phone footage.

    Returns:
        the video's info and the ``(frames,)`` int64 presentation timestamps in stream time base
        (empty when the container gives none, e.g. some raw AVI streams).

    Raises:
        VideoReadError: missing, empty, not a video, no video stream, or no frames.
    """

    container, stream = _open(path)
    pts: list[int] = []
    count = 0
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue  # flush packet
            count += 1
            if packet.pts is not None:
                pts.append(packet.pts)
    except (av.error.FFmpegError, MemoryError) as exc:
        _raise_machine_fault(path, exc)
        if count == 0:
            raise VideoReadError(str(path), f"corrupt video: {exc.strerror or exc}; re-copy it") from exc
    finally:
        height, width = stream.codec_context.height, stream.codec_context.width
        tb = float(stream.time_base) if stream.time_base else 0.0
        promised = stream.frames
        container.close()
    if count == 0:
        raise VideoReadError(str(path), "the video stream has no frames; delete the file or re-copy it")
    _check_truncated(path, count, promised)
    if height <= 0 or width <= 0:
        raise VideoReadError(str(path), f"invalid frame size {width}x{height}; the file is corrupt, re-copy it")
    times = np.sort(np.asarray(pts, dtype=np.int64)) if len(pts) == count else np.zeros(0, np.int64)
    duration = float(times[-1] - times[0]) * tb * count / max(count - 1, 1) if len(times) > 1 and tb else 0.0
    fps = count / duration if duration > 0 else 0.0
    return VideoInfo(count, fps, height, width, duration, vfr=_is_vfr(times)), times


def _is_vfr(times: np.ndarray) -> bool:
    if len(times) < 3:
        return False
    steps = np.diff(times)
    return bool(steps.max() > 1.5 * max(np.median(steps), 1))


def decode(path: str | os.PathLike, short_side: int | None = None) -> tuple[np.ndarray, VideoInfo]:
    """Decode every frame of a video, in presentation order, resized so the short side is ``short_side``.

    Holds the whole video in memory; :func:`decode_into` hands frames over one at a time.

    Args:
        path: the video file.
        short_side: target short side in pixels (aspect ratio kept; portrait works); ``None`` keeps
            the source size.

    Returns:
        ``(T, H, W, 3)`` uint8 RGB frames and the video's info (source size, exact frame count).

    Raises:
        VideoReadError: missing, empty, not a video, corrupt, truncated before the first frame, or
            frames of changing size.
    """
    frames: list[np.ndarray] = []
    info = decode_into(path, frames.append, short_side)
    return np.stack(frames), info


class _StoppedSooner(VideoReadError):
    """A second try of :func:`decode_into` that decoded fewer frames than the first."""


def decode_into(
    path: str | os.PathLike,
    sink: Callable[[np.ndarray], None],
    short_side: int | None = None,
    threads: bool = True,
    delivered: int = 0,
) -> VideoInfo:
    """Decode every frame of a video in presentation order and hand each ``(H, W, 3)`` uint8 RGB
    frame to ``sink`` as soon as it is decoded: memory stays one frame, whatever the length.

    A decode that fails is tried again on one thread before the video is called corrupt or
    truncated (FFmpeg short of memory for its threads says "invalid data", at the first frame or
    later); ``delivered``: the frames the first try already handed to ``sink``, not handed again.

    Returns:
        the video's info (source size, exact frame count).

    Raises:
        VideoReadError: see :func:`decode`.
    """

    container, stream = _open(path, threads)
    n, retry = 0, False
    times: list[float] = []
    src_hw = None
    try:
        for frame in container.decode(stream):
            if src_hw is None:
                check_source_size(path, frame.height, frame.width)  # the container may not have said
                src_hw = (frame.height, frame.width)
                h, w = resized_size(frame.height, frame.width, short_side)
            elif (frame.height, frame.width) != src_hw:
                raise VideoReadError(
                    str(path),
                    f"frame size changes mid-video ({src_hw[1]}x{src_hw[0]} -> "
                    f"{frame.width}x{frame.height}); re-encode it at one size",
                )
            if n >= delivered:
                sink(to_rgb(frame, h, w))
            n += 1
            if frame.time is not None:
                times.append(frame.time)
    except (av.error.FFmpegError, MemoryError) as exc:
        _raise_machine_fault(path, exc)  # never taken for a truncated tail: the frames would be lost
        if not max(n, delivered) and not threads:
            raise VideoReadError(
                str(path), f"corrupt video, no frame decodes ({exc.strerror or exc}); re-copy it"
            ) from exc
        retry = threads  # a second opinion, on one thread: FFmpeg short of memory for its threads says "invalid data"
        # on one thread, a truncated tail: keep what decoded, the count below is the exact number kept
    finally:
        rate = stream.average_rate or stream.guessed_rate
        promised = stream.frames
        container.close()
    if retry:
        try:
            return decode_into(path, sink, short_side, threads=False, delivered=n)
        except _StoppedSooner as sooner:
            # the same bytes decoded one frame at a time should get at least as far as on threads:
            # stopping sooner is the machine (memory short for the decoder), not the file
            raise MachineFaultError(
                f"{path}: decoding stopped after {n} frames on FFmpeg's threads and sooner on one "
                f"thread ({sooner.reason}), which a damaged "
                "file does not do; the machine is likely out of memory, so the video is not recorded "
                "as unreadable. Free memory or use fewer workers (--num-workers), then run the same "
                "command again"
            ) from sooner
    elif n < delivered:
        raise _StoppedSooner(str(path), f"the second try stopped after {n} frames, the first after {delivered}")
    if not n:
        raise VideoReadError(str(path), "the video stream has no decodable frames; delete it or re-copy it")
    _check_truncated(path, n, promised)
    t = np.asarray(times) if len(times) == n else np.zeros(0)
    duration = float(t[-1] - t[0]) * n / max(n - 1, 1) if len(t) > 1 else 0.0
    fps = n / duration if duration > 0 else (float(rate) if rate else 0.0)
    vfr = _is_vfr(np.round(t * 1e6).astype(np.int64)) if len(t) else False
    return VideoInfo(n, fps, src_hw[0], src_hw[1], duration if duration > 0 else (n / fps if fps else 0.0), vfr)
