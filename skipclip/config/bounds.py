"""Upper bounds of the sizes a configuration sets, wherever it comes from: a YAML file, ``--set``,
or the configuration a checkpoint or an exported encoder records (data from whoever made it).

The lower bounds and the options' compatibility are in :mod:`skipclip.config.ranges`; these are
kept apart because memory is allocated in proportion to them before any video is read: a
checkpoint whose recorded ``finetune`` section said ``short_side: 6000, crop_size: 6000`` made
``skipclip features --data FOLDER`` allocate 1.7 GB and end in a traceback. Each bound is several
times what any published video model uses (the paper: 224-pixel crops of a 256-pixel short side,
K = 16 context frames, M = 8 targets, 16-frame clips).
"""

from __future__ import annotations

from skipclip.errors import InvalidInputError
from skipclip.utils.patterns import compile_pattern

MAX_SHORT_SIDE = 1080  # data.short_side, finetune.short_side, data.synthetic_size: full HD
MAX_CROP = 1024  # data.crop_size, finetune.crop_size
MAX_CLIP_FRAMES = 256  # finetune.clip_frames, pretext.context_frames (K), pretext.target_length (d)
MAX_TARGETS = 64  # pretext.num_targets (M)
MAX_SAMPLING_RATE = 64  # pretext.sampling_rate (r)
MAX_WIDTH = 512  # model.width: 8x the paper's 64 (a 3D ResNet-18 of ~2 billion parameters)
MAX_DEVICES = 4096  # device ids in trainer.devices

# (section, key, bound, what the bound is)
SIZE_BOUNDS = (
    ("data", "crop_size", MAX_CROP, "pixels"),
    ("data", "short_side", MAX_SHORT_SIDE, "pixels (full HD)"),
    ("data", "synthetic_size", MAX_SHORT_SIDE, "pixels"),
    ("finetune", "crop_size", MAX_CROP, "pixels"),
    ("finetune", "short_side", MAX_SHORT_SIDE, "pixels (full HD)"),
    ("finetune", "clip_frames", MAX_CLIP_FRAMES, "frames"),
    ("pretext", "context_frames", MAX_CLIP_FRAMES, "frames"),
    ("pretext", "target_length", MAX_CLIP_FRAMES, "frames"),
    ("pretext", "num_targets", MAX_TARGETS, "target clips"),
    ("pretext", "sampling_rate", MAX_SAMPLING_RATE, "frames"),
)
PATTERN_KEYS = ("group_pattern", "label_pattern")


def check_sizes(cfg) -> None:
    """Every size of :data:`SIZE_BOUNDS` at most its bound (a ``None`` follows another key; a value
    that is not an integer is left to the type and range checks).

    Raises:
        InvalidInputError: naming the key, the value and the bound.
    """
    for section, key, bound, unit in SIZE_BOUNDS:
        v = getattr(getattr(cfg, section), key)
        if isinstance(v, int) and not isinstance(v, bool) and v > bound:
            raise InvalidInputError(
                f"{section}.{key} is {v}; skipclip takes at most {bound} {unit} (the paper: "
                f"{_paper(section, key)}); lower it"
            )


def _paper(section: str, key: str) -> str:
    return {
        "crop_size": "224",
        "short_side": "256",
        "synthetic_size": "256",
        "clip_frames": "16",
        "context_frames": "K = 16",
        "target_length": "d = 1",
        "num_targets": "M = 8",
        "sampling_rate": "r = 4",
    }[key]


def check_patterns(cfg) -> None:
    """``data.group_pattern`` and ``data.label_pattern``: strings a time-bounded matcher accepts
    (see :func:`skipclip.utils.patterns.compile_pattern`).

    Raises:
        InvalidInputError: naming the key and the rule.
    """
    for key in PATTERN_KEYS:
        v = getattr(cfg.data, key, None)
        if v is not None:
            compile_pattern(v, f"data.{key}")


def named(where: str | None, exc: InvalidInputError) -> InvalidInputError:
    """``exc`` with ``where`` (the file a configuration came from) in front of its message, of the
    same class; ``exc`` itself when ``where`` is ``None`` or already named."""
    text = str(exc)
    if where is None or text.startswith(f"{where}:"):
        return exc
    try:
        return type(exc)(f"{where}: {text}")
    except TypeError:  # a subclass with another signature
        return InvalidInputError(f"{where}: {text}")


__all__ = [
    "MAX_CLIP_FRAMES",
    "MAX_CROP",
    "MAX_DEVICES",
    "MAX_SAMPLING_RATE",
    "MAX_SHORT_SIDE",
    "MAX_TARGETS",
    "MAX_WIDTH",
    "SIZE_BOUNDS",
    "check_patterns",
    "check_sizes",
    "named",
]
