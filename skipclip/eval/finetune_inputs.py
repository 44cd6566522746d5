"""What fine-tuning refuses before any work: splits that would make the numbers meaningless
(empty, unlabelled, of other classes) and test videos shorter than one window."""

from __future__ import annotations

from skipclip.data import VideoReadError
from skipclip.errors import InvalidInputError


def check_sources(train, val, test, clip_frames: int) -> None:
    """Refuse inputs that would make the numbers meaningless, before any work.

    Raises:
        ValueError: an empty or unlabelled split, splits with different classes, or a test video
            shorter than one window (naming the videos and the fix).
    """
    for name, src in (("train", train), ("val", val), ("test", test)):
        if src is None:
            continue
        if len(src) == 0:
            raise InvalidInputError(f"the {name} split has no videos")
        if len(src.classes) < 2:
            raise InvalidInputError(
                f"the {name} split has {len(src.classes)} classes; action recognition needs "
                "labelled videos of at least 2 classes (class subfolders or split files)"
            )
        if list(src.classes) != list(train.classes):
            raise InvalidInputError(
                f"the {name} split's classes differ from the training split's "
                f"({len(src.classes)} vs {len(train.classes)}); use one data set for all splits"
            )
        unlabelled = [src.name(i) for i in range(len(src)) if src.label(i) < 0]
        if unlabelled:
            raise InvalidInputError(f"{len(unlabelled)} {name} videos have no label, e.g. {unlabelled[0]}")
    short = [(test.name(i), n) for i, n in enumerate(_frame_counts(test)) if n is not None and n < clip_frames]
    if short:
        listed = ", ".join(f"{n} ({f} frames)" for n, f in short[:5])
        raise InvalidInputError(
            f"{len(short)} test videos are shorter than one {clip_frames}-frame window: {listed}"
            f"{' ...' if len(short) > 5 else ''}; every test video must be scored, so lower "
            "finetune.clip_frames (e.g. --clip-frames) or remove those videos from the test list"
        )


def _frame_counts(src) -> list[int | None]:
    """Frames per video; ``None`` for a video that cannot be read (skipped and reported later)."""

    counts = []
    for i in range(len(src)):
        try:
            counts.append(src.num_frames(i))
        except VideoReadError:
            counts.append(None)
    return counts
