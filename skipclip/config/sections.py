"""The sections of a run configuration (typed dataclasses) and their defaults."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

CONTEXT_ARCHS = ("r3d18_hara", "r3d_18", "r2plus1d_18")
INFLATABLE_ARCHS = ("r3d18_hara", "r3d_18")  # full 3D kernels: a 2D ResNet inflates into them
# data set layouts read as they ship (skipclip.data.catalog.layouts has one module each)
LAYOUTS = ("ucf101", "hmdb51", "ssv2", "kinetics", "lists", "splitdirs", "folder")


# keys of variants that were measured and lost (docs/results.md), with the value that meant the
# paper's behaviour: a saved configuration holding that value still loads (the key is dropped),
# any other value is refused with a message saying the option was removed
REMOVED_KEYS: dict[str, object] = {
    "model.init_context_taps": "mean",
    "pretext.rank_weight": 1.0,
    "pretext.rotation_input": "copies",
    "pretext.neg_reduce": "mean",
    "pretext.far_negatives": 0,
    "pretext.far_reduce": "mean",
}


@dataclass
class ModelConfig:
    """Encoders. ``width`` is the channel count of the first stage (64 = the paper's ResNet-18)."""

    context_arch: str = "r3d18_hara"
    width: int = 64
    # residual shortcut where a stage changes shape: "A" zero-padding identity with stride (Hara et
    # al.'s ResNet-18), "B" 1x1x1 conv + BN (torchvision's; what inflated 2D weights need)
    shortcut: str = "B"
    # g starts from f's initial weights inflated into 3D (I3D inflation) instead of its own random
    # initialisation (the paper: both from scratch); needs an inflatable arch, shortcut B and d = 1
    init_context_from_frame: bool = False
    # spatial stride of the last stage of both encoders: 2 (the paper's ResNet-18s, total stride 32:
    # 7 x 7 cells at 224 px, 2 x 2 at 48 px) or 1 (total stride 16: 4 x 4 cells at 52-64 px; the
    # same weights; experiments/cell_grid.py: 1.5-1.8x cpu-real's step time)
    last_stride: int = 2


@dataclass
class PretextConfig:
    """The Skip-Clip pretext task (section 3.1 of the paper)."""

    context_frames: int = 16  # K
    num_targets: int = 8  # M
    sampling_rate: int = 4  # r
    target_length: int = 1  # d
    rank_margin: float = 0.1  # delta_rank, Eq. 1
    neg_margin: float = 0.1  # delta_neg, Eq. 2
    rotation: bool = True
    negatives: bool = True
    # the term against other videos' frames: "hinge" (Eq. 2, the paper) or "infonce" (softmax over
    # the targets against other videos' targets, at pretext.temperature)
    contrastive: str = "hinge"
    temperature: float = 0.1
    reverse_prob: float = 0.5  # random reversal of the whole video before sampling
    flip_prob: float = 0.5  # horizontal flip, identical for context and targets
    # pretext health (docs/pretext-health.md): at most this many fixed windows of the held-out
    # videos, and as many of the training videos, measured at every validation (0: none)
    health_windows: int = 256
    # precise batch norm (docs/pretext-health.md): batch-norm statistics of g and f recomputed on
    # this many fixed batches of training windows before every health measurement, online kNN and
    # the final checkpoint (0: keep training's running averages)
    precise_bn_batches: int = 16


@dataclass
class DataConfig:
    """Input pipeline. ``crop_size`` is the square crop fed to both encoders."""

    crop_size: int = 224
    short_side: int = 256
    batch_size: int = 128
    # "device": batch_size videos per process (global batch = batch_size x world size);
    # "global": batch_size is the global batch, split evenly over the processes
    batch_per: str = "device"
    num_workers: int = 4
    loader_timeout: float = 600.0  # seconds a loader worker may take for one batch (0: no limit)
    # without workers (num_workers: 0), batches read this far ahead on a background thread while
    # the model trains, across epoch ends (0: read in turn); the batches are the same either way
    prefetch: int = 2
    # on a CUDA GPU, a prepared store's JPEG frames are decoded on the GPU in batches (nvjpeg)
    # instead of by the loader on the CPU; CPU runs and other sources always decode on the CPU
    gpu_decode: bool = True
    # a prepared store's decoded training frames kept in memory, least recently used out, up to
    # this many MB per loading process (each loader worker keeps its own; 0: none): a short run
    # on a small store then decodes each frame once, not once per epoch; a split whose frames all
    # fit is decoded video by video, whole, the first time each video is read
    frame_cache_mb: int = 512
    val_fraction: float = 0.1
    val_fallback: str = "videos"  # classes whose groups cannot be held out: "videos" | "skip" | "error"
    # raw folders: force a layout; a folder without split files holds out this share of each
    # class as test; a regular expression whose match is a video's leakage group
    layout: str | None = None
    test_fraction: float = 0.2
    group_pattern: str | None = None
    label_pattern: str | None = None  # folder layout: the first group, searched in a path, is the class
    # built-in synthetic data set
    synthetic_classes: int = 8
    synthetic_videos_per_class: int = 60
    synthetic_frames: int = 64
    synthetic_size: int = 256


@dataclass
class OptimConfig:
    """Adam with a step schedule (Appendix B: lr 3e-4 x0.1 every 200 epochs, wd 1e-7)."""

    lr: float = 3e-4
    weight_decay: float = 1e-7
    lr_step_epochs: int = 200
    lr_gamma: float = 0.1
    max_epochs: int = 600  # the budget without max_steps; the schedule's nominal epochs with it
    max_steps: int | None = None  # optimiser steps (engine/budget.py); None: train max_epochs epochs
    val_every_steps: int | None = None  # steps between validations under max_steps (None: a tenth)


@dataclass
class TrainerConfig:
    """What Lightning's Trainer receives."""

    accelerator: str = "auto"
    devices: int | str | list[int] = "auto"  # "auto", a count, or device ids
    num_nodes: int = 1
    precision: str = "32-true"
    seed: int = 0
    deterministic: bool = False
    log_every_n_steps: int = 10
    limit_train_batches: int | float = 1.0
    checkpoint_keep: int = 3
    compile: bool = False
    channels_last: bool = True
    on_nonfinite: str = "stop"  # "stop" | "skip"
    time_budget_min: float | None = None  # wall-time cap of a pretraining or fine-tuning run, minutes
    # pretraining on labelled data: kNN top-1 of frozen g features every this many validations (0: never)
    knn_every: int = 1
    # pretext health of the model every this many validations (0: at the end only); the
    # baselines come with the first measurement (docs/pretext-health.md)
    health_every: int = 1


@dataclass
class FinetuneConfig:
    """Fine-tuning g for action recognition (section 4.2 of the paper): Adam, lr 5e-4 x0.5 every
    15 epochs up to the 60th, weight decay 1e-2, 300 epochs, 16-frame 112x112 random crops.

    ``None`` sizes follow pretraining: ``pretext.context_frames``, ``data.crop_size``,
    ``data.short_side``. ``window_stride`` ``None`` = ``clip_frames`` (non-overlapping test windows).
    """

    lr: float = 5e-4
    weight_decay: float = 1e-2
    lr_step_epochs: int = 15
    lr_gamma: float = 0.5
    lr_last_step_epoch: int = 60
    max_epochs: int = 300
    clip_frames: int | None = None
    crop_size: int | None = None
    short_side: int | None = None
    window_stride: int | None = None
    batch_size: int = 32
    dropout: float = 0.0
    flip_prob: float = 0.5  # random horizontal flip of training clips (the paper names random crops only)
    val_every: int = 1  # epochs between validations (model selection) under an epoch budget
    # share of the training list held out (by group) for validation; None = data.val_fraction
    val_fraction: float | None = None
    # "best": keep the epoch with the best validation video top-1; "last": keep the last epoch
    selection: str = "best"
    max_steps: int | None = None  # optimiser steps (engine/budget.py); None: train max_epochs epochs
    val_every_steps: int | None = None  # steps between validations under max_steps (None: a tenth)


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    pretext: PretextConfig = field(default_factory=PretextConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def window_length(self) -> int:
        """Frames a pretext sample spans: K + M*r + d - 1."""
        p = self.pretext
        return p.context_frames + p.num_targets * p.sampling_rate + p.target_length - 1
