"""Run configuration: typed sections, YAML presets, command-line overrides and validation.

A configuration is a :class:`Config` of five sections. Presets live in ``skipclip/configs/*.yaml``
(``configs/`` at the repository root points there); ``load_config`` takes a preset name or a
path, applies overrides and validates every value before any work starts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields, asdict
from pathlib import Path
from typing import Any, Mapping

import yaml

PRESET_DIR = Path(__file__).parent / "configs"

CONTEXT_ARCHS = ("r3d18_hara", "r3d_18", "r2plus1d_18")


@dataclass
class ModelConfig:
    """Encoders. ``width`` is the channel count of the first stage (64 = the paper's ResNet-18)."""

    context_arch: str = "r3d18_hara"
    width: int = 64


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
    rotation_input: str = "copies"  # "copies": separate rotated copies; "targets": rank rotated targets
    reverse_prob: float = 0.5  # random reversal of the whole video before sampling
    flip_prob: float = 0.5  # horizontal flip, identical for context and targets


@dataclass
class DataConfig:
    """Input pipeline. ``crop_size`` is the square crop fed to both encoders."""

    crop_size: int = 224
    short_side: int = 256
    batch_size: int = 128
    num_workers: int = 4
    val_fraction: float = 0.1
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
    max_epochs: int = 600


@dataclass
class TrainerConfig:
    """What Lightning's Trainer receives."""

    accelerator: str = "auto"
    devices: Any = "auto"
    num_nodes: int = 1
    precision: str = "32-true"
    seed: int = 0
    deterministic: bool = False
    log_every_n_steps: int = 10
    limit_train_batches: Any = 1.0
    checkpoint_keep: int = 3
    compile: bool = False
    channels_last: bool = True
    on_nonfinite: str = "stop"  # "stop" | "skip"


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
    clip_frames: Any = None
    crop_size: Any = None
    short_side: Any = None
    window_stride: Any = None
    batch_size: int = 32
    dropout: float = 0.0
    val_every: int = 1  # epochs between validations (model selection)


def validate_finetune(cfg: "Config") -> None:
    """Ranges of the ``finetune`` section. Raises ValueError naming the key."""
    f = cfg.finetune
    for name in ("lr", "weight_decay"):
        v = getattr(f, name)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0 or (name == "lr" and v == 0):
            raise ValueError(f"finetune.{name} must be {'> 0' if name == 'lr' else '>= 0'}, got {v!r}")
    for name in ("lr_step_epochs", "lr_last_step_epoch", "max_epochs", "batch_size", "val_every"):
        v = getattr(f, name)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"finetune.{name} must be an integer >= 1, got {v!r}")
    if not (isinstance(f.lr_gamma, (int, float)) and 0 < f.lr_gamma <= 1):
        raise ValueError(f"finetune.lr_gamma must be in (0, 1], got {f.lr_gamma!r}")
    if not (isinstance(f.dropout, (int, float)) and 0 <= f.dropout < 1):
        raise ValueError(f"finetune.dropout must be in [0, 1), got {f.dropout!r}")
    for name, low in (("clip_frames", 1), ("crop_size", 16), ("short_side", 16), ("window_stride", 1)):
        v = getattr(f, name)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < low):
            raise ValueError(f"finetune.{name} must be null (follow pretraining) or an integer >= {low}, got {v!r}")
    crop = f.crop_size if f.crop_size is not None else cfg.data.crop_size
    short = f.short_side if f.short_side is not None else cfg.data.short_side
    if crop > short:
        raise ValueError(f"finetune crop ({crop}) must not be larger than the short side frames are resized "
                         f"to ({short}); lower finetune.crop_size or raise finetune.short_side")


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    pretext: PretextConfig = field(default_factory=PretextConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def window_length(self) -> int:
        """Frames a pretext sample spans: K + M*r + d - 1."""
        p = self.pretext
        return p.context_frames + p.num_targets * p.sampling_rate + p.target_length - 1


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def _merge_section(section: Any, values: Mapping[str, Any], where: str) -> None:
    known = {f.name: f for f in fields(section)}
    for key, value in values.items():
        if key not in known:
            raise ValueError(
                f"unknown key '{key}' in {where}; known keys: {', '.join(sorted(known))}"
            )
        setattr(section, key, value)


def config_from_dict(data: Mapping[str, Any], where: str = "config") -> Config:
    """Build a Config from nested mappings, rejecting unknown sections and keys."""
    cfg = Config()
    for name, values in (data or {}).items():
        if name not in {f.name for f in fields(Config)}:
            raise ValueError(
                f"unknown section '{name}' in {where}; known sections: "
                f"{', '.join(f.name for f in fields(Config))}"
            )
        if not isinstance(values, Mapping):
            raise ValueError(f"section '{name}' in {where} must be a mapping, got {values!r}")
        _merge_section(getattr(cfg, name), values, f"{where} section '{name}'")
    return cfg


def load_config(name_or_path: str | Path = "cpu", overrides: Mapping[str, Any] | None = None) -> Config:
    """Load a preset by name (``paper``, ``cpu``, ...) or a YAML file, then apply overrides.

    Args:
        name_or_path: a preset name from ``skipclip/configs`` or a path to a YAML file.
        overrides: dotted keys such as ``{"pretext.sampling_rate": 2}``; ``None`` values are ignored.

    Raises:
        ValueError: unknown preset, unknown key, or a value out of range (see ``validate``).
        FileNotFoundError: the path does not exist.
    """
    text_path = Path(str(name_or_path))
    if text_path.suffix in (".yaml", ".yml") or text_path.exists():
        if not text_path.exists():
            raise FileNotFoundError(f"config file {text_path} does not exist")
        path, where = text_path, str(text_path)
    else:
        path = PRESET_DIR / f"{name_or_path}.yaml"
        where = f"preset '{name_or_path}'"
        if not path.exists():
            raise ValueError(
                f"unknown preset '{name_or_path}'; choose one of {', '.join(preset_names())} "
                "or give a path to a YAML file"
            )
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, Mapping):
        raise ValueError(f"{path} must hold a mapping of sections, got {type(data).__name__}")
    cfg = config_from_dict(data, where)
    apply_overrides(cfg, overrides or {})
    validate(cfg)
    return cfg


def apply_overrides(cfg: Config, overrides: Mapping[str, Any]) -> Config:
    """Set dotted keys (``section.key``) on ``cfg``; ``None`` means "not given"."""
    for dotted, value in overrides.items():
        if value is None:
            continue
        section_name, _, key = dotted.partition(".")
        section = getattr(cfg, section_name, None)
        if section is None or not dataclasses.is_dataclass(section):
            raise ValueError(f"unknown config section in override '{dotted}'")
        _merge_section(section, {key: value}, f"override '{dotted}'")
    return cfg


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(message)


def validate(cfg: Config) -> Config:
    """Check every value's range and the options' compatibility.

    Raises:
        ValueError: naming the offending key and value, and what would be accepted.
    """
    p, d, o, m, t = cfg.pretext, cfg.data, cfg.optim, cfg.model, cfg.trainer
    _check(isinstance(p.context_frames, int) and p.context_frames >= 1,
           f"pretext.context_frames (K) must be an integer >= 1, got {p.context_frames!r}")
    _check(isinstance(p.num_targets, int) and p.num_targets >= 2,
           f"pretext.num_targets (M) must be an integer >= 2 (ranking needs a pair), got {p.num_targets!r}")
    _check(isinstance(p.sampling_rate, int) and p.sampling_rate >= 1,
           f"pretext.sampling_rate (r) must be an integer >= 1, got {p.sampling_rate!r}")
    _check(isinstance(p.target_length, int) and p.target_length >= 1,
           f"pretext.target_length (d) must be an integer >= 1, got {p.target_length!r}")
    _check(p.target_length <= p.sampling_rate,
           f"pretext.target_length (d={p.target_length}) must not exceed the sampling rate "
           f"(r={p.sampling_rate}), or target clips would overlap")
    for name in ("rank_margin", "neg_margin"):
        v = getattr(p, name)
        _check(isinstance(v, (int, float)) and 0 <= v <= 2,
               f"pretext.{name} must be in [0, 2] (scores are cosine similarities), got {v!r}")
    _check(p.rotation_input in ("copies", "targets"),
           f"pretext.rotation_input must be 'copies' or 'targets', got {p.rotation_input!r}")
    for name in ("reverse_prob", "flip_prob"):
        v = getattr(p, name)
        _check(isinstance(v, (int, float)) and 0 <= v <= 1, f"pretext.{name} must be in [0, 1], got {v!r}")
    _check(m.context_arch in CONTEXT_ARCHS,
           f"model.context_arch must be one of {', '.join(CONTEXT_ARCHS)}, got {m.context_arch!r}")
    _check(isinstance(m.width, int) and m.width >= 4 and m.width % 4 == 0,
           f"model.width must be a multiple of 4 and >= 4 (64 = the paper's), got {m.width!r}")
    _check(isinstance(d.crop_size, int) and d.crop_size >= 16,
           f"data.crop_size must be an integer >= 16, got {d.crop_size!r}")
    _check(isinstance(d.short_side, int) and d.short_side >= d.crop_size,
           f"data.crop_size ({d.crop_size}) must not be larger than data.short_side ({d.short_side}), "
           "the size frames are resized to; lower the crop or raise the short side")
    _check(d.synthetic_size >= d.crop_size,
           f"data.crop_size ({d.crop_size}) must not be larger than the synthetic frames "
           f"(data.synthetic_size={d.synthetic_size})")
    _check(isinstance(d.batch_size, int) and d.batch_size >= 2,
           f"data.batch_size must be >= 2 (negatives come from other videos in the batch), got {d.batch_size!r}")
    _check(isinstance(d.num_workers, int) and d.num_workers >= 0,
           f"data.num_workers must be >= 0, got {d.num_workers!r}")
    _check(0 <= d.val_fraction < 1, f"data.val_fraction must be in [0, 1), got {d.val_fraction!r}")
    _check(d.synthetic_frames >= cfg.window_length,
           f"data.synthetic_frames ({d.synthetic_frames}) is shorter than the pretext window "
           f"K + M*r + d - 1 = {cfg.window_length}; raise it or shorten the window")
    _check(d.synthetic_classes >= 2, f"data.synthetic_classes must be >= 2, got {d.synthetic_classes!r}")
    _check(d.synthetic_videos_per_class >= 2,
           f"data.synthetic_videos_per_class must be >= 2, got {d.synthetic_videos_per_class!r}")
    _check(isinstance(o.lr, (int, float)) and o.lr > 0, f"optim.lr must be > 0, got {o.lr!r}")
    _check(isinstance(o.weight_decay, (int, float)) and o.weight_decay >= 0,
           f"optim.weight_decay must be >= 0, got {o.weight_decay!r}")
    _check(isinstance(o.lr_step_epochs, int) and o.lr_step_epochs >= 1,
           f"optim.lr_step_epochs must be an integer >= 1, got {o.lr_step_epochs!r}")
    _check(0 < o.lr_gamma <= 1, f"optim.lr_gamma must be in (0, 1], got {o.lr_gamma!r}")
    _check(isinstance(o.max_epochs, int) and o.max_epochs >= 1,
           f"optim.max_epochs must be an integer >= 1, got {o.max_epochs!r}")
    _check(t.precision in ("32-true", "32", "16-mixed", "bf16-mixed", "bf16-true", "64-true"),
           f"trainer.precision must be one of 32-true, 16-mixed, bf16-mixed, bf16-true, got {t.precision!r}")
    _check(t.on_nonfinite in ("stop", "skip"),
           f"trainer.on_nonfinite must be 'stop' or 'skip', got {t.on_nonfinite!r}")
    _check(isinstance(t.checkpoint_keep, int) and t.checkpoint_keep >= 1,
           f"trainer.checkpoint_keep must be >= 1, got {t.checkpoint_keep!r}")
    _check(t.precision != "16-mixed" or t.accelerator != "cpu",
           "trainer.precision 16-mixed needs a GPU; on CPU use 32-true or bf16-mixed")
    _check(t.accelerator in ("cpu", "gpu", "cuda", "mps", "auto"),
           f"trainer.accelerator must be cpu, gpu, cuda, mps or auto, got {t.accelerator!r}")
    _check(t.devices == "auto" or (isinstance(t.devices, int) and not isinstance(t.devices, bool) and t.devices >= 1)
           or (isinstance(t.devices, list) and len(t.devices) > 0),
           f"trainer.devices must be 'auto', a count >= 1 or a list of device ids, got {t.devices!r}")
    _check(isinstance(t.num_nodes, int) and t.num_nodes >= 1,
           f"trainer.num_nodes must be an integer >= 1, got {t.num_nodes!r}")
    _check(isinstance(t.seed, int) and 0 <= t.seed < 2**32,
           f"trainer.seed must be an integer in [0, 2**32), got {t.seed!r}")
    _check(isinstance(t.log_every_n_steps, int) and t.log_every_n_steps >= 1,
           f"trainer.log_every_n_steps must be an integer >= 1, got {t.log_every_n_steps!r}")
    ltb = t.limit_train_batches
    _check((isinstance(ltb, float) and 0 < ltb <= 1) or (isinstance(ltb, int) and not isinstance(ltb, bool) and ltb >= 1),
           f"trainer.limit_train_batches must be a fraction in (0, 1] or a batch count >= 1, got {ltb!r}")
    validate_finetune(cfg)
    return cfg
