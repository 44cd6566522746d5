"""Pretraining's data: the pretext data sets of a run's splits, their resumable, rank-sharded
loaders at the per-process batch, and where the JPEG frames are decoded (the loaders' CPU, or the
GPU in batches)."""

from __future__ import annotations

from skipclip.config import Config
from skipclip.data import PretextDataset, PretextWindow, Splits, epoch_loader, open_data
from skipclip.engine.skipclip_module import SkipClipModule
from skipclip.engine.trainer import device_of, process_plan
from skipclip.utils.dist import batch_per_process


def pretext_datasets(
    cfg: Config, data: str, splits: Splits | None = None
) -> tuple[PretextDataset, PretextDataset | None]:
    splits = open_data(data, cfg) if splits is None else splits
    train_src, val_src = splits.train, splits.val
    w, d, p = PretextWindow.from_config(cfg), cfg.data, cfg.pretext
    short = splits.short_side
    keep = getattr(train_src, "keep_frames", None)  # a prepared store: its decoded frames kept in memory
    if keep is not None:
        keep(d.frame_cache_mb)
    train = PretextDataset(
        train_src, w, d.crop_size, short, p.reverse_prob, p.flip_prob, seed=cfg.trainer.seed, train=True
    )
    val = None
    if val_src is not None and len(val_src) > 0:
        val = PretextDataset(val_src, w, d.crop_size, short, seed=cfg.trainer.seed, train=False)
    return train, val


def process_batch(cfg: Config) -> int:
    """Videos per process and step: ``data.batch_size`` itself (``data.batch_per: device``) or
    ``data.batch_size`` / the world size (``global``, the paper preset), the world size being the
    launcher's or ``trainer.devices x trainer.num_nodes``.

    Raises:
        ValueError: a global batch the world size does not divide.
    """

    return batch_per_process(cfg.data.batch_size, cfg.data.batch_per, process_plan(cfg).world_size)


def make_loader(dataset, cfg: Config, shuffle: bool, drop_last: bool, batch_size: int | None = None):
    """A loader with a resumable, rank-sharded :class:`~skipclip.data.sampling.epoch_sampler.EpochSampler`;
    ``batch_size`` per process (default :func:`process_batch`)."""

    batch = process_batch(cfg) if batch_size is None else batch_size
    return epoch_loader(
        dataset,
        batch,
        shuffle=shuffle,
        drop_last=drop_last,
        seed=cfg.trainer.seed,
        num_workers=cfg.data.num_workers,
        mark_padding=not drop_last,
        timeout=cfg.data.loader_timeout,
        prefetch=cfg.data.prefetch,
    )


def defer_jpegs(cfg: Config, module: SkipClipModule, *datasets) -> bool:
    """On CUDA with ``data.gpu_decode``, let the loaders hand a JPEG store's frames over undecoded
    and the module decode them on the GPU in batches (:mod:`~skipclip.data.sampling.jpeg_batch`);
    elsewhere, or for other sources, the loaders decode on the CPU. Returns whether it is on."""
    on = cfg.data.gpu_decode and device_of(cfg) == "cuda"
    found = [ds.defer_decoding(on) for ds in datasets if ds is not None]
    if found and all(found):
        p = cfg.pretext
        module.jpeg_window = (p.context_frames, p.num_targets, p.target_length)
        return True
    for ds in datasets:
        if ds is not None:
            ds.defer_decoding(False)
    return False
