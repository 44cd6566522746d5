"""Tiny video data sets written with PyAV into a temporary folder: UCF101, HMDB51 and folder layouts.

Each frame carries its index (frame t is filled with a level that grows with t), so tests can
check that the right frames come back.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from skipclip.data.video.writer import write_video

REAL_CLIPS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real-clips"

UCF_CLASSES = ["ApplyEyeMakeup", "Basketball", "YoYo"]
HMDB_CLASSES = ["brush_hair", "cartwheel"]


def frames_for(n: int = 40, h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    """``(n, h, w, 3)`` frames: a smooth pattern whose brightness encodes the frame index."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = ((xx * 2 + yy + seed * 7) % 64).astype(np.int32)
    levels = np.linspace(20, 200, n).astype(np.int32)
    out = np.clip(base[None, :, :, None] + levels[:, None, None, None], 0, 255).astype(np.uint8)
    return np.repeat(out, 3, axis=3)


def video(path: Path, n: int = 40, h: int = 48, w: int = 64, seed: int = 0, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, frames_for(n, h, w, seed), **kwargs)
    return path


def make_ucf101(root: Path, groups: int = 4, test_groups: int = 2, frames: int = 40) -> Path:
    """``root/UCF-101/<Class>/v_<Class>_gNN_c01.avi`` and ``root/ucfTrainTestlist/`` (fold 1 only)."""
    videos, lists = root / "UCF-101", root / "ucfTrainTestlist"
    lists.mkdir(parents=True, exist_ok=True)
    (lists / "classInd.txt").write_text("".join(f"{i + 1} {c}\r\n" for i, c in enumerate(UCF_CLASSES)))
    train, test = [], []
    for label, cls in enumerate(UCF_CLASSES):
        for g in range(1, groups + 1):
            for c in (1, 2):
                rel = f"{cls}/v_{cls}_g{g:02d}_c{c:02d}.avi"
                video(videos / rel, n=frames, seed=label * 10 + g)
                (test if g <= test_groups else train).append((rel, label + 1))
    (lists / "trainlist01.txt").write_text("".join(f"{p} {lab}\r\n" for p, lab in train))
    (lists / "testlist01.txt").write_text("".join(f"{p}\r\n" for p, _ in test))
    return root


def make_hmdb51(root: Path, films: int = 4, frames: int = 40) -> Path:
    """``root/<class>/<film>_<class>_..._<k>.avi`` and ``root/testTrainMulti_7030_splits/``."""
    lists = root / "testTrainMulti_7030_splits"
    lists.mkdir(parents=True, exist_ok=True)
    for cls in HMDB_CLASSES:
        rows = {1: [], 2: [], 3: []}
        for f in range(films):
            for k in range(2):
                name = f"Film{f}_{cls}_f_cm_np1_ri_med_{k}.avi"
                video(root / cls / name, n=frames, seed=f)
                for fold in rows:
                    role = 2 if f == (fold - 1) % films else (0 if f == fold % films and k == 1 else 1)
                    rows[fold].append(f"{name} {role} \n")
        for fold, lines in rows.items():
            (lists / f"{cls}_test_split{fold}.txt").write_text("".join(lines))
    return root


def make_folder(root: Path, classes: tuple[str, ...] = ("cats", "dogs"), per_class: int = 3, frames: int = 40) -> Path:
    for c in classes:
        for i in range(per_class):
            video(root / c / f"{c}_{i}.avi", n=frames, seed=i)
    return root


def touch(path: Path) -> Path:
    """An empty file with a video's name: enough for layout parsing, which never decodes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def make_splitdirs(root: Path, classes=("jump", "run", "walk"), per_split=None, make=touch) -> Path:
    """``root/<split>/<class>/<class>_<split>_<i>.mp4``; ``per_split`` maps split -> videos per class."""
    for split, n in (per_split or {"train": 4, "val": 2}).items():
        for c in classes:
            for i in range(n):
                make(root / split / c / f"{c}_{split}_{i}.mp4")
    return root
