"""The range of every configuration value and the options' compatibility, section by section,
each error naming the key, the value and what would be accepted (types are checked before, by
:mod:`.value_types`; upper bounds of sizes by :mod:`.bounds`)."""

from __future__ import annotations

from skipclip.config.bounds import MAX_WIDTH
from skipclip.config.messages import require
from skipclip.config.sections import CONTEXT_ARCHS, INFLATABLE_ARCHS, Config
from skipclip.errors import InvalidInputError


def check_options(cfg: Config) -> None:
    """The options beyond the paper: the contrastive term's form and temperature, and
    ``model.init_context_from_frame``, which inflates f's 2D kernels into g (g needs full 3D
    kernels, 1x1x1 conv shortcuts that f's downsample convolutions fill, and f 3 input channels,
    d = 1)."""
    m, p = cfg.model, cfg.pretext
    require(
        p.contrastive in ("hinge", "infonce"),
        f"pretext.contrastive must be 'hinge' (Eq. 2, the paper) or 'infonce', got {p.contrastive!r}",
    )
    require(
        isinstance(p.temperature, (int, float)) and 0 < p.temperature <= 10,
        f"pretext.temperature must be in (0, 10] (InfoNCE's, on cosine scores), got {p.temperature!r}",
    )
    if not m.init_context_from_frame:
        return
    require(
        m.context_arch in INFLATABLE_ARCHS,
        f"model.init_context_from_frame needs model.context_arch {' or '.join(INFLATABLE_ARCHS)} (full 3D "
        f"kernels), got {m.context_arch!r}",
    )
    require(
        m.shortcut == "B",
        f"model.init_context_from_frame needs model.shortcut B (f's 1x1 downsample convolutions fill g's), "
        f"got {m.shortcut!r}",
    )
    require(
        p.target_length == 1,
        f"model.init_context_from_frame needs pretext.target_length 1 (f then reads 3 channels, as g), "
        f"got {p.target_length!r}",
    )


def check_pretext(p) -> None:
    """The pretext section's ranges (K, M, r, d, margins, negatives, augmentation)."""
    require(
        isinstance(p.context_frames, int) and p.context_frames >= 1,
        f"pretext.context_frames (K) must be an integer >= 1, got {p.context_frames!r}",
    )
    require(
        isinstance(p.num_targets, int) and p.num_targets >= 2,
        f"pretext.num_targets (M) must be an integer >= 2 (ranking needs a pair), got {p.num_targets!r}",
    )
    require(
        isinstance(p.sampling_rate, int) and p.sampling_rate >= 1,
        f"pretext.sampling_rate (r) must be an integer >= 1, got {p.sampling_rate!r}",
    )
    require(
        isinstance(p.target_length, int) and p.target_length >= 1,
        f"pretext.target_length (d) must be an integer >= 1, got {p.target_length!r}",
    )
    require(
        p.target_length <= p.sampling_rate,
        f"pretext.target_length (d={p.target_length}) must not exceed the sampling rate "
        f"(r={p.sampling_rate}), or target clips would overlap",
    )
    for name in ("rank_margin", "neg_margin"):
        v = getattr(p, name)
        require(
            isinstance(v, (int, float)) and 0 <= v <= 2,
            f"pretext.{name} must be in [0, 2] (scores are cosine similarities), got {v!r}",
        )
    for name in ("reverse_prob", "flip_prob"):
        v = getattr(p, name)
        require(isinstance(v, (int, float)) and 0 <= v <= 1, f"pretext.{name} must be in [0, 1], got {v!r}")
    require(
        isinstance(p.health_windows, int) and p.health_windows >= 0,
        f"pretext.health_windows must be an integer >= 0 (0: no pretext health), got {p.health_windows!r}",
    )
    require(
        isinstance(p.precise_bn_batches, int)
        and not isinstance(p.precise_bn_batches, bool)
        and p.precise_bn_batches >= 0,
        f"pretext.precise_bn_batches must be an integer >= 0 (0: training's running averages), "
        f"got {p.precise_bn_batches!r}",
    )


def check_model(m) -> None:
    """The model section: architecture, width, shortcut type."""
    require(
        m.context_arch in CONTEXT_ARCHS,
        f"model.context_arch must be one of {', '.join(CONTEXT_ARCHS)}, got {m.context_arch!r}",
    )
    require(
        isinstance(m.width, int) and 4 <= m.width <= MAX_WIDTH and m.width % 4 == 0,
        f"model.width must be a multiple of 4 in [4, {MAX_WIDTH}] (64 = the paper's), got {m.width!r}",
    )
    require(
        m.shortcut in ("A", "B"),
        f"model.shortcut must be 'A' (zero-padding identity, Hara et al.) or 'B' (1x1x1 conv + BN), got {m.shortcut!r}",
    )
    require(
        m.last_stride in (1, 2) and not isinstance(m.last_stride, bool),
        f"model.last_stride must be 2 (the paper's ResNet-18s) or 1 (no spatial stride in the last stage: "
        f"a finer cell grid), got {m.last_stride!r}",
    )


def check_data(d, cfg: Config) -> None:
    """The data section: sizes, batch, loader, splits, synthetic set."""
    require(
        isinstance(d.crop_size, int) and d.crop_size >= 16,
        f"data.crop_size must be an integer >= 16, got {d.crop_size!r}",
    )
    require(
        isinstance(d.short_side, int) and d.short_side >= d.crop_size,
        f"data.crop_size ({d.crop_size}) must not be larger than data.short_side ({d.short_side}), "
        "the size frames are resized to; lower the crop or raise the short side",
    )
    require(
        d.synthetic_size >= d.crop_size,
        f"data.crop_size ({d.crop_size}) must not be larger than the synthetic frames "
        f"(data.synthetic_size={d.synthetic_size})",
    )
    require(
        isinstance(d.batch_size, int) and d.batch_size >= 2,
        f"data.batch_size must be >= 2 (negatives come from other videos in the batch), got {d.batch_size!r}",
    )
    require(
        d.batch_per in ("device", "global"),
        f"data.batch_per must be 'device' (batch_size per process) or 'global' (batch_size split over "
        f"the processes), got {d.batch_per!r}",
    )
    require(
        isinstance(d.num_workers, int) and d.num_workers >= 0, f"data.num_workers must be >= 0, got {d.num_workers!r}"
    )
    require(
        isinstance(d.prefetch, int) and not isinstance(d.prefetch, bool) and d.prefetch >= 0,
        f"data.prefetch must be an integer >= 0 batches read ahead (0: none), got {d.prefetch!r}",
    )
    require(
        isinstance(d.frame_cache_mb, int) and not isinstance(d.frame_cache_mb, bool) and d.frame_cache_mb >= 0,
        f"data.frame_cache_mb must be an integer >= 0 MB of decoded frames kept in memory (0: none), "
        f"got {d.frame_cache_mb!r}",
    )
    require(isinstance(d.gpu_decode, bool), f"data.gpu_decode must be true or false, got {d.gpu_decode!r}")
    require(d.loader_timeout >= 0, f"data.loader_timeout must be >= 0 seconds (0: no limit), got {d.loader_timeout!r}")
    require(0 <= d.val_fraction < 1, f"data.val_fraction must be in [0, 1), got {d.val_fraction!r}")
    require(0 < d.test_fraction < 1, f"data.test_fraction must be in (0, 1), got {d.test_fraction!r}")
    require(
        d.val_fallback in ("videos", "skip", "error"),
        f"data.val_fallback must be videos, skip or error, got {d.val_fallback!r}",
    )
    require(d.synthetic_classes >= 2, f"data.synthetic_classes must be >= 2, got {d.synthetic_classes!r}")
    require(
        d.synthetic_videos_per_class >= 2,
        f"data.synthetic_videos_per_class must be >= 2, got {d.synthetic_videos_per_class!r}",
    )


def check_optim(o) -> None:
    """The pretraining optimiser and schedule."""
    require(isinstance(o.lr, (int, float)) and o.lr > 0, f"optim.lr must be > 0, got {o.lr!r}")
    require(
        isinstance(o.weight_decay, (int, float)) and o.weight_decay >= 0,
        f"optim.weight_decay must be >= 0, got {o.weight_decay!r}",
    )
    require(
        isinstance(o.lr_step_epochs, int) and o.lr_step_epochs >= 1,
        f"optim.lr_step_epochs must be an integer >= 1, got {o.lr_step_epochs!r}",
    )
    require(0 < o.lr_gamma <= 1, f"optim.lr_gamma must be in (0, 1], got {o.lr_gamma!r}")
    require(
        isinstance(o.max_epochs, int) and o.max_epochs >= 1,
        f"optim.max_epochs must be an integer >= 1, got {o.max_epochs!r}",
    )


def check_trainer(t) -> None:
    """The trainer section: precision, devices, seeds, logging, budgets."""
    require(
        t.precision in ("auto", "32-true", "32", "16-mixed", "bf16-mixed", "bf16-true", "64-true"),
        f"trainer.precision must be one of auto (bf16 where measured faster), 32-true, 16-mixed, bf16-mixed, "
        f"bf16-true, got {t.precision!r}",
    )
    require(
        t.on_nonfinite in ("stop", "skip"), f"trainer.on_nonfinite must be 'stop' or 'skip', got {t.on_nonfinite!r}"
    )
    require(
        isinstance(t.checkpoint_keep, int) and t.checkpoint_keep >= 1,
        f"trainer.checkpoint_keep must be >= 1, got {t.checkpoint_keep!r}",
    )
    require(
        t.precision != "16-mixed" or t.accelerator != "cpu",
        "trainer.precision 16-mixed needs a GPU; on CPU use 32-true or bf16-mixed",
    )
    require(
        t.accelerator in ("cpu", "gpu", "cuda", "mps", "auto"),
        f"trainer.accelerator must be cpu, gpu, cuda, mps or auto, got {t.accelerator!r}",
    )
    require(
        not (isinstance(t.devices, list) and t.accelerator == "cpu"),
        f"trainer.devices {t.devices!r} is a list of GPU ids, but trainer.accelerator is cpu: on CPU give a "
        "process count (e.g. 1 or 2)",
    )
    require(
        isinstance(t.num_nodes, int) and t.num_nodes >= 1,
        f"trainer.num_nodes must be an integer >= 1, got {t.num_nodes!r}",
    )
    require(
        isinstance(t.seed, int) and 0 <= t.seed < 2**32,
        f"trainer.seed must be an integer in [0, 2**32), got {t.seed!r}",
    )
    require(
        isinstance(t.log_every_n_steps, int) and t.log_every_n_steps >= 1,
        f"trainer.log_every_n_steps must be an integer >= 1, got {t.log_every_n_steps!r}",
    )
    require(
        isinstance(t.health_every, int) and not isinstance(t.health_every, bool) and t.health_every >= 0,
        f"trainer.health_every must be an integer >= 0 validations (0: at the end only), got {t.health_every!r}",
    )
    require(
        isinstance(t.knn_every, int) and t.knn_every >= 0,
        f"trainer.knn_every must be an integer >= 0 validations (0: no online kNN), got {t.knn_every!r}",
    )
    ltb = t.limit_train_batches
    require(
        (isinstance(ltb, float) and 0 < ltb <= 1) or (isinstance(ltb, int) and not isinstance(ltb, bool) and ltb >= 1),
        f"trainer.limit_train_batches must be a fraction in (0, 1] or a batch count >= 1, got {ltb!r}",
    )
    require(
        t.time_budget_min is None or (isinstance(t.time_budget_min, (int, float)) and t.time_budget_min > 0),
        f"trainer.time_budget_min must be null or > 0 minutes, got {t.time_budget_min!r}",
    )


def validate_finetune(cfg: Config) -> None:
    """Ranges of the ``finetune`` section. Raises ValueError naming the key."""
    f = cfg.finetune
    for name in ("lr", "weight_decay"):
        v = getattr(f, name)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0 or (name == "lr" and v == 0):
            raise InvalidInputError(f"finetune.{name} must be {'> 0' if name == 'lr' else '>= 0'}, got {v!r}")
    for name in ("lr_step_epochs", "lr_last_step_epoch", "max_epochs", "batch_size", "val_every"):
        v = getattr(f, name)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise InvalidInputError(f"finetune.{name} must be an integer >= 1, got {v!r}")
    if not (isinstance(f.lr_gamma, (int, float)) and 0 < f.lr_gamma <= 1):
        raise InvalidInputError(f"finetune.lr_gamma must be in (0, 1], got {f.lr_gamma!r}")
    if not (isinstance(f.dropout, (int, float)) and 0 <= f.dropout < 1):
        raise InvalidInputError(f"finetune.dropout must be in [0, 1), got {f.dropout!r}")
    if not (isinstance(f.flip_prob, (int, float)) and 0 <= f.flip_prob <= 1):
        raise InvalidInputError(
            f"finetune.flip_prob must be in [0, 1] (0: the paper's random crops only), got {f.flip_prob!r}"
        )
    for name, low in (("clip_frames", 1), ("crop_size", 16), ("short_side", 16), ("window_stride", 1)):
        v = getattr(f, name)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < low):
            raise InvalidInputError(
                f"finetune.{name} must be null (follow pretraining) or an integer >= {low}, got {v!r}"
            )
    if f.val_fraction is not None and (
        isinstance(f.val_fraction, bool) or not isinstance(f.val_fraction, (int, float)) or not 0 <= f.val_fraction < 1
    ):
        raise InvalidInputError(
            f"finetune.val_fraction must be null (follow data.val_fraction) or in [0, 1), got {f.val_fraction!r}"
        )
    if f.selection not in ("best", "last"):
        raise InvalidInputError(
            f"finetune.selection must be 'best' (best validation epoch) or 'last' (last epoch), got {f.selection!r}"
        )
    crop = f.crop_size if f.crop_size is not None else cfg.data.crop_size
    short = f.short_side if f.short_side is not None else cfg.data.short_side
    if crop > short:
        raise InvalidInputError(
            f"finetune crop ({crop}) must not be larger than the short side frames are resized "
            f"to ({short}); lower finetune.crop_size or raise finetune.short_side"
        )


def check_synthetic_window(cfg: Config) -> None:
    """The synthetic videos hold the pretext window: checked only for a run on them (a store's or a
    folder's videos shorter than the window are skipped and counted where they are read).

    Raises:
        InvalidInputError: ``data.synthetic_frames`` is shorter than K + M*r + d - 1.
    """
    d = cfg.data
    require(
        d.synthetic_frames >= cfg.window_length,
        f"data.synthetic_frames ({d.synthetic_frames}) is shorter than the pretext window "
        f"K + M*r + d - 1 = {cfg.window_length}; raise it or shorten the window",
    )
