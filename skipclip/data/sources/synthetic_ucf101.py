"""The synthetic data set written as files, in the UCF101 layout (``skipclip synth``)."""

from __future__ import annotations

from pathlib import Path

from skipclip.data.video.writer import write_video
from skipclip.errors import OutputExistsError
from skipclip.utils.io import atomic_write_text
from skipclip.utils.progress import track


def write_synthetic_ucf101(
    source, out: str | Path, test_fraction: float = 0.3, progress: bool = True, force: bool = False
) -> dict:
    """Write a :class:`~skipclip.data.sources.synthetic.SyntheticSource` as UCF101 does its files.

    ``out/UCF-101/<Class>/v_<Class>_gNN_cMM.avi`` and ``out/ucfTrainTestlist/`` with ``classInd.txt``,
    ``trainlist01.txt`` (path and 1-based label) and ``testlist01.txt`` (path only). Groups
    (gNN) never straddle train and test. Returns counts.

    Raises:
        FileExistsError: ``out`` already holds ``UCF-101/`` or ``ucfTrainTestlist/`` (a real data
            set's videos and split lists would be overwritten) and ``force`` is not given.
    """

    out = Path(out)
    videos, splits = out / "UCF-101", out / "ucfTrainTestlist"
    present = [p.name for p in (videos, splits) if p.exists()]
    if present and not force:
        raise OutputExistsError(
            f"{out} already holds {' and '.join(present)}; writing the synthetic set there would "
            "overwrite its videos and split lists. Choose another --out, or pass --force"
        )
    splits.mkdir(parents=True, exist_ok=True)
    classes = source.classes
    atomic_write_text(splits / "classInd.txt", "".join(f"{i + 1} {c}\n" for i, c in enumerate(classes)))
    groups = sorted({source.name(i).split("_g")[1][:2] for i in range(len(source))})
    n_test_groups = max(1, round(len(groups) * test_fraction))
    test_groups = set(groups[-n_test_groups:])
    train_lines, test_lines = [], []
    for i in track(range(len(source)), len(source), "synth: writing", "videos", enabled=progress):
        rel = source.name(i) + ".avi"
        write_video(videos / rel, source.read(i, range(source.num_frames(i))), options={"qscale": "2"})
        if rel.split("_g")[1][:2] in test_groups:
            test_lines.append(f"{rel}\n")
        else:
            train_lines.append(f"{rel} {source.label(i) + 1}\n")
    atomic_write_text(splits / "trainlist01.txt", "".join(train_lines))
    atomic_write_text(splits / "testlist01.txt", "".join(test_lines))
    return {"videos": len(source), "train": len(train_lines), "test": len(test_lines), "classes": len(classes)}
