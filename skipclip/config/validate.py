"""Validation of every configuration value: ranges and the options' compatibility, each error
naming the key, the value and what would be accepted."""

from __future__ import annotations

from dataclasses import fields

from skipclip.config.bounds import check_patterns, check_sizes, named
from skipclip.config.budget import finetune_budget, pretrain_budget
from skipclip.config.sections import CONTEXT_ARCHS, INFLATABLE_ARCHS, LAYOUTS, Config
from skipclip.errors import InvalidInputError

MAX_DEVICES = 4096  # device ids in trainer.devices
MAX_WIDTH = 512  # model.width: 8x the paper's 64 (a 3D ResNet-18 of ~2 billion parameters)
_EXPECTED = {"bool": "a boolean (true or false)", "int": "an integer", "float": "a number", "str": "a string"}


def _type_ok(kind: str, v) -> bool:
    if kind == "bool":
        return isinstance(v, bool)
    if kind == "int":
        return isinstance(v, int) and not isinstance(v, bool)
    if kind == "float":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if kind == "str":
        return isinstance(v, str)
    return True  # "Any": checked by the range checks below


def _hint(kind: str, v) -> str:
    if not isinstance(v, str):
        return ""
    if kind == "bool" and v.lower() in ("true", "false", "yes", "no", "on", "off", "0", "1"):
        return "; write true or false without quotes"
    try:
        float(v)
    except ValueError:
        return ""
    if kind not in ("int", "float"):
        return ""
    if "e" in v.lower() and "." not in v:
        return f"; YAML reads {v} without a dot as text: write it as {float(v):.1e}"
    return "; write the number without quotes"


def check_types(cfg: Config) -> Config:
    """Every value has its field's type: booleans are booleans (not ``"false"``, not 0), integers
    are integers (not ``true``, not ``"56"``), numbers are int or float, strings are strings. Run
    before the range checks, so a wrong type is a clear message rather than a ``TypeError``.

    Raises:
        ValueError: naming the key, the expected type and the value given.
    """
    for section in fields(cfg):
        values = getattr(cfg, section.name)
        for f in fields(values):
            kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "Any")
            optional = kind.endswith(" | None")
            kind = kind.removesuffix(" | None")
            v = getattr(values, f.name)
            if isinstance(v, int) and not isinstance(v, bool) and not -(2**63) <= v < 2**63:
                raise InvalidInputError(
                    f"{section.name}.{f.name} is an integer of {v.bit_length()} bits; a "
                    "configuration value is below 2**63"
                )
            if (
                (kind not in _EXPECTED or optional) and kind != "bool" and _holds_bool(v)
            ):  # no free-typed key takes a boolean
                raise InvalidInputError(
                    f"{section.name}.{f.name} must not be a boolean, got {v!r}: YAML reads "
                    "yes/no/on/off/true/false as booleans; write a number (or null, or "
                    "'auto' where the key allows it)"
                )
            if kind in _EXPECTED and not (optional and v is None) and not _type_ok(kind, v):
                raise InvalidInputError(
                    f"{section.name}.{f.name} must be {_EXPECTED[kind]}"
                    f"{' or null' if optional else ''}, got {shown(v)} ({type(v).__name__})"
                    f"{_hint(kind, v)}"
                )
    check_open_fields(cfg)
    return cfg


def _holds_bool(v) -> bool:
    """A boolean, or a list holding one (``trainer.devices: [true]``)."""
    return isinstance(v, bool) or (isinstance(v, (list, tuple)) and any(isinstance(x, bool) for x in v))


def shown(v) -> str:
    """``repr(v)`` for a scalar, else its type and size: a value from a file may be huge or nested."""
    if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > 64:
        return f"an integer of {v.bit_length()} bits"
    if isinstance(v, (bool, int, float, type(None))) or (isinstance(v, str) and len(v) <= 80):
        return repr(v)
    return f"a {type(v).__name__} of {len(v)} items" if isinstance(v, (list, dict)) else f"a long {type(v).__name__}"


def _count(v, low: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= low


def check_open_fields(cfg: Config) -> None:
    """The fields typed ``Any`` or ``X | None`` whose values are not ranged below: optional step
    counts, ``trainer.devices``, ``data.layout`` and ``data.group_pattern``.

    Raises:
        InvalidInputError: naming the key, what it accepts and what it got.
    """
    for section in fields(cfg):  # no list or mapping where a scalar goes (its repr alone may be huge)
        for f in fields(getattr(cfg, section.name)):
            v = getattr(getattr(cfg, section.name), f.name)
            _check(
                isinstance(v, (str, int, float, type(None))) or f"{section.name}.{f.name}" == "trainer.devices",
                f"{section.name}.{f.name} must be a single value, got {shown(v)}",
            )
    for name in ("optim.max_steps", "optim.val_every_steps", "finetune.max_steps", "finetune.val_every_steps"):
        section, key = name.split(".")
        v = getattr(getattr(cfg, section), key)
        _check(v is None or _count(v, 1), f"{name} must be null or an integer >= 1, got {shown(v)}")
    d = cfg.trainer.devices
    _check(
        d == "auto"
        or _count(d, 1)
        or (
            isinstance(d, list)
            and 0 < len(d) <= MAX_DEVICES
            and all(_count(i, 0) and i < MAX_DEVICES for i in d)
            and len(set(d)) == len(d)
        ),
        f"trainer.devices must be 'auto', a count >= 1 or a list of distinct device ids (integers in "
        f"[0, {MAX_DEVICES})), got {shown(d)}",
    )
    layout = cfg.data.layout
    _check(
        layout is None or layout in LAYOUTS,
        f"data.layout must be null (detect it) or one of {', '.join(LAYOUTS)}, got {shown(layout)}",
    )
    check_patterns(cfg)


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


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise InvalidInputError(message)


def _check_options(cfg: Config) -> None:
    """The options beyond the paper: the contrastive term's form and temperature, and ``model.init_context_from_frame``, which inflates f's 2D kernels into g (g
    needs full 3D kernels, 1x1x1 conv shortcuts that f's downsample convolutions fill, and f 3
    input channels, d = 1)."""
    m, p = cfg.model, cfg.pretext
    _check(
        p.contrastive in ("hinge", "infonce"),
        f"pretext.contrastive must be 'hinge' (Eq. 2, the paper) or 'infonce', got {p.contrastive!r}",
    )
    _check(
        isinstance(p.temperature, (int, float)) and 0 < p.temperature <= 10,
        f"pretext.temperature must be in (0, 10] (InfoNCE's, on cosine scores), got {p.temperature!r}",
    )
    if not m.init_context_from_frame:
        return
    _check(
        m.context_arch in INFLATABLE_ARCHS,
        f"model.init_context_from_frame needs model.context_arch {' or '.join(INFLATABLE_ARCHS)} (full 3D "
        f"kernels), got {m.context_arch!r}",
    )
    _check(
        m.shortcut == "B",
        f"model.init_context_from_frame needs model.shortcut B (f's 1x1 downsample convolutions fill g's), "
        f"got {m.shortcut!r}",
    )
    _check(
        p.target_length == 1,
        f"model.init_context_from_frame needs pretext.target_length 1 (f then reads 3 channels, as g), "
        f"got {p.target_length!r}",
    )


def validate(cfg: Config, where: str | None = None) -> Config:
    """Check every value's type (:func:`check_types`), then its range and the options' compatibility.

    Args:
        where: the file the configuration came from (a YAML file, a checkpoint), named in front of
            every message.

    Raises:
        ValueError: naming the file, the offending key and value, and what would be accepted.
    """
    try:
        return _validate(cfg)
    except InvalidInputError as exc:
        raise named(where, exc) from None


def _validate(cfg: Config) -> Config:
    check_types(cfg)
    check_sizes(cfg)
    _check_pretext(cfg.pretext)
    _check_model(cfg.model)
    _check_options(cfg)
    _check_data(cfg.data, cfg)
    _check_optim(cfg.optim)
    _check_trainer(cfg.trainer)
    for section, budget in (("optim", pretrain_budget), ("finetune", finetune_budget)):
        try:
            budget(cfg)
        except ValueError as e:
            raise InvalidInputError(f"{section}.{e}") from None
    validate_finetune(cfg)
    return cfg


def _check_pretext(p) -> None:
    """The pretext section's ranges (K, M, r, d, margins, negatives, augmentation)."""
    _check(
        isinstance(p.context_frames, int) and p.context_frames >= 1,
        f"pretext.context_frames (K) must be an integer >= 1, got {p.context_frames!r}",
    )
    _check(
        isinstance(p.num_targets, int) and p.num_targets >= 2,
        f"pretext.num_targets (M) must be an integer >= 2 (ranking needs a pair), got {p.num_targets!r}",
    )
    _check(
        isinstance(p.sampling_rate, int) and p.sampling_rate >= 1,
        f"pretext.sampling_rate (r) must be an integer >= 1, got {p.sampling_rate!r}",
    )
    _check(
        isinstance(p.target_length, int) and p.target_length >= 1,
        f"pretext.target_length (d) must be an integer >= 1, got {p.target_length!r}",
    )
    _check(
        p.target_length <= p.sampling_rate,
        f"pretext.target_length (d={p.target_length}) must not exceed the sampling rate "
        f"(r={p.sampling_rate}), or target clips would overlap",
    )
    for name in ("rank_margin", "neg_margin"):
        v = getattr(p, name)
        _check(
            isinstance(v, (int, float)) and 0 <= v <= 2,
            f"pretext.{name} must be in [0, 2] (scores are cosine similarities), got {v!r}",
        )
    for name in ("reverse_prob", "flip_prob"):
        v = getattr(p, name)
        _check(isinstance(v, (int, float)) and 0 <= v <= 1, f"pretext.{name} must be in [0, 1], got {v!r}")
    _check(
        isinstance(p.health_windows, int) and p.health_windows >= 0,
        f"pretext.health_windows must be an integer >= 0 (0: no pretext health), got {p.health_windows!r}",
    )
    _check(
        isinstance(p.precise_bn_batches, int)
        and not isinstance(p.precise_bn_batches, bool)
        and p.precise_bn_batches >= 0,
        f"pretext.precise_bn_batches must be an integer >= 0 (0: training's running averages), "
        f"got {p.precise_bn_batches!r}",
    )


def _check_model(m) -> None:
    """The model section: architecture, width, shortcut type."""
    _check(
        m.context_arch in CONTEXT_ARCHS,
        f"model.context_arch must be one of {', '.join(CONTEXT_ARCHS)}, got {m.context_arch!r}",
    )
    _check(
        isinstance(m.width, int) and 4 <= m.width <= MAX_WIDTH and m.width % 4 == 0,
        f"model.width must be a multiple of 4 in [4, {MAX_WIDTH}] (64 = the paper's), got {m.width!r}",
    )
    _check(
        m.shortcut in ("A", "B"),
        f"model.shortcut must be 'A' (zero-padding identity, Hara et al.) or 'B' (1x1x1 conv + BN), got {m.shortcut!r}",
    )
    _check(
        m.last_stride in (1, 2) and not isinstance(m.last_stride, bool),
        f"model.last_stride must be 2 (the paper's ResNet-18s) or 1 (no spatial stride in the last stage: "
        f"a finer cell grid), got {m.last_stride!r}",
    )


def _check_data(d, cfg: Config) -> None:
    """The data section: sizes, batch, loader, splits, synthetic set."""
    _check(
        isinstance(d.crop_size, int) and d.crop_size >= 16,
        f"data.crop_size must be an integer >= 16, got {d.crop_size!r}",
    )
    _check(
        isinstance(d.short_side, int) and d.short_side >= d.crop_size,
        f"data.crop_size ({d.crop_size}) must not be larger than data.short_side ({d.short_side}), "
        "the size frames are resized to; lower the crop or raise the short side",
    )
    _check(
        d.synthetic_size >= d.crop_size,
        f"data.crop_size ({d.crop_size}) must not be larger than the synthetic frames "
        f"(data.synthetic_size={d.synthetic_size})",
    )
    _check(
        isinstance(d.batch_size, int) and d.batch_size >= 2,
        f"data.batch_size must be >= 2 (negatives come from other videos in the batch), got {d.batch_size!r}",
    )
    _check(
        d.batch_per in ("device", "global"),
        f"data.batch_per must be 'device' (batch_size per process) or 'global' (batch_size split over "
        f"the processes), got {d.batch_per!r}",
    )
    _check(
        isinstance(d.num_workers, int) and d.num_workers >= 0, f"data.num_workers must be >= 0, got {d.num_workers!r}"
    )
    _check(
        isinstance(d.prefetch, int) and not isinstance(d.prefetch, bool) and d.prefetch >= 0,
        f"data.prefetch must be an integer >= 0 batches read ahead (0: none), got {d.prefetch!r}",
    )
    _check(isinstance(d.gpu_decode, bool), f"data.gpu_decode must be true or false, got {d.gpu_decode!r}")
    _check(d.loader_timeout >= 0, f"data.loader_timeout must be >= 0 seconds (0: no limit), got {d.loader_timeout!r}")
    _check(0 <= d.val_fraction < 1, f"data.val_fraction must be in [0, 1), got {d.val_fraction!r}")
    _check(0 < d.test_fraction < 1, f"data.test_fraction must be in (0, 1), got {d.test_fraction!r}")
    _check(
        d.val_fallback in ("videos", "skip", "error"),
        f"data.val_fallback must be videos, skip or error, got {d.val_fallback!r}",
    )
    _check(
        d.synthetic_frames >= cfg.window_length,
        f"data.synthetic_frames ({d.synthetic_frames}) is shorter than the pretext window "
        f"K + M*r + d - 1 = {cfg.window_length}; raise it or shorten the window",
    )
    _check(d.synthetic_classes >= 2, f"data.synthetic_classes must be >= 2, got {d.synthetic_classes!r}")
    _check(
        d.synthetic_videos_per_class >= 2,
        f"data.synthetic_videos_per_class must be >= 2, got {d.synthetic_videos_per_class!r}",
    )


def _check_optim(o) -> None:
    """The pretraining optimiser and schedule."""
    _check(isinstance(o.lr, (int, float)) and o.lr > 0, f"optim.lr must be > 0, got {o.lr!r}")
    _check(
        isinstance(o.weight_decay, (int, float)) and o.weight_decay >= 0,
        f"optim.weight_decay must be >= 0, got {o.weight_decay!r}",
    )
    _check(
        isinstance(o.lr_step_epochs, int) and o.lr_step_epochs >= 1,
        f"optim.lr_step_epochs must be an integer >= 1, got {o.lr_step_epochs!r}",
    )
    _check(0 < o.lr_gamma <= 1, f"optim.lr_gamma must be in (0, 1], got {o.lr_gamma!r}")
    _check(
        isinstance(o.max_epochs, int) and o.max_epochs >= 1,
        f"optim.max_epochs must be an integer >= 1, got {o.max_epochs!r}",
    )


def _check_trainer(t) -> None:
    """The trainer section: precision, devices, seeds, logging, budgets."""
    _check(
        t.precision in ("auto", "32-true", "32", "16-mixed", "bf16-mixed", "bf16-true", "64-true"),
        f"trainer.precision must be one of auto (bf16 where measured faster), 32-true, 16-mixed, bf16-mixed, "
        f"bf16-true, got {t.precision!r}",
    )
    _check(t.on_nonfinite in ("stop", "skip"), f"trainer.on_nonfinite must be 'stop' or 'skip', got {t.on_nonfinite!r}")
    _check(
        isinstance(t.checkpoint_keep, int) and t.checkpoint_keep >= 1,
        f"trainer.checkpoint_keep must be >= 1, got {t.checkpoint_keep!r}",
    )
    _check(
        t.precision != "16-mixed" or t.accelerator != "cpu",
        "trainer.precision 16-mixed needs a GPU; on CPU use 32-true or bf16-mixed",
    )
    _check(
        t.accelerator in ("cpu", "gpu", "cuda", "mps", "auto"),
        f"trainer.accelerator must be cpu, gpu, cuda, mps or auto, got {t.accelerator!r}",
    )
    _check(
        not (isinstance(t.devices, list) and t.accelerator == "cpu"),
        f"trainer.devices {t.devices!r} is a list of GPU ids, but trainer.accelerator is cpu: on CPU give a "
        "process count (e.g. 1 or 2)",
    )
    _check(
        isinstance(t.num_nodes, int) and t.num_nodes >= 1,
        f"trainer.num_nodes must be an integer >= 1, got {t.num_nodes!r}",
    )
    _check(
        isinstance(t.seed, int) and 0 <= t.seed < 2**32,
        f"trainer.seed must be an integer in [0, 2**32), got {t.seed!r}",
    )
    _check(
        isinstance(t.log_every_n_steps, int) and t.log_every_n_steps >= 1,
        f"trainer.log_every_n_steps must be an integer >= 1, got {t.log_every_n_steps!r}",
    )
    _check(
        isinstance(t.health_every, int) and not isinstance(t.health_every, bool) and t.health_every >= 0,
        f"trainer.health_every must be an integer >= 0 validations (0: at the end only), got {t.health_every!r}",
    )
    _check(
        isinstance(t.knn_every, int) and t.knn_every >= 0,
        f"trainer.knn_every must be an integer >= 0 validations (0: no online kNN), got {t.knn_every!r}",
    )
    ltb = t.limit_train_batches
    _check(
        (isinstance(ltb, float) and 0 < ltb <= 1) or (isinstance(ltb, int) and not isinstance(ltb, bool) and ltb >= 1),
        f"trainer.limit_train_batches must be a fraction in (0, 1] or a batch count >= 1, got {ltb!r}",
    )
    _check(
        t.time_budget_min is None or (isinstance(t.time_budget_min, (int, float)) and t.time_budget_min > 0),
        f"trainer.time_budget_min must be null or > 0 minutes, got {t.time_budget_min!r}",
    )
