"""Video data for Skip-Clip: the only door other packages use.

Rooms, and where a new piece goes:

- ``sources/``  a data set as indexable videos (:class:`VideoSource`): synthetic, raw files, in memory;
- ``video/``    decoding and encoding video files (PyAV);
- ``store/``    the prepared store: shards, manifest, ``prepare`` and its worker pool;
- ``catalog/``  what a folder holds: layouts (one module each), the index, carving, ``doctor``;
- ``sampling/`` what a model sees: the pretext window and dataset, the health windows, labelled
  clips, the epoch sampler, crop and flip;
- ``open.py``   the one place a ``--data`` argument is read; ``failures.py`` unreadable videos
  reported from DataLoader workers.
"""

from skipclip.batch import PretextBatch
from skipclip.data.catalog.carve import CoverageWarning, carve
from skipclip.data.catalog.doctor import DoctorReport, examine, wrap_names
from skipclip.data.catalog.index import (
    MAX_CLASSES,
    DatasetIndex,
    SplitError,
    VideoEntry,
    list_videos,
    select,
    split_of,
)
from skipclip.data.catalog.layouts import EXPECTED, load_index
from skipclip.data.catalog.paths import PathEscapeError, contained, printable
from skipclip.data.failures import FAILED, collate, from_batch
from skipclip.data.open import (
    Splits,
    open_data,
    open_video,
    per_class,
    per_class_table,
    synthetic_sources,
    test_split_size,
)
from skipclip.data.sampling.clips import ClipDataset, sliding_windows
from skipclip.data.sampling.crop_flip import random_crop_flip, resize_short_side
from skipclip.data.sampling.epoch_sampler import EpochSampler, epoch_loader
from skipclip.data.sampling.health import HEALTH_STRIDE, HealthDataset, health_windows
from skipclip.data.sampling.jpeg_batch import JPEGS, DeferredBatch, DeferredFrames, decode_batch
from skipclip.data.sampling.pretext import PretextDataset
from skipclip.data.sampling.video_windows import VideoWindows, centre_window
from skipclip.data.sampling.window import PretextWindow
from skipclip.data.sources.base import (
    InMemorySource,
    MachineFaultError,
    SubsetSource,
    VideoReadError,
    VideoSource,
)
from skipclip.data.sources.files import VideoFileSource
from skipclip.data.sources.synthetic import SyntheticSource
from skipclip.data.sources.synthetic_ucf101 import write_synthetic_ucf101
from skipclip.data.store.prepare import prepare
from skipclip.data.store.prepare_report import PrepareReport
from skipclip.data.store.prepared import (
    MANIFEST,
    PreparedStore,
    load_manifest,
    manifest_entries,
)
from skipclip.data.video.pyav import (
    VideoInfo,
    decode,
    is_video_file,
    probe,
)
from skipclip.data.video.writer import write_video

__all__ = [
    "EXPECTED",
    "FAILED",
    "MANIFEST",
    "ClipDataset",
    "CoverageWarning",
    "DatasetIndex",
    "DoctorReport",
    "EpochSampler",
    "InMemorySource",
    "PathEscapeError",
    "PrepareReport",
    "PreparedStore",
    "PretextBatch",
    "PretextDataset",
    "PretextWindow",
    "SplitError",
    "Splits",
    "SubsetSource",
    "SyntheticSource",
    "VideoEntry",
    "VideoFileSource",
    "VideoInfo",
    "VideoReadError",
    "VideoSource",
    "carve",
    "collate",
    "contained",
    "decode",
    "epoch_loader",
    "examine",
    "from_batch",
    "is_video_file",
    "list_videos",
    "load_index",
    "load_manifest",
    "manifest_entries",
    "open_data",
    "open_video",
    "per_class",
    "per_class_table",
    "prepare",
    "printable",
    "probe",
    "random_crop_flip",
    "resize_short_side",
    "select",
    "sliding_windows",
    "split_of",
    "synthetic_sources",
    "wrap_names",
    "write_synthetic_ucf101",
    "write_video",
    "HEALTH_STRIDE",
    "HealthDataset",
    "health_windows",  # sampling/health.py
    "JPEGS",
    "DeferredBatch",
    "DeferredFrames",
    "decode_batch",  # sampling/jpeg_batch.py
    "VideoWindows",
    "centre_window",  # sampling/video_windows.py
    "test_split_size",  # open.py
    "MAX_CLASSES",
    "MachineFaultError",
]
