"""Presets, YAML files and dotted overrides into a :class:`~skipclip.config.sections.Config`."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from skipclip.config.messages import shown
from skipclip.config.sections import REMOVED_KEYS, Config
from skipclip.config.validate import validate
from skipclip.errors import InputNotFoundError, InvalidInputError
from skipclip.utils.safe_read import read_regular

PRESET_DIR = Path(__file__).resolve().parent.parent / "configs"
BASE_KEY = "base"  # a YAML file's `base: NAME` starts from that preset (or file)
log = logging.getLogger(__name__)

MAX_YAML = 1 << 20  # bytes of a configuration file; a preset is 2 KB
YAML_SUFFIXES = (".yaml", ".yml")  # what a `base:` path must end in


class NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader without anchors and aliases (``&a``, ``*a``, ``<<: *a``): a few hundred
    bytes of nested aliases expand to gigabytes (a "billion laughs"), and no configuration needs
    them."""

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(
                None, None, "anchors and aliases (&name, *name) are not allowed; write the value out", event.start_mark
            )
        return super().compose_node(parent, index)


def read_yaml(text: str | bytes, where: str) -> Any:
    """The YAML ``text`` (from ``where``, named in errors) as Python values, without anchors or
    aliases (:class:`NoAliasLoader`) and at most :data:`MAX_YAML` bytes.

    Raises:
        InvalidInputError: too long, not UTF-8, not YAML, nested too deeply, or using aliases.
    """
    if len(text) > MAX_YAML:
        raise InvalidInputError(f"{where} is {len(text)} bytes long; a configuration is at most {MAX_YAML}")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInputError(f"{where} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        return yaml.load(text, Loader=NoAliasLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise InvalidInputError(f"{where} is not valid YAML: {exc.problem}{at}") from None
    except yaml.YAMLError as exc:  # its text may quote the file: named by kind only
        raise InvalidInputError(f"{where} is not valid YAML ({type(exc).__name__})") from None
    except RecursionError:
        raise InvalidInputError(f"{where} nests values too deeply to be a configuration") from None
    except Exception as exc:  # noqa: BLE001 - PyYAML's constructors fail on tagged values in their own ways
        # (!!float x: ValueError, !!bool x: KeyError, !!timestamp x: AttributeError)
        # (its text quotes the value, which may be any file's content: named by kind only)
        raise InvalidInputError(
            f"{where} is not valid YAML: a tagged value does not construct ({type(exc).__name__})"
        ) from None


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def _section_name(section: Any) -> str:
    return next(f.name for f in fields(Config) if isinstance(section, type(getattr(Config(), f.name))))


def _removed(dotted: str, value: Any, where: str) -> bool:
    """Whether ``dotted`` is a removed option (:data:`~skipclip.config.sections.REMOVED_KEYS`) that
    holds the paper's value, and so is dropped.

    Raises:
        InvalidInputError: a removed option asking for the variant it chose.
    """
    if dotted not in REMOVED_KEYS:
        return False
    if value == REMOVED_KEYS[dotted] and not isinstance(value, bool):
        return True
    raise InvalidInputError(
        f"{dotted} (in {where}) was removed: the variant it chose was measured and lost "
        f"(docs/results.md); delete the key (the paper's behaviour, "
        f"{REMOVED_KEYS[dotted]!r}, is what skipclip does)"
    )


def _merge_section(section: Any, values: Mapping[str, Any], where: str) -> None:
    known = {f.name: f for f in fields(section)}
    name = _section_name(section)
    for key, value in values.items():
        if isinstance(key, str) and _removed(f"{name}.{key}", value, where):
            continue
        if key not in known:
            raise InvalidInputError(f"unknown key {shown(key)} in {where}; known keys: {', '.join(sorted(known))}")
        setattr(section, key, value)


def config_from_dict(data: Mapping[str, Any], where: str = "config") -> Config:
    """Build a Config from nested mappings, rejecting unknown sections and keys."""
    return merge_dict(Config(), data, where)


def load_config(
    name_or_path: str | Path = "cpu", overrides: Mapping[str, Any] | None = None, sets: Mapping[str, Any] | None = None
) -> Config:
    """Load a preset by name (``paper``, ``cpu``, ...) or a YAML file, then apply overrides.

    A YAML file may start from a preset (or another file) with ``base: NAME``: its sections are
    then set on that preset's values. A file without ``base:`` is set on skipclip's defaults (the
    paper's sizes), and says so in a logged line when it leaves keys unset.

    Args:
        name_or_path: a preset name from ``skipclip/configs`` or a path to a YAML file.
        overrides: dotted keys such as ``{"pretext.sampling_rate": 2}``; ``None`` values are ignored.
        sets: dotted keys from ``--set`` (see :func:`parse_sets`), applied last; ``None`` is a value.

    Raises:
        ValueError: unknown preset, unknown key, or a value out of range (see ``validate``).
        FileNotFoundError: the path does not exist.
    """
    cfg = _load(name_or_path, seen=())
    apply_overrides(cfg, overrides or {})
    apply_sets(cfg, sets or {})
    given = any(v is not None for v in (overrides or {}).values()) or bool(sets)
    is_file = _locate(name_or_path)[2] is False  # a preset is skipclip's own: no need to name it
    validate(cfg, (f"config {name_or_path}" + (" (with the command's options)" if given else "")) if is_file else None)
    return cfg


def _locate(name_or_path: str | Path, relative_to: Path | None = None) -> tuple[Path, str, bool]:
    """The YAML file of a preset name or a path (a relative ``base:`` path is read beside the file
    naming it): ``(path, description, is_preset)``.

    Raises:
        ValueError: an unknown preset.
        FileNotFoundError: the path does not exist.
    """
    text_path = Path(str(name_or_path))
    is_base = relative_to is not None
    if is_base and text_path.suffix not in YAML_SUFFIXES:  # `base:` names a preset, or a .yaml/.yml file
        if not (PRESET_DIR / f"{name_or_path}.yaml").is_file() or "/" in str(name_or_path):
            raise InvalidInputError(
                f"{relative_to}: unknown preset {shown(str(name_or_path))}: `base:` names a "
                f"preset ({', '.join(preset_names())}) or a file ending in .yaml or .yml "
                "(nothing else is read)"
            )
    elif relative_to is not None and not text_path.is_absolute() and (relative_to.parent / text_path).exists():
        text_path = relative_to.parent / text_path
    if (
        not is_base
        and (text_path.suffix in YAML_SUFFIXES or text_path.exists())
        or is_base
        and text_path.suffix in YAML_SUFFIXES
    ):
        if not text_path.exists():
            raise InputNotFoundError(f"config file {text_path} does not exist")
        return text_path, str(text_path), False
    path = PRESET_DIR / f"{name_or_path}.yaml"
    if not path.exists():
        raise InvalidInputError(
            f"unknown preset '{name_or_path}'; choose one of {', '.join(preset_names())} or give a path to a YAML file"
        )
    return path, f"preset '{name_or_path}'", True


def _load(name_or_path: str | Path, seen: tuple[Path, ...], relative_to: Path | None = None) -> Config:
    """A preset or YAML file as a Config, its ``base:`` (a preset name or another file) first."""
    path, where, is_preset = _locate(name_or_path, relative_to)
    if path.resolve() in seen:
        raise InvalidInputError(f"{where}: `base:` goes round in a circle ({' -> '.join(str(p) for p in seen)})")
    try:
        raw = read_regular(path, "configuration file", MAX_YAML)
    except OSError as exc:
        raise InvalidInputError(f"config file {path} cannot be read ({exc.strerror})") from None
    data = read_yaml(raw, str(path)) or {}
    if not isinstance(data, Mapping):
        raise InvalidInputError(f"{path} must hold a mapping of sections, got {type(data).__name__}")
    data = dict(data)
    base = data.pop(BASE_KEY, None)
    if base is not None and not isinstance(base, str):
        raise InvalidInputError(
            f"{where}: `base:` names a preset ({', '.join(preset_names())}) or a YAML file, got {shown(base)}"
        )
    if base is None:
        cfg = config_from_dict(data, where)
        if not is_preset and _partial(data):
            log.info(
                "%s has no `base:`, so its values are set on skipclip's defaults (the paper's sizes, "
                "trainer.accelerator auto); start it with `base: cpu` (or %s) to build on a preset",
                where,
                ", ".join(n for n in preset_names() if n != "cpu"),
            )
        return cfg
    cfg = _load(base, seen + (path.resolve(),), relative_to=path)
    return merge_dict(cfg, data, where)


def _partial(data: Mapping[str, Any]) -> bool:
    """Whether a file's sections leave some key of the configuration unset."""
    default = Config()
    for f in fields(Config):
        section = data.get(f.name)
        keys = {g.name for g in fields(getattr(default, f.name))}
        if not isinstance(section, Mapping) or keys - set(section):
            return True
    return False


def merge_dict(cfg: Config, data: Mapping[str, Any], where: str = "config") -> Config:
    """Set the sections and keys of ``data`` on ``cfg`` (unknown sections and keys refused)."""
    for name, values in (data or {}).items():
        if name not in {f.name for f in fields(Config)}:
            raise InvalidInputError(
                f"unknown section {shown(name)} in {where}; known sections: {', '.join(f.name for f in fields(Config))}"
            )
        if not isinstance(values, Mapping):
            raise InvalidInputError(f"section '{name}' in {where} must be a mapping, got {shown(values)}")
        _merge_section(getattr(cfg, name), values, f"{where} section '{name}'")
    return cfg


def apply_overrides(cfg: Config, overrides: Mapping[str, Any]) -> Config:
    """Set dotted keys (``section.key``) on ``cfg``; ``None`` means "not given"."""
    for dotted, value in overrides.items():
        if value is None:
            continue
        section_name, _, key = dotted.partition(".")
        section = getattr(cfg, section_name, None)
        if section is None or not dataclasses.is_dataclass(section):
            raise InvalidInputError(f"unknown config section in override '{dotted}'")
        _merge_section(section, {key: value}, f"override '{dotted}'")
    return cfg


def parse_sets(items: list[str] | None) -> dict[str, Any]:
    """``["optim.lr=1e-4", "data.val_fraction=0"]`` (``--set`` arguments) as ``{dotted key: value}``,
    each value parsed as YAML (``1e-4`` a float, ``null`` None, ``[0, 1]`` a list), as in a preset.

    Raises:
        ValueError: an item that is not ``section.key=value``, or a value that is not YAML.
    """
    out: dict[str, Any] = {}
    for item in items or []:
        key, eq, text = item.partition("=")
        key = key.strip()
        section, dot, name = key.partition(".")
        if not eq or not dot or not section or not name:
            raise InvalidInputError(f"--set {item!r}: expected section.key=value, e.g. --set optim.lr=1e-4")
        out[key] = read_yaml(text, f"--set {key}: value {text[:100]!r}") if text.strip() else None
    return out


def apply_sets(cfg: Config, sets: Mapping[str, Any]) -> Config:
    """Set dotted keys from ``--set`` on ``cfg``; unlike :func:`apply_overrides`, ``None`` is a value.
    Types are checked with every other value by :func:`~skipclip.config.validate.validate`.

    Raises:
        ValueError: an unknown section or key (named, with the known ones).
    """
    known = [f.name for f in fields(Config)]
    for dotted, value in sets.items():
        section_name, _, key = dotted.partition(".")
        if section_name not in known:
            raise InvalidInputError(
                f"--set {dotted}: unknown section '{section_name}'; known sections: {', '.join(known)}"
            )
        section = getattr(cfg, section_name)
        _merge_section(section, {key: value}, f"--set {dotted}")
        if dotted in REMOVED_KEYS:  # the paper's value of a removed option: nothing to set
            continue
        annotation = {f.name: f.type for f in fields(section)}[key]
        if annotation in ("float", float) and isinstance(value, str):  # PyYAML reads 1e-4 as a string
            try:
                value = float(value)
            except ValueError:
                pass
            setattr(section, key, value)
    return cfg
