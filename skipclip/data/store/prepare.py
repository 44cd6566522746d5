"""``skipclip prepare``: decode every listed video once, in parallel, into a prepared store.

Resumable: each shard is written to a temporary file and renamed when complete, and the manifest
is rewritten (atomically) every few seconds, so a killed run loses at most the videos in flight;
a second run skips every complete shard made from the same video. Bad videos are listed with their
reasons and skipped.

What a store already holds is not replaced behind the user's back: the manifest records the
source folder and each video's size and modification time; a video whose file changed is decoded
again, and a store of another folder is refused unless ``force``. ``OUT/splits/`` is replaced as a
set, and only where skipclip wrote it (unless ``force``). A full disk stops the run with
:class:`~skipclip.data.store.pool.DiskFullError`, naming the path.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from skipclip.data.catalog.doctor import wrap_names
from skipclip.data.catalog.index import MAX_LIST
from skipclip.data.catalog.layouts import load_index
from skipclip.data.catalog.paths import contained, printable
from skipclip.data.sources.base import MachineFaultError
from skipclip.data.store.pool import DIED, disk_full, prepare_one, run_pool
from skipclip.data.store.prepared import (
    CODECS,
    MANIFEST,
    check_shard,
    load_manifest,
    save_manifest,
    shard_name,
)
from skipclip.data.store.shard import remove_stale
from skipclip.errors import InvalidInputError, OutputExistsError
from skipclip.utils.io import replace_folder
from skipclip.utils.progress import Progress
from skipclip.utils.safe_read import read_regular

log = logging.getLogger(__name__)


@dataclass
class PrepareReport:
    """What a prepare run did. ``ok`` is False when no usable video is left."""

    out: Path
    layout: str
    prepared: int = 0  # decoded in this run
    skipped: int = 0  # already in the store
    failed: dict[str, str] = field(default_factory=dict)  # name -> reason (unreadable)
    missing: dict[str, list[str]] = field(default_factory=dict)  # list file -> listed videos not found
    unlisted: list[str] = field(default_factory=list)
    split_files: list[str] = field(default_factory=list)
    videos: int = 0  # usable videos in the store
    frames: int = 0
    hours: float = 0.0
    bytes: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.videos > 0

    @property
    def gb_per_hour(self) -> float:
        return self.bytes / 1e9 / self.hours if self.hours else 0.0

    def summary(self, max_list: int = 20) -> str:
        lines = [
            f"store {self.out} ({self.layout}): {self.videos} videos, {self.frames} frames, "
            f"{self.hours * 60:.1f} min of video",
            f"  this run: {self.prepared} decoded, {self.skipped} already done, {len(self.failed)} failed, "
            f"{self.seconds:.1f} s",
            f"  size: {self.bytes / 1e6:.1f} MB = {self.gb_per_hour:.2f} GB per hour of video",
        ]
        n_missing = sum(len(v) for v in self.missing.values())
        if n_missing:
            per = ", ".join(f"{len(v)} in {k}" for k, v in self.missing.items())
            lines.append(f"  {n_missing} videos are listed but missing ({per}); carrying on without them:")
            for where, names in self.missing.items():
                lines += wrap_names(names, 5 * max_list, f"{where}:")
        if self.unlisted:
            lines.append(f"  {len(self.unlisted)} video files are listed in no split file and were not prepared:")
            lines += wrap_names(self.unlisted, 5 * max_list)
        if self.failed:
            lines.append(f"  {len(self.failed)} videos could not be used:")
            for name, reason in list(self.failed.items())[:max_list]:
                lines.append(f"    {printable(name)}: {printable(reason)}")
            if len(self.failed) > max_list:
                lines.append(f"    ... and {len(self.failed) - max_list} more (see 'failed' in {self.out / MANIFEST})")
        if self.split_files:
            lines.append(f"  split written to {', '.join(self.split_files)}")
        return "\n".join(lines)


def prepare(
    videos: str | Path,
    out: str | Path,
    splits: str | Path | None = None,
    layout: str | None = None,
    short_side: int = 128,
    workers: int | None = None,
    codec: str = "jpeg",
    quality: int = 90,
    progress: bool = True,
    time_limit: float | None = 1800.0,
    retry_failed: bool = False,
    test_fraction: float = 0.2,
    group_pattern: str | None = None,
    fallback: str = "videos",
    label_pattern: str | None = None,
    force: bool = False,
) -> PrepareReport:
    """Prepare (or resume preparing) a store from a data set.

    Args:
        videos: the video folder (see :func:`skipclip.data.catalog.layouts.resolve`).
        out: the store directory; created if needed.
        splits: the split folder when it is not next to the videos.
        layout: one of :data:`skipclip.data.catalog.layouts.LAYOUTS`; detected when None.
        short_side: frames are resized so their short side has this length (256 for the paper's
            224-px crops, 128 for 112-px crops).
        workers: decoding processes; 0 decodes in this process. Default: all cores.
        codec: ``jpeg`` (small) or ``raw`` (no decoding when reading, ~16x bigger).
        quality: JPEG quality.
        progress: show a progress bar.
        time_limit: seconds one video may take to decode (None: no limit); a video past it is
            recorded as failed and the run carries on.
        retry_failed: decode again the videos that killed a decoding process in an earlier run
            (by default they stay recorded as failed, so a rerun does not hit them again).
        test_fraction, group_pattern, fallback, label_pattern: how a folder without split files is split into
            train and test (see :func:`skipclip.data.catalog.layouts.load_index`); the split is written to
            ``OUT/splits/``.
        force: replace ``OUT/splits/`` as a whole even where it holds files skipclip did not
            write; make a store prepared from another video folder one of this folder (each video
            whose size or modification time differs from its record is decoded again).

    Returns:
        the report; ``report.ok`` is False when no usable video is left.

    Raises:
        SplitError: the split files are missing or wrong (nothing is written).
        ValueError: bad arguments, or ``out`` was prepared with other settings.
        OutputExistsError: ``out`` holds a training run, a store of another video folder, or
            split files skipclip did not write (the last two: without ``force``); nothing is written.
        DiskFullError: the disk or quota filled up (the videos decoded so far are kept).
    """
    if short_side < 16:
        raise InvalidInputError(f"short side must be >= 16 px, got {short_side}")
    if codec not in CODECS:
        raise InvalidInputError(f"unknown codec {codec!r}; choose one of {', '.join(CODECS)}")
    if time_limit is not None and time_limit <= 0:
        raise InvalidInputError(f"the per-video time limit must be > 0 seconds, got {time_limit}")
    start = time.time()
    index = load_index(
        videos,
        splits,
        layout,
        test_fraction=test_fraction,
        group_pattern=group_pattern,
        label_pattern=label_pattern,
        fallback=fallback,
    )
    out = Path(out)
    settings = {"short_side": short_side, "codec": codec}
    old = _earlier_store(out, settings, index.root, force)  # all refusals before anything is written
    check_split_folder(out, old is not None, force)
    out.mkdir(parents=True, exist_ok=True)
    if remove_stale(out / "videos"):
        log.info("removed unfinished shard files of an interrupted run in %s", out)
    done: dict[str, dict] = {v["name"]: v for v in old["videos"]} if old else {}
    # videos that killed a decoding process in an earlier run
    died = {f["name"]: f["reason"] for f in (old or {}).get("failed", []) if f.get("reason", "").startswith(DIED)}

    report = PrepareReport(out, index.layout, unlisted=index.unlisted(), missing=index.missing_by_list())
    absent = {p for names in report.missing.values() for p in names}
    records, todo = _plan(index, out, short_side, done, died if not retry_failed else {}, absent, report)

    def manifest() -> dict:
        listed = [records[e.path] for e in index.entries if e.path in records]
        return {
            "version": 1,
            "layout": index.layout,
            **settings,
            "quality": quality,
            "source": str(index.root.resolve()),
            "classes": index.classes,
            "folds": index.folds,
            "videos": listed,
            "failed": [{"name": k, "reason": v} for k, v in report.failed.items()],
            "missing": report.missing,
            "unlisted": report.unlisted,
            "split": index.split,
        }

    try:
        _decode(todo, out, (short_side, codec, quality, time_limit), workers, progress, records, report, manifest)
        remove_stale(out / "videos")  # what workers that died or timed out left behind
        final = manifest()
        final["hours"] = sum(v.get("duration", 0.0) for v in final["videos"]) / 3600
        final["bytes"] = sum(v.get("bytes", 0) for v in final["videos"])
        save_manifest(out, final)
        report.split_files = write_split_files(out, index, {v["name"] for v in final["videos"]}, force)
    except OSError as exc:
        full = disk_full(exc, out)
        if full is None:
            raise
        raise full from None
    report.videos = len(final["videos"])
    report.frames = sum(v["frames"] for v in final["videos"])
    report.hours, report.bytes = final["hours"], final["bytes"]
    report.seconds = time.time() - start
    return report


def _plan(index, out: Path, short_side: int, done: dict, died: dict, absent: set, report: PrepareReport):
    """Which listed videos the store already holds (their records, counted as skipped), which
    stay failed (``died``: killed a decoding process before), and which to decode; returns
    ``(records, todo)``."""
    records: dict[str, dict] = {}
    todo = []
    for e in index.entries:
        if e.path in absent:
            continue
        src = index.root / e.path
        shard = contained(out, shard_name(e.path), f"video {printable(e.path)!r}")  # stays in the store
        base = {
            "name": e.path,
            "file": shard,
            "label": e.label,
            "group": e.group,
            "folds": {str(k): v for k, v in e.folds.items()},
            **fingerprint(src),
        }
        prior = done.get(e.path)
        header = check_shard(out / base["file"])
        if (
            header is not None
            and min(header["height"], header["width"]) == short_side
            and _same_video(prior, base, out / base["file"])
        ):
            keep = {k: header[k] for k in ("frames", "height", "width", "fps", "duration", "vfr") if k in header}
            records[e.path] = {**(prior or {}), **keep, **base, "bytes": (out / base["file"]).stat().st_size}
            report.skipped += 1
        elif e.path in died:
            report.failed[e.path] = died[e.path]
        else:
            todo.append((e, base, src))
    return records, todo


def _decode(
    todo: list,
    out: Path,
    how: tuple,
    workers: int | None,
    progress: bool,
    records: dict,
    report: PrepareReport,
    manifest,
) -> None:
    """Decode ``todo`` (in ``workers`` processes), filling ``records`` and ``report``; the manifest
    is saved every 10 s, and once more when the run is stopped (Ctrl+C, a full disk)."""
    short_side, codec, quality, time_limit = how
    workers = (os.cpu_count() or 1) if workers is None else workers
    bar = _progress(len(todo), progress)
    last_save = time.time()

    failed_now: list[str] = []  # failed in this run: suspects if the machine turns out to be short

    def collect(item, result):
        e, base, _ = item
        if isinstance(result, str):
            report.failed[e.path] = result
            if result != DIED:
                failed_now.append(e.path)
            log.warning("skipping %s: %s", printable(e.path), result)
        else:
            records[e.path] = {**base, **result}
            report.prepared += 1
        bar.update(1)

    def tick():
        nonlocal last_save
        if time.time() - last_save > 10:
            save_manifest(out, manifest())
            last_save = time.time()

    jobs = [
        (item, (str(src), str(out / base["file"]), short_side, codec, quality, time_limit, workers > 1))
        for item in todo
        for _, base, src in [item]
    ]
    try:
        if workers <= 1:
            for item, args in jobs:
                collect(item, prepare_one(*args)[1])
                tick()
        else:
            run_pool(jobs, workers, collect, tick)
    except BaseException as exc:
        if isinstance(exc, MachineFaultError) and failed_now:  # FFmpeg short of memory also says "invalid data"
            for path in failed_now:
                report.failed.pop(path, None)
            log.warning(
                "%d videos that failed earlier in this run are not recorded as failed either: with the "
                "machine short of resources their errors may be the machine's; the next run decodes them "
                "again",
                len(failed_now),
            )
        try:  # what was decoded is kept for the rerun
            save_manifest(out, manifest())
        except OSError:
            pass
        raise
    finally:
        bar.close()


def fingerprint(src: Path) -> dict:
    """What tells a video file from another of the same name: its size and modification time."""
    try:
        st = src.stat()
    except OSError:
        return {}
    return {"source_size": st.st_size, "source_mtime_ns": st.st_mtime_ns}


def _same_video(prior: dict | None, now: dict, shard: Path) -> bool:
    """Whether ``shard``, recorded as ``prior``, was made from the video whose fingerprint is ``now``.

    With a record: its size and modification time must match. Without one (killed before the first
    manifest save), a shard newer than the video is taken as made from it."""
    if prior is not None:
        return (prior.get("source_size"), prior.get("source_mtime_ns")) == (
            now.get("source_size"),
            now.get("source_mtime_ns"),
        )
    return "source_mtime_ns" not in now or shard.stat().st_mtime_ns >= now["source_mtime_ns"]


def _earlier_store(out: Path, settings: dict, root: Path, force: bool) -> dict | None:
    """The manifest of the store already in ``out`` (``None``: none), once it is known that this
    run may continue it.

    Raises:
        OutputExistsError: ``out`` holds a training run, or a store prepared from another video
            folder (unless ``force``: then every video whose size or time differs is decoded again).
        ValueError: the store was prepared with other settings.
    """
    if (out / "run.json").is_file() or (out / "checkpoints").is_dir():
        raise OutputExistsError(
            f"{out} holds a training run (run.json / checkpoints/); a store would be written "
            "into it: choose another --out"
        )
    if not (out / MANIFEST).exists():
        return None
    old = load_manifest(out)
    for key, value in settings.items():
        if old.get(key) != value:
            raise InvalidInputError(
                f"{out} was prepared with {key}={old.get(key)}, not {value}; use another --out "
                f"or the same --{key.replace('_', '-')}"
            )
    source, now = old.get("source"), str(Path(root).resolve())
    if source is not None and source != now and not force:
        raise OutputExistsError(
            f"{out} was prepared from {source}, not {now}; its frames are of those videos, even where the names "
            "match. Choose another --out, or pass --force to make it a store of the new folder (every video "
            "whose size or modification time differs is decoded again)"
        )
    return old


SPLIT_DIR = "splits"
SPLIT_MARK = ".written-by-skipclip.json"  # in OUT/splits: the files skipclip wrote and their sha256
OWN_SPLITS = ("train.txt", "val.txt", "test.txt", "classes.txt")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_split_folder(out: Path, is_store: bool, force: bool) -> None:
    """Refuse to replace files in ``OUT/splits/`` that skipclip did not write there (or that were
    edited since), unless ``force``: the folder is then replaced as a whole.

    What skipclip wrote is listed, with each file's sha256, in ``OUT/splits/.written-by-skipclip.json``,
    which travels with the folder. A store prepared before that list existed owns its
    ``train/val/test/classes.txt``.

    Raises:
        OutputExistsError: naming the files.
    """
    folder = out / SPLIT_DIR
    if folder.is_symlink() and not force:
        raise OutputExistsError(
            f"{folder} is a symbolic link (to {os.readlink(folder)}); prepare writes the split it used into "
            "that folder and would replace it. Give the store a real splits/ folder, or pass --force to replace "
            "the link (never the folder it points to)"
        )
    if force or not folder.is_dir():
        return
    try:
        mark = json.loads(read_regular(folder / SPLIT_MARK, "list of written files", MAX_LIST))
        ours = mark["files"] if isinstance(mark, dict) and isinstance(mark.get("files"), dict) else {}
    except (OSError, ValueError, RecursionError):  # InvalidInputError (a FIFO, too large) is a ValueError
        ours = None
    theirs = []
    for f in sorted(folder.iterdir(), key=lambda p: p.name):
        if f.name == SPLIT_MARK:
            continue
        if ours is None:
            mine = is_store and f.name in OWN_SPLITS and f.is_file()
        else:
            mine = f.name in ours and _sha256_of(f) == ours[f.name]
        if not mine:
            theirs.append(f.name)
    if theirs:
        raise OutputExistsError(
            f"{folder} holds files skipclip did not write there, or that were edited since: {', '.join(theirs)}; "
            "prepare writes the split it used into that folder and would replace them. Move them elsewhere "
            "(and pass them with --splits), or pass --force to replace the folder as a whole"
        )


def _sha256_of(path: Path) -> str | None:
    """The SHA-256 of a regular file of at most ``MAX_LIST`` bytes; ``None`` for anything else."""
    try:
        return _sha256(read_regular(path, "split file", MAX_LIST))
    except (OSError, InvalidInputError):
        return None


def write_split_files(out: Path, index, keep: set[str], force: bool = False) -> list[str]:
    """``OUT/splits/{train,val,test}.txt`` (``<path> <0-based label>``, mmaction2 style) and
    ``OUT/splits/classes.txt``: the split of fold 1 made visible (for a folder without split
    files: the split skipclip made), for the videos in the store (``keep``). The folder is
    replaced as a set (written beside, then swapped in; a symbolic link there, only with ``force``,
    is replaced as a link). Returns the split files written."""

    rows: dict[str, list[str]] = {}
    for e in index.entries:
        role = e.role(index.folds[0] if index.folds else 1)
        if role in ("train", "val", "test") and e.label >= 0 and e.path in keep:
            rows.setdefault(role, []).append(f"{e.path} {e.label}\n")
    if not rows:
        return []
    files = {
        f"{role}.txt": "".join(rows[role]).encode("utf-8", "surrogateescape")
        for role in ("train", "val", "test")
        if role in rows
    }
    files["classes.txt"] = "".join(f"{c}\n" for c in index.classes).encode("utf-8", "surrogateescape")
    mark = json.dumps({"files": {n: _sha256(b) for n, b in files.items()}}, indent=1).encode()

    def write(folder: Path) -> None:
        for name, data in {**files, SPLIT_MARK: mark}.items():
            (folder / name).write_bytes(data)

    replace_folder(out / SPLIT_DIR, write, replace_link=force)  # a link there: refused before, unless force
    return [f"{SPLIT_DIR}/{role}.txt" for role in ("train", "val", "test") if role in rows]


def _progress(total: int, show: bool) -> Progress:
    """A bar on a terminal, plain lines in a file (stderr either way)."""
    return Progress(total, "prepare", "videos", enabled=show)
