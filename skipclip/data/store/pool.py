"""Decoding videos into shards in worker processes that may die: each video is streamed frame by
frame into its shard (bounded memory), under a per-video time limit, and a worker that dies (the
kernel's out-of-memory killer, a decoder crash, a SIGKILL) costs only the video it was reading.

When a worker dies, Python's pool fails every call still in it (``BrokenProcessPool``) without
saying which video killed it. At most ``workers`` videos are in the pool at a time, so the
suspects are few: each is run again alone in a fresh one-process pool, the one that kills it
again is recorded as failed with the reason, and the rest carries on in a new pool.

Workers end with the process that runs ``prepare``, however it ends: each watches it (a thread
that polls its pid) and exits when it is gone, so a SIGKILL or SIGTERM of ``prepare`` leaves no
worker decoding on, and with the workers gone the forkserver and the resource tracker see their
pipes close and exit too. An exception in ``prepare`` (Ctrl+C included) terminates the workers
at once rather than waiting for the videos in flight.

A full disk (``ENOSPC``, or ``EDQUOT`` for a quota) is not the video's fault: it stops the run
with :class:`DiskFullError` naming the path, instead of recording every later video as failed.
Nor is the machine running out of threads, memory or file descriptors while a video decodes
(``EAGAIN``, FFmpeg's "Resource temporarily unavailable" under a memory cap, ``ENOMEM``,
``MemoryError``, ``EMFILE``): the video is tried once more after a pause, then the run stops with
:class:`~skipclip.data.sources.base.MachineFaultError` and the video is not recorded as failed.
"""

from __future__ import annotations

import errno
import faulthandler
import logging
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Callable

import av  # noqa: F401  (imported before any time limit is armed: a limit never lands mid-import)
import torch
from torchvision.io import encode_jpeg  # noqa: F401

from skipclip.data.sources.base import MachineFaultError, VideoReadError, machine_fault
from skipclip.data.store.shard import ShardWriter
from skipclip.data.video.pyav import decode_into
from skipclip.errors import SkipClipError

log = logging.getLogger(__name__)

START_METHOD = "forkserver" if os.name == "posix" else "spawn"
GRACE_S = 30  # after the time limit, a worker stuck inside the decoder is ended this much later
DIED = (
    "the decoding process died while reading it (killed by the system, e.g. out of memory, a decoder "
    "crash, or stuck past --time-limit); skipped, the other videos were prepared"
)


class DecodeTimeout(Exception):
    """A video took longer than the per-video time limit."""


class DiskFullError(SkipClipError):
    """The store's disk (or the user's quota) is full; nothing is wrong with the videos."""


DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
MACHINE_TRIES = 2  # a video the machine failed on (EAGAIN, ENOMEM, EMFILE) is tried this often, then prepare stops
MACHINE_WAIT_S = 2.0


def disk_full(exc: BaseException, path: str | Path) -> DiskFullError | None:
    """A :class:`DiskFullError` naming ``path`` when ``exc`` is a full disk or quota, else ``None``."""
    if isinstance(exc, OSError) and exc.errno in DISK_FULL:
        what = "disk quota exceeded" if exc.errno == errno.EDQUOT else "disk full"
        return DiskFullError(
            f"{what} at {path} ({exc.strerror or exc}); free some space (or write the store "
            "elsewhere with --out) and run the same command again: finished videos are kept"
        )
    return None


def _on_alarm(signum, frame):
    raise DecodeTimeout


def prepare_one(
    src: str,
    dest: str,
    short_side: int,
    codec: str,
    quality: int,
    time_limit: float | None = None,
    hard_limit: bool = False,
) -> tuple[str, dict | str]:
    """Decode one video, streaming its frames into its shard. Returns ``(dest, info)`` or
    ``(dest, reason)`` when the video cannot be used.

    ``time_limit`` (seconds) stops a slow decode between frames; with ``hard_limit`` (worker
    processes only) a decoder stuck inside FFmpeg ends the process ``GRACE_S`` later.
    """

    torch.set_num_threads(1)
    timed = bool(time_limit) and threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGALRM, _on_alarm) if timed else None
    try:
        if timed:
            signal.setitimer(signal.ITIMER_REAL, time_limit)
            if hard_limit:
                faulthandler.dump_traceback_later(time_limit + GRACE_S, exit=True)
        for attempt in range(MACHINE_TRIES):
            try:
                return dest, _decode_one(src, dest, short_side, codec, quality)
            except MachineFaultError:
                if attempt + 1 == MACHINE_TRIES:
                    raise  # the machine's fault, not the video's: prepare stops, the video is not recorded
                log.warning("the machine ran short while decoding %s; trying again in %g s", src, MACHINE_WAIT_S)
                time.sleep(MACHINE_WAIT_S)
    except MachineFaultError:
        raise
    except VideoReadError as exc:
        return dest, exc.reason
    except DecodeTimeout:
        return dest, (
            f"decoding took longer than the per-video time limit of {time_limit:g} s; raise "
            "--time-limit for very long videos, or check the file"
        )
    except Exception as exc:  # an unexpected decoder failure must not stop the other videos
        full = disk_full(exc, Path(dest).parent)
        if full is not None:  # but a full disk stops them all
            raise full from None
        fault = machine_fault(src, exc)
        if fault is not None:  # and so does the machine running out of memory or threads
            raise fault from None
        return dest, f"unexpected error while decoding: {type(exc).__name__}: {exc}"
    finally:
        if timed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
            if hard_limit:
                faulthandler.cancel_dump_traceback_later()


def _decode_one(src: str, dest: str, short_side: int, codec: str, quality: int) -> dict:
    """Stream one video's frames into its shard; the manifest record of the video."""
    with ShardWriter(Path(dest), codec, quality) as writer:
        info = decode_into(src, writer.add, short_side)
        meta = {
            "fps": info.fps,
            "duration": info.duration,
            "source_height": info.height,
            "source_width": info.width,
            "vfr": info.vfr,
        }
        h, w = writer.shape
        size = writer.finish(meta)
    return {**meta, "frames": info.frames, "height": int(h), "width": int(w), "bytes": size}


def _work(args: tuple) -> tuple[str, dict | str]:
    return prepare_one(*args)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's process took the pid
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):  # no /proc (macOS): the signal test alone
        return True
    return state not in ("Z", "X")


def _end_with(parent: int, every: float = 0.5) -> None:
    """Worker initialiser: a daemon thread ends this worker as soon as ``parent`` is gone."""

    def watch() -> None:
        while _alive(parent):
            time.sleep(every)
        os._exit(1)

    threading.Thread(target=watch, name="skipclip-watch-parent", daemon=True).start()


def run_pool(
    jobs: list[tuple[object, tuple]],
    workers: int,
    collect: Callable[[object, dict | str], None],
    tick: Callable[[], None] = lambda: None,
) -> None:
    """Run ``prepare_one(*args)`` for every ``(key, args)`` of ``jobs`` in ``workers`` processes
    and call ``collect(key, info_or_reason)`` once per job, in the calling process, whatever
    happens to the workers; ``tick()`` after each result (periodic manifest saves)."""
    context = multiprocessing.get_context(START_METHOD)
    queue = list(reversed(jobs))
    while queue:
        suspects = _window(queue, workers, context, collect, tick)
        if len(suspects) == 1:  # it was alone in the pool: it is the one
            collect(suspects[0][0], DIED)
            tick()
            continue
        for key, args in suspects:  # find the one that kills a worker of its own
            alone = _window([(key, args)], 1, context, collect, tick)
            if alone:
                log.warning("a decoding process died on %s", args[0])
                collect(key, DIED)
                tick()


def _window(queue: list, workers: int, context, collect, tick) -> list:
    """Run jobs from the end of ``queue`` with at most ``workers`` in flight until the queue is
    empty (returns ``[]``) or a worker dies (returns the jobs that were in the pool)."""
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_end_with, initargs=(os.getpid(),))
    try:
        suspects = _drain(pool, queue, workers, collect, tick)
    except BaseException:  # Ctrl+C, a full disk, a bug: the videos in flight are not waited for
        _terminate(pool)
        raise
    pool.shutdown(wait=True)
    return suspects


def _drain(pool: ProcessPoolExecutor, queue: list, workers: int, collect, tick) -> list:
    running: dict = {}
    while queue or running:
        while queue and len(running) < workers:
            key, args = queue.pop()
            running[pool.submit(_work, args)] = (key, args)
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        broken = []
        for fut in done:
            job = running.pop(fut)
            try:
                result = fut.result()[1]
            except BrokenProcessPool:
                broken.append(job)
                continue
            collect(job[0], result)
            tick()
        if broken:
            return broken + list(running.values())
    return []


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Stop a pool's workers now (``shutdown`` alone waits for the calls in flight)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # no public handle on them
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        if proc.is_alive():
            proc.terminate()
    for proc in processes:
        proc.join(timeout=5)
