"""Frozen features of the context encoder, one vector per video (sliding windows, centre crop)."""

from __future__ import annotations

import threading

import numpy as np
import torch
from torch.utils.data import DataLoader

from skipclip.config import finetune_settings
from skipclip.data import VideoWindows, collate, from_batch
from skipclip.engine.trainer import device_of
from skipclip.errors import InvalidInputError
from skipclip.models.normalize import input_stats_of, normalize
from skipclip.utils.progress import Progress


class CachedBatches:
    """Collated batches of a data set of fixed items (centre crops, fixed windows), read once and
    kept in memory while they fit in ``cache_bytes``: a measurement repeated every validation then
    costs the forward passes only, not the decoding. Beyond the limit they are read each time.

    Args:
        dataset: items that never change between reads (``train=False`` data sets).
        batch_size: items per batch.
        cache_bytes: most bytes of tensors kept.
        num_workers: loader worker processes for the reads (0: in this process).
    """

    def __init__(self, dataset, batch_size: int = 32, cache_bytes: int = 256 << 20, num_workers: int = 0):
        self.dataset, self.batch_size, self.cache_bytes = dataset, batch_size, cache_bytes
        self.num_workers = num_workers
        self.cached: list[dict] | None = None
        self._filler: threading.Thread | None = None

    def warm(self) -> None:
        """Read (and keep) the batches on a background thread, e.g. on the core the training step
        leaves idle; the next iteration waits for it. A failed read is left to that iteration."""
        warm_in_turn(self)

    def _fill(self) -> None:
        try:
            for _ in self._read():
                pass
        except Exception:  # noqa: BLE001 - read again (and raised) by the next iteration
            self.cached = None

    def __iter__(self):
        if self._filler is not None:
            self._filler.join()
            self._filler = None
        return self._read()

    def _read(self):
        if self.cached is not None:
            yield from self.cached
            return
        kept: list[dict] | None = []
        size = 0
        # a generator of its own: the loader's seed draw must not take one from torch's global
        # stream, which a read on a background thread would do at a moment the training cannot predict
        for batch in DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            shuffle=False,
            num_workers=self.num_workers,
            collate_fn=collate,
            generator=torch.Generator().manual_seed(0),
        ):
            if kept is not None:
                size += sum(v.nbytes for v in batch.values() if isinstance(v, torch.Tensor))
                if size <= self.cache_bytes:
                    kept.append(batch)
                else:
                    kept = None
            yield batch
        self.cached = kept


def warm_in_turn(*caches: CachedBatches) -> None:
    """:meth:`CachedBatches.warm` for several, on one thread, one after another (one core's worth)."""
    todo = [c for c in caches if c.cached is None and c._filler is None]
    if not todo:
        return

    def fill():
        torch.set_num_threads(1)  # this thread's reading only (per thread under OpenMP), see data.sampling.prefetch
        for c in todo:
            c._fill()

    thread = threading.Thread(target=fill, name="skipclip-cache", daemon=True)
    for c in todo:
        c._filler = thread
    thread.start()


def _encode_windows(encoder, batches, device, lost: dict, progress: Progress | None = None):
    """g's pooled feature of every readable window of ``batches`` (standardised with the encoder's
    statistics, eval mode, its mode restored after): per-batch features, their video indices, and
    the videos with an unreadable window; failures go into ``lost``."""
    bad: set[int] = set()
    was_training = encoder.training
    encoder.eval().to(device)
    feats, videos = [], []
    for batch in batches:
        lost.update(from_batch(batch))
        ok = batch["ok"]
        bad.update(batch["video"][~ok].tolist())
        if ok.any():
            x = normalize(
                batch["clip"][ok].to(device), channel_dim=1, stats=input_stats_of(encoder)
            )  # B x 3 x T x S x S
            feats.append(encoder.pooled(x).float().cpu())  # B x C
            videos.append(batch["video"][ok])
        if progress is not None:
            progress.update(len(batch["video"]))
    encoder.train(was_training)
    return feats, videos, bad


@torch.no_grad()
def pooled_features(
    encoder, batches, source, device: str | torch.device = "cpu", failed: dict | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Global-average-pooled features of ``encoder`` over the clip batches of a
    :class:`~skipclip.data.ClipDataset` of ``source`` (``clip``, ``video``, ``ok``; e.g. a
    :class:`CachedBatches`), averaged per video, standardised with the encoder's statistics. A
    video with an unreadable window is left out and, when ``failed`` is given, named in it.

    Returns:
        features ``(V, C)`` float32 and labels ``(V,)`` int64, in source order.

    Raises:
        ValueError: no video could be read.
    """
    lost: dict[str, str] = {}
    feats, videos, bad = _encode_windows(encoder, batches, device, lost)
    if failed is not None:
        failed.update(lost)
    v = torch.cat(videos).numpy() if videos else np.zeros(0, np.int64)
    keep = ~np.isin(v, sorted(bad))
    if not keep.any():
        raise InvalidInputError(
            f"no video of the {len(source)} could be read, e.g. {next(iter(lost.items()), ('?', '?'))}"
        )
    x, ids = average_by_video(torch.cat(feats).numpy()[keep], v[keep])
    return x, np.array([source.label(int(i)) for i in ids], dtype=np.int64)


@torch.no_grad()
def window_features(
    encoder,
    source,
    clip_len: int,
    crop_size: int,
    short_side: int | None = None,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    failed: dict | None = None,
    progress: Progress | None = None,
    num_workers: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Global-average-pooled features of ``encoder`` on every non-overlapping window of every video
    (centre crop, the sliding-window test's clips). Each video is read in one pass
    (:class:`~skipclip.data.VideoWindows`; a raw file decoded once from the start), by
    ``num_workers`` loader processes (0: in this one). A video with an unreadable window is left
    out entirely and, when ``failed`` is given, named in it (name -> reason).

    Returns:
        features ``(W, C)`` float32, the video index ``(W,)`` and start frame ``(W,)`` of each
        window, videos in source order.

    Raises:
        InvalidInputError: no video could be read.
    """
    loader = DataLoader(
        VideoWindows(source, clip_len, crop_size, short_side),
        batch_size=None,
        shuffle=False,
        num_workers=num_workers,
        prefetch_factor=4 if num_workers else None,
    )
    lost: dict[str, str] = {}
    feats, videos, starts = [], [], []
    was_training = encoder.training
    encoder.eval().to(device)
    stats = input_stats_of(encoder)
    try:
        for item in loader:
            lost.update(from_batch(item))
            if item["ok"]:  # batches of one video's windows: a video's numbers never depend on its neighbours
                for i in range(0, len(item["clips"]), batch_size):
                    x = normalize(
                        item["clips"][i : i + batch_size].to(device), channel_dim=1, stats=stats
                    )  # B x 3 x T x S x S
                    feats.append(encoder.pooled(x).float().cpu())  # B x C
                videos.append(torch.full((len(item["clips"]),), int(item["video"]), dtype=torch.int64))
                starts.append(item["starts"])
            if progress is not None:
                progress.update(len(item["clips"]))
    finally:
        encoder.train(was_training)
    if failed is not None:
        failed.update(lost)
    if not videos:
        raise InvalidInputError(
            f"no video of the {len(source)} could be read and at least one {clip_len}-frame "
            f"window long, e.g. {next(iter(lost.items()), ('?', '?'))}"
        )
    return torch.cat(feats).numpy(), torch.cat(videos).numpy(), torch.cat(starts).numpy()


def average_by_video(features: np.ndarray, videos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean feature of each video's windows: ``(V, C)`` and the video indices ``(V,)``, sorted."""
    ids, index = np.unique(videos, return_inverse=True)
    sums = torch.zeros(len(ids), features.shape[1], dtype=torch.float32)
    sums.index_add_(0, torch.from_numpy(index), torch.from_numpy(features))
    counts = torch.from_numpy(np.bincount(index, minlength=len(ids))).float()[:, None]
    return (sums / counts).numpy(), ids


def video_features(
    encoder,
    source,
    clip_len: int,
    crop_size: int,
    short_side: int | None = None,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    failed: dict | None = None,
    progress: Progress | None = None,
    num_workers: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Global-average-pooled features of ``encoder`` over every non-overlapping window of every
    video, averaged per video (see :func:`window_features`). A video with an unreadable window is
    left out and, when ``failed`` is given, named in it (name -> reason).

    Returns:
        features ``(V, C)`` float32 and labels ``(V,)`` int64, in source order.

    Raises:
        ValueError: no video could be read.
    """

    feats, videos, _ = window_features(
        encoder, source, clip_len, crop_size, short_side, batch_size, device, failed, progress, num_workers
    )
    x, ids = average_by_video(feats, videos)
    y = np.array([source.label(int(v)) for v in ids], dtype=np.int64)
    return x, y


def count_windows(source, clip_len: int) -> int | None:
    """Non-overlapping windows of ``source`` (for progress), or ``None`` when a count fails."""
    try:
        return sum(max(0, source.num_frames(i) // clip_len) for i in range(len(source)))
    except Exception:  # noqa: BLE001 - an unreadable video: ClipDataset names it; progress just has no total
        return None


def frozen_features(cfg, encoder, *sources, failed: dict | None = None, progress: bool = False):
    """Per-video features of frozen ``encoder`` (mean over its non-overlapping windows) of each
    source, at the ``finetune`` section's clip length, crop and short side; unreadable videos are
    left out and named in ``failed``; ``progress`` on stderr."""

    ft = finetune_settings(cfg)
    out = []
    for s in sources:
        with Progress(count_windows(s, ft.clip_frames), "features", "windows", enabled=progress) as bar:
            out.append(
                video_features(
                    encoder,
                    s,
                    ft.clip_frames,
                    ft.crop_size,
                    ft.short_side,
                    batch_size=ft.batch_size,
                    device=device_of(cfg),
                    failed=failed,
                    progress=bar,
                )
            )
    return out
