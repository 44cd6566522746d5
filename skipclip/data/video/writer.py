"""Writing videos with PyAV (MPEG-4 by default, as UCF101 ships): the synthetic UCF101 layout and
the tests' tiny clips. Reading is :mod:`skipclip.data.video.pyav`."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from skipclip.errors import InvalidInputError


def write_video(
    path: str | os.PathLike,
    frames: np.ndarray,
    fps: float = 25,
    codec: str | None = None,
    timestamps: np.ndarray | None = None,
    options: dict[str, str] | None = None,
) -> None:
    """Write ``(T, H, W, 3)`` uint8 frames to a video file, under a temporary name then renamed, so
    a killed writer never leaves a half file under the real name.

    Args:
        path: ``.avi`` (MPEG-4 part 2, as UCF101 ships) or ``.mp4``/``.mkv``.
        frames: RGB frames.
        fps: nominal frame rate.
        codec: FFmpeg encoder; defaults to ``mpeg4`` (handles odd frame sizes).
        timestamps: optional per-frame times in seconds, for variable-frame-rate files.
        options: encoder options (``{"qscale": "2"}``: near-lossless MPEG-4).

    Raises:
        ValueError: frames that are not ``(T, H, W, 3)`` uint8.
    """

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise InvalidInputError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        with av.open(str(tmp), "w") as container:
            stream = container.add_stream(codec or "mpeg4", rate=Fraction(fps).limit_denominator(1000))
            stream.height, stream.width = frames.shape[1:3]
            stream.pix_fmt = "yuv420p"
            if options:
                stream.options = dict(options)
            if timestamps is not None:
                stream.codec_context.time_base = Fraction(1, 1000)
            for i, image in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                if timestamps is not None:
                    frame.pts = int(round(timestamps[i] * 1000))
                    frame.time_base = Fraction(1, 1000)
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
