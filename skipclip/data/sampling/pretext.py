"""The pretext dataset: one Skip-Clip sample (context clip + target frames) per video and epoch."""

from __future__ import annotations

import logging
from typing import Any, cast

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from skipclip.batch import PretextBatch
from skipclip.data.failures import FAILED
from skipclip.data.sampling.crop_flip import crop_box, random_crop_flip, resize_short_side, resized_size
from skipclip.data.sampling.jpeg_batch import JPEGS, DeferredBatch, DeferredFrames, split_window
from skipclip.data.sampling.window import PretextWindow
from skipclip.data.sources.base import VideoReadError, VideoSource
from skipclip.errors import InvalidInputError

log = logging.getLogger(__name__)


def group_ids(source: VideoSource) -> np.ndarray:
    """An integer id per video of ``source`` for its group (``source.group``: UCF101's ``gNN``,
    HMDB51's source film, a ``--group-pattern`` match, else the video itself): the sorted distinct
    group names numbered from 0, so the ids are the same in every process and every run.

    The group name alone is the key, as for the leakage-free splits: UCF101's ``g08`` of two
    classes share an id, which masks a few true negatives but never keeps a clip of the same
    recording as a negative (HMDB51 films do span classes).
    """
    names = [source.group(i) for i in range(len(source))]
    index = {name: i for i, name in enumerate(sorted(set(names)))}
    return np.array([index[name] for name in names], dtype=np.int64)


class PretextDataset(Dataset):
    """Samples of the Skip-Clip pretext task from a :class:`VideoSource`.

    Each item is a dict of uint8 tensors (normalised later, on the device), and :meth:`collate`
    stacks items into a typed :class:`~skipclip.batch.PretextBatch` (a loader from
    :func:`~skipclip.data.epoch_loader` uses it):
    ``context`` ``(3, K, S, S)``, ``targets`` ``(M, d, 3, S, S)`` nearest first, ``video``, the
    source index, ``group``, the integer id of the video's group (:func:`group_ids`: clips of one
    recording are not each other's negatives), ``skipped``, the unreadable videos passed over for
    this item, and ``pad``, true
    for a padded repeat (an index ``i + len(self)`` from an
    :class:`~skipclip.data.sampling.epoch_sampler.EpochSampler` with ``mark_padding``). Negatives are not
    sampled here: they are the targets of the other videos in the batch (see
    :mod:`skipclip.method.model`, which also drops a repeated video and padded items).

    Videos shorter than the window are skipped (listed in ``too_short``). A video that fails to
    decode is recorded in ``failed`` and replaced by the next readable one, drawn with a random
    stream of its own (never the stream of that video's own item), so one corrupt file never
    stops a run.

    Args:
        source: the videos.
        window: K, M, r, d.
        crop_size: side of the square crop shared by context and targets.
        short_side: frames are resized so their short side has this length before cropping.
        reverse_prob: probability of reversing the whole video before sampling.
        flip_prob: probability of a horizontal flip (same for context and targets).
        seed: base seed; the sample of (epoch, index) is a pure function of (seed, epoch, index).
        train: random crops and flips when True, centre crop otherwise.

    Raises:
        ValueError: no video of the source is long enough for the window.
    """

    @staticmethod
    def collate(items: list[dict]) -> PretextBatch | DeferredBatch:
        """Stack items (``default_collate``) into a :class:`~skipclip.batch.PretextBatch`, their
        failure reports gathered; items whose frames are still JPEG (:meth:`defer_decoding`) make a
        :class:`~skipclip.data.sampling.jpeg_batch.DeferredBatch`, decoded on the device."""
        failed = [(str(n), str(r)) for item in items for n, r in (item.get(FAILED) or {}).items()]
        fields = default_collate([{k: v for k, v in item.items() if k not in (FAILED, JPEGS)} for item in items])
        if all(JPEGS in item for item in items):
            return DeferredBatch(jpegs=[item[JPEGS] for item in items], **fields, failed=failed)
        return PretextBatch(**fields, failed=failed)

    def __init__(
        self,
        source: VideoSource,
        window: PretextWindow,
        crop_size: int,
        short_side: int | None = None,
        reverse_prob: float = 0.5,
        flip_prob: float = 0.5,
        seed: int = 0,
        train: bool = True,
    ):
        self.source = source
        self.window = window
        self.crop_size = crop_size
        self.short_side = short_side
        self.reverse_prob = reverse_prob
        self.flip_prob = flip_prob
        self.seed = seed
        self.train = train
        self.groups = group_ids(source)
        self.epoch = 0
        self.defer_decode = False  # frames left JPEG for the device (defer_decoding)
        self.valid: list[int] = []
        self.too_short: list[str] = []
        self.failed: dict[str, str] = {}
        for i in range(len(source)):
            try:
                n = source.num_frames(i)
            except VideoReadError as exc:
                self.failed[source.name(i)] = exc.reason
                continue
            if window.fits(n):
                self.valid.append(i)
            else:
                self.too_short.append(source.name(i))
        if self.too_short:
            log.warning(
                "%d of %d videos are shorter than the pretext window (%d frames) and are skipped",
                len(self.too_short),
                len(source),
                window.length,
            )
        if not self.valid:
            raise InvalidInputError(
                f"none of the {len(source)} videos is long enough for the pretext window of "
                f"{window.length} frames (K + M*r + d - 1); lower K, M or r"
            )

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.valid)

    def rng(self, index: int, epoch: int | None = None) -> np.random.Generator:
        return np.random.default_rng((self.seed, self.epoch if epoch is None else epoch, index))

    def __getitem__(self, index: int) -> dict:
        return self.at_epoch(index, self.epoch)

    def at_epoch(self, index: int, epoch: int) -> dict:
        """Item ``index`` of epoch ``epoch`` (a pure function of both and the seed): what
        :class:`~skipclip.data.sampling.prefetch.PrefetchLoader` reads ahead of ``set_epoch``."""
        n = len(self.valid)
        pad = index >= n  # a padded repeat of index - n (EpochSampler's mark_padding)
        index = index - n if pad else index
        passed: dict[str, str] = {}
        for attempt in range(n):
            j = (index + attempt) % n
            video = self.valid[j]
            # a replacement gets a stream of its own: item j's stream would copy item j's sample
            rng = self.rng(index, epoch) if attempt == 0 else np.random.default_rng((self.seed, epoch, index, attempt))
            try:
                sample = self._sample(video, rng)
                sample["skipped"] = attempt  # unreadable videos passed over for this item
                sample["pad"] = pad
                sample[FAILED] = dict(passed)  # their names, to the main process (any worker count)
                return sample
            except VideoReadError as exc:
                passed[self.source.name(video)] = self.failed[self.source.name(video)] = exc.reason
                log.warning("skipping unreadable video %s", exc)
        reasons = "; ".join(f"{name}: {why}" for name, why in passed.items())
        raise InvalidInputError(
            f"none of the {n} videos of the data set could be read ({reasons[:500]}); "
            "`skipclip doctor --data DATA` lists what is wrong with each"
        )

    def _sample(self, video: int, rng: np.random.Generator) -> dict:
        w = self.window
        n = self.source.num_frames(video)
        reverse = self.train and rng.random() < self.reverse_prob
        if not self.train:
            rng = np.random.default_rng((self.seed, video))
        context_idx, target_idx = w.sample(n, rng, reverse=reverse)  # K, M x d
        idx = np.concatenate([context_idx, target_idx.reshape(-1)])
        item: dict[str, Any] = {"video": video, "group": int(self.groups[video])}
        if self.defer_decode:  # the same draws, the pixels left to decode_batch on the device
            jpegs, order, (h, wd) = cast(Any, self.source).read_jpegs(video, idx)  # defer_decoding checked it has one
            size = resized_size(h, wd, self.short_side) if self.short_side is not None else (h, wd)
            box = crop_box(size[0], size[1], self.crop_size, rng, self.flip_prob, train=self.train)
            item[JPEGS] = DeferredFrames(jpegs, order, self.short_side, self.crop_size, box)
            return item
        frames = torch.from_numpy(np.ascontiguousarray(self.source.read(video, idx)))  # T x H x W x 3
        frames = frames.permute(0, 3, 1, 2)  # T x 3 x H x W
        if self.short_side is not None:
            frames = resize_short_side(frames, self.short_side)
        frames = random_crop_flip(frames, self.crop_size, rng, self.flip_prob, train=self.train)
        # context 3 x K x S x S, targets M x d x 3 x S x S
        item.update(split_window(frames, w.context_frames, w.num_targets, w.target_length))
        return item

    def defer_decoding(self, on: bool = True) -> bool:
        """Leave the frames JPEG for :func:`~skipclip.data.sampling.jpeg_batch.decode_batch` on the
        training device, where the source is a store of JPEG frames; returns whether it is on."""
        self.defer_decode = bool(on and getattr(self.source, "jpeg", False) and hasattr(self.source, "read_jpegs"))
        return self.defer_decode
