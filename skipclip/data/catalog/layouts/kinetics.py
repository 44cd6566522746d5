"""Kinetics-400/600/700 as released: annotation CSVs (``label,youtube_id,time_start,time_end,split``;
``train.csv``, ``validate.csv``, ``test.csv``) and the videos as the common downloaders name them,
``<youtube_id>_<start:06d>_<end:06d>.mp4`` or ``<youtube_id>.mp4``, in class folders or flat,
anywhere under the root. The validation CSV is the test split (as Kinetics is evaluated);
validation is carved from the training CSV; a test CSV is read as unused (its labels were held
back in most releases). Clips no longer on YouTube are listed-but-missing, as with every copy."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from skipclip.data.catalog.index import MAX_LIST, SplitError, VideoEntry, list_videos
from skipclip.data.catalog.layouts.base import Layout, ParsedLayout, ReadOptions
from skipclip.errors import InvalidInputError
from skipclip.utils.safe_read import read_regular

COLUMNS = ("youtube_id", "time_start", "time_end")
CLASS_COUNTS = (400, 600, 700)


def _text(path: Path) -> io.StringIO:
    """An annotation CSV as text: a regular file of at most ``MAX_LIST`` bytes, UTF-8.

    Raises:
        SplitError: a FIFO, device or folder in its place, or a file too large or unreadable.
        ValueError: not UTF-8.
    """
    try:
        raw = read_regular(path, "Kinetics annotation CSV", MAX_LIST)
    except InvalidInputError as exc:
        raise SplitError(str(exc)) from None
    except OSError as exc:
        raise SplitError(f"{path} cannot be read ({exc.strerror or exc})") from None
    return io.StringIO(raw.decode("utf-8-sig"), newline="")


def _header(path: Path) -> list[str]:
    try:
        return [h.strip() for h in next(csv.reader(_text(path)), [])]
    except SplitError:
        raise
    except (csv.Error, ValueError):  # not a CSV (NUL bytes, a huge field, not UTF-8): not an annotation file
        return []


def find(root: Path) -> dict[str, Path] | None:
    """The annotation CSVs of ``root`` (or ``root/annotations``) by split; ``None`` when none."""
    out: dict[str, Path] = {}
    for where in (root, root / "annotations"):
        for f in sorted(where.glob("*.csv")) if where.is_dir() else []:
            if not set(COLUMNS) <= set(_header(f)):
                continue
            low = f.name.lower()
            role = "test" if "test" in low else "val" if "val" in low else "train" if "train" in low else None
            if role is not None:
                out.setdefault(role, f)
    return out if "train" in out else None


def _seconds(value: str, where: str) -> int:
    try:
        seconds = int(float(value))
    except (TypeError, ValueError, OverflowError):
        seconds = -1
    if not 0 <= seconds < 10**6:  # 11 days: YouTube clips are shorter
        raise SplitError(f"{where}: time {str(value)[:20]!r} is not a number of seconds") from None
    return seconds


def _csv_rows(csvs: dict[str, Path]) -> dict[str, list[tuple[int, dict]]]:
    """The non-blank rows of each split's CSV with their line numbers.

    Raises:
        SplitError: a CSV that cannot be read, or one with a header but no rows.
    """
    rows: dict[str, list[tuple[int, dict]]] = {}
    for role, f in csvs.items():
        try:
            rows[role] = [
                (n, r)
                for n, r in enumerate(csv.DictReader(_text(f)), 2)
                if any(isinstance(v, str) and v.strip() for v in r.values())
            ]
        except SplitError:
            raise
        except (csv.Error, ValueError) as exc:
            raise SplitError(f"{f} is not a readable CSV ({str(exc)[:100]}); re-download the annotations") from None
        if not rows[role]:
            raise SplitError(f"{f} has a header but no clips: the {role} split is empty; re-download the annotations")
    return rows


def parse(root: str | Path, csvs: dict[str, Path] | None = None) -> tuple[list[str], list[VideoEntry], dict[str, str]]:
    """Entries of every annotation CSV; classes are the training CSV's labels, sorted.

    Raises:
        SplitError: naming the file and row: a CSV without a header or rows, a youtube id that is
            not a plain name, a clip listed twice, a label the training CSV does not have.
    """
    root = Path(root)
    csvs = find(root) if csvs is None else csvs
    if not csvs:
        raise SplitError(f"{root} holds no Kinetics annotation CSV (train.csv with label,youtube_id,time_start,...)")
    files: dict[str, list[str]] = {}
    for p in list_videos(root):
        files.setdefault(Path(p).stem, []).append(p)
    rows = _csv_rows(csvs)
    classes = sorted({(r.get("label") or "").strip() for _, r in rows["train"]})
    if "" in classes:
        raise SplitError(f"{csvs['train']}: some rows have no label; the training CSV must label every clip")
    label_of = {c: i for i, c in enumerate(classes)}
    entries, listed_in, seen = [], {}, {}
    for role, found in rows.items():
        f = csvs[role]
        for n, r in found:
            where = f"{f} row {n}"
            yid = (r.get("youtube_id") or "").strip()
            if not yid or "/" in yid or "\\" in yid or yid.startswith("."):
                raise SplitError(f"{where}: youtube id {yid!r} is not a plain name (it would point outside the root)")
            stem = f"{yid}_{_seconds(r['time_start'], where):06d}_{_seconds(r['time_end'], where):06d}"
            if stem in seen:
                raise SplitError(f"{where}: clip {stem} is listed twice (first at {seen[stem]}); keep one row")
            seen[stem] = where
            label = (r.get("label") or "").strip()
            if role == "test" and (not label or label not in label_of):
                lab, fold_role = -1, "unused"
            elif label not in label_of:
                raise SplitError(
                    f"{where}: unknown label {label!r}, not among the training CSV's "
                    f"{len(classes)} classes; the CSVs come from different releases"
                )
            else:
                lab, fold_role = label_of[label], {"val": "test", "test": "unused"}.get(role, role)
            hits = files.get(stem) or files.get(yid) or []
            if len(hits) > 1:
                named = [h for h in hits if label and (label in h or label.replace(" ", "_") in h)]
                if len(named) != 1:
                    raise SplitError(f"{where}: clip {stem} matches several files ({', '.join(hits[:3])}); keep one")
                hits = named
            path = hits[0] if hits else f"{stem}.mp4"
            entries.append(VideoEntry(path, lab, yid, {1: fold_role}))
            listed_in[path] = f.name
    return classes, entries, listed_in


def _read(root: Path, options: ReadOptions) -> ParsedLayout:
    classes, entries, listed_in = parse(root)
    return ParsedLayout(classes, entries, listed_in=listed_in)


LAYOUT = Layout("kinetics", _read, find)
