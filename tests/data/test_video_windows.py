"""Every window of a video read in one pass: the very clips the per-window path reads, each raw
file decoded once instead of once per window."""

from __future__ import annotations

import torch

from skipclip.data import ClipDataset, VideoFileSource, VideoWindows, load_index
from skipclip.data.sources import files

from video_factory import make_folder


def test_one_pass_gives_the_per_window_clips_and_decodes_each_file_once(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "v", per_class=2, frames=27)
    index = load_index(root)
    source = VideoFileSource(index.root, index.present(), index.classes, short_side=20)
    reference = ClipDataset(source, 8, 16, 20, train=False)  # the per-window path
    want: dict[int, list[torch.Tensor]] = {}
    for i in range(len(reference)):
        item = reference[i]
        want.setdefault(int(item["video"]), []).append(item["clip"])
    opened = []
    real_open = files._open
    monkeypatch.setattr(files, "_open", lambda path: opened.append(path) or real_open(path))
    monkeypatch.setattr(files, "decode_into", _counting(files.decode_into, opened))
    ds = VideoWindows(source, 8, 16, 20)
    for v in range(len(source)):
        item = ds[v]
        assert item["ok"] and item["starts"].tolist() == [0, 8, 16]  # 27 frames: three whole 8-frame windows
        assert torch.equal(item["clips"], torch.stack(want[v]))
    assert len(opened) == len(source)  # one decode per video; per window it was 3 seeks and decodes each


def _counting(fn, calls):
    def wrapped(path, *a, **k):
        calls.append(path)
        return fn(path, *a, **k)

    return wrapped


def test_an_unreadable_video_is_named_not_fatal(tmp_path):
    root = make_folder(tmp_path / "v", per_class=2, frames=16)
    bad = next(root.rglob("*.avi"))
    bad.write_bytes(b"not a video")
    index = load_index(root)
    source = VideoFileSource(index.root, index.present(), index.classes, short_side=20)
    items = [VideoWindows(source, 8, 16, 20)[v] for v in range(len(source))]
    failed = [i for i in items if not i["ok"]]
    assert len(failed) == 1 and list(failed[0]["failed"]) == [str(bad.relative_to(root))]
    assert failed[0]["clips"].shape == (0, 3, 8, 16, 16) and sum(i["ok"] for i in items) == len(items) - 1
