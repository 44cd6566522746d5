"""Decoding with PyAV: exact frame counts, frame order, odd and portrait sizes, variable frame rate."""

from __future__ import annotations

import numpy as np
import pytest

from skipclip.data.catalog.index import VideoEntry
from skipclip.data.sources.files import VideoFileSource
from skipclip.data.video.pyav import decode, probe, resized_size

from video_factory import frames_for, video


@pytest.mark.parametrize("name,codec", [("a.avi", "mpeg4"), ("b.mp4", "libx264"), ("c.mkv", "mpeg4")])
def test_decode_counts_and_orders_frames(tmp_path, name, codec):
    path = video(tmp_path / name, n=30, codec=codec)
    info, pts = probe(path)
    frames, info2 = decode(path)
    assert info.frames == info2.frames == len(frames) == len(pts) == 30
    assert frames.shape == (30, 48, 64, 3) and frames.dtype == np.uint8
    assert info.fps == pytest.approx(25, rel=0.01) and info2.fps == pytest.approx(25, rel=0.01)
    brightness = frames.reshape(30, -1).mean(1)
    assert np.all(np.diff(brightness) > 0)  # frame t is brighter than t-1: presentation order
    assert np.abs(frames.astype(int) - frames_for(30)).mean() < 6  # lossy, but the same picture


@pytest.mark.parametrize("h,w,short,want", [(47, 63, 32, (32, 43)), (64, 36, 32, (57, 32)), (48, 64, 128, (128, 171))])
def test_odd_and_portrait_sizes_keep_the_aspect_ratio(tmp_path, h, w, short, want):
    assert resized_size(h, w, short) == want
    frames, info = decode(video(tmp_path / "v.avi", n=5, h=h, w=w), short)
    assert frames.shape == (5, *want, 3) and (info.height, info.width) == (h, w)


def test_variable_frame_rate_counts_every_frame(tmp_path):
    times = np.cumsum([0.0] + [0.02, 0.1, 0.04] * 13)[:40]
    path = video(tmp_path / "vfr.mp4", n=40, codec="libx264", timestamps=times)
    info, pts = probe(path)
    frames, info2 = decode(path)
    assert info.frames == info2.frames == len(frames) == 40
    assert info.vfr and info2.vfr
    assert info2.duration == pytest.approx(times[-1] * 40 / 39, rel=0.05)
    # on-the-fly seeking lands on the same frames as a full decode
    src = VideoFileSource(tmp_path, [VideoEntry("vfr.mp4", -1, "vfr")], [])
    got = src.read(0, [37, 3, 20, 20])
    np.testing.assert_array_equal(got, frames[[37, 3, 20, 20]])


def test_on_the_fly_reads_exact_frames_after_seeking(tmp_path):
    path = video(tmp_path / "long.avi", n=120)  # several keyframes (gop 12)
    frames, _ = decode(path)
    src = VideoFileSource(tmp_path, [VideoEntry("long.avi", 0, "long")], ["x"])
    assert src.num_frames(0) == 120
    for idx in ([0, 1, 2], [119], [50, 60, 70, 55], [100, 5]):
        np.testing.assert_array_equal(src.read(0, idx), frames[idx])


def test_frames_are_scaled_on_the_calling_thread_only(tmp_path):
    """PyAV 17+ scales on one thread per CPU by default, threads that live as long as the frame's
    scaler; processes hung in their teardown. ``to_rgb`` (every decode path's scaling) starts none."""
    import os

    import av

    from skipclip.data.video.pyav import to_rgb

    path = video(tmp_path / "v.avi", n=4, h=48, w=64)
    with av.open(str(path)) as container:
        frame = next(container.decode(container.streams.video[0]))
    before = len(os.listdir("/proc/self/task"))
    rgb = to_rgb(frame, 24, 32)
    assert rgb.shape == (24, 32, 3) and rgb.dtype == np.uint8
    assert len(os.listdir("/proc/self/task")) == before  # the frame (and its scaler) still alive


class _FailingDecoder:
    """A container whose decoding stops with FFmpeg's "invalid data" at frame ``at`` (what FFmpeg
    short of memory for its threads says); ``on_one_thread``: on the one-thread try too."""

    def __init__(self, container, at: int):
        self.container, self.at = container, at

    def decode(self, stream):
        import av

        for i, frame in enumerate(self.container.decode(stream)):
            if i == self.at:
                raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input")
            yield frame

    def close(self):
        self.container.close()


@pytest.mark.parametrize("on_one_thread", [False, True])
def test_a_decode_that_stops_mid_video_gets_a_second_try_on_one_thread(tmp_path, monkeypatch, on_one_thread):
    """Stopped at frame 5 of 12 on threads and fine on one: all 12 frames, each handed over once.
    Stopped on one thread too: an incomplete file, the 5 frames handed over once."""
    from skipclip.data.sources.base import VideoReadError
    from skipclip.data.video import pyav

    path = video(tmp_path / "v.avi", n=12)
    real_open, tries = pyav._open, []

    def open_(p, threads):
        tries.append(threads)
        container, stream = real_open(p, threads)
        return (_FailingDecoder(container, 5) if threads or on_one_thread else container), stream

    monkeypatch.setattr(pyav, "_open", open_)
    got: list[np.ndarray] = []
    if on_one_thread:
        with pytest.raises(VideoReadError, match="only 5 are in the file"):
            pyav.decode_into(path, got.append)
    else:
        assert pyav.decode_into(path, got.append).frames == 12
    assert tries == [True, False]
    assert len(got) == (5 if on_one_thread else 12)
    levels = [float(f.mean()) for f in got]
    assert levels == sorted(levels) and len(set(levels)) == len(levels)  # frames 0, 1, 2, ... each once


def test_a_second_try_that_stops_sooner_blames_the_machine_not_the_video(tmp_path, monkeypatch):
    """Stopped at frame 5 on threads and at frame 2 on one thread: a damaged file would get at
    least as far on one thread, so the machine is blamed (prepare stops; no video is recorded)."""
    from skipclip.data.sources.base import MachineFaultError
    from skipclip.data.video import pyav

    path = video(tmp_path / "v.avi", n=12)
    real_open = pyav._open

    def open_(p, threads):
        container, stream = real_open(p, threads)
        return _FailingDecoder(container, 5 if threads else 2), stream

    monkeypatch.setattr(pyav, "_open", open_)
    got: list[np.ndarray] = []
    with pytest.raises(MachineFaultError, match="sooner on one thread"):
        pyav.decode_into(path, got.append)
    assert len(got) == 5
