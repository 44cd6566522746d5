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

The report is :mod:`.prepare_report`'s, what an earlier store lets a run keep :mod:`.reuse`'s,
and the split files :mod:`skipclip.data.catalog.split_files`'.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from skipclip.data.catalog.layouts import load_index
from skipclip.data.catalog.paths import contained, printable
from skipclip.data.catalog.split_files import check_split_folder, write_split_files
from skipclip.data.sources.base import MachineFaultError
from skipclip.data.store.pool import DIED, disk_full, prepare_one, run_pool
from skipclip.data.store.prepare_report import PrepareReport
from skipclip.data.store.prepared import CODECS, check_shard, save_manifest, shard_name
from skipclip.data.store.reuse import earlier_store, fingerprint, same_video
from skipclip.data.store.shard import remove_stale
from skipclip.errors import InvalidInputError
from skipclip.utils.progress import Progress

log = logging.getLogger(__name__)


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
    old = earlier_store(out, settings, index.root, force)  # all refusals before anything is written
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
            and same_video(prior, base, out / base["file"])
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


def _progress(total: int, show: bool) -> Progress:
    """A bar on a terminal, plain lines in a file (stderr either way)."""
    return Progress(total, "prepare", "videos", enabled=show)
