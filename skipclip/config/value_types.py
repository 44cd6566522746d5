"""Every configuration value of its field's type, before any range is checked: booleans are
booleans, integers integers, strings strings; and the fields typed ``Any`` or ``X | None`` (step
counts, ``trainer.devices``, ``data.layout``, the patterns) one of the values they accept."""

from __future__ import annotations

from dataclasses import fields

from skipclip.config.bounds import MAX_DEVICES, check_patterns
from skipclip.config.messages import require, shown
from skipclip.config.sections import LAYOUTS, Config
from skipclip.errors import InvalidInputError

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
            require(
                isinstance(v, (str, int, float, type(None))) or f"{section.name}.{f.name}" == "trainer.devices",
                f"{section.name}.{f.name} must be a single value, got {shown(v)}",
            )
    for name in ("optim.max_steps", "optim.val_every_steps", "finetune.max_steps", "finetune.val_every_steps"):
        part, key = name.split(".")
        v = getattr(getattr(cfg, part), key)
        require(v is None or _count(v, 1), f"{name} must be null or an integer >= 1, got {shown(v)}")
    d = cfg.trainer.devices
    require(
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
    require(
        layout is None or layout in LAYOUTS,
        f"data.layout must be null (detect it) or one of {', '.join(LAYOUTS)}, got {shown(layout)}",
    )
    check_patterns(cfg)
