"""Decoding the real KTH clips in ../shared/data/real-clips (skipped when that folder is absent)."""

from __future__ import annotations

import numpy as np
import pytest

from skipclip.data.catalog.layouts import load_index
from skipclip.data.sources.files import VideoFileSource
from skipclip.data.video.pyav import decode, probe

from video_factory import REAL_CLIPS

KTH = REAL_CLIPS / "kth"
FRAMES = {  # from real-clips/README.md
    "person01_boxing_d2_uncomp.mp4": 390,
    "person03_boxing_d4_uncomp.mp4": 512,
    "person04_boxing_d1_uncomp.mp4": 328,
    "person01_handclapping_d1_uncomp.mp4": 378,
    "person01_handclapping_d2_uncomp.avi": 550,
    "person01_jogging_d1_uncomp.avi": 415,
}

pytestmark = pytest.mark.skipif(not KTH.is_dir(), reason=f"real KTH clips not found at {KTH} (../shared is absent)")


@pytest.mark.parametrize("name", sorted(FRAMES))
def test_probe_counts_the_documented_frames(name):
    info, pts = probe(KTH / name)
    assert info.frames == FRAMES[name] == len(pts)
    assert (info.height, info.width) == (120, 160) and info.fps == pytest.approx(25, rel=0.01)


def test_decode_and_seek_agree_on_a_real_clip():
    name = "person01_jogging_d1_uncomp.avi"
    frames, info = decode(KTH / name, short_side=128)
    assert frames.shape == (FRAMES[name], 128, 171, 3) and not info.vfr
    index = load_index(KTH)
    assert index.layout == "folder" and len(index.entries) == len(FRAMES)
    src = VideoFileSource(KTH, [e for e in index.entries if e.path == name], [], short_side=128)
    for idx in ([400, 3], [414], [200, 201, 240]):
        np.testing.assert_array_equal(src.read(0, idx), frames[idx])
