"""What the commands' flags share beyond argparse (:mod:`skipclip.utils.flags`): help texts read
from the presets (their names, what ``--batch-size`` means in each, what fine-tuning keeps)."""

from __future__ import annotations

import functools

from skipclip.utils.flags import (
    RENAMED,
    HelpFormatter,
    add_with_aliases,
    alias,
    plain,
    renamed_in,
)


def preset_help(what: str = "") -> str:
    """``"a preset (cpu, cpu-real, paper) or a YAML file ..."``, the presets read from skipclip/configs."""
    from skipclip.config.load import preset_names

    return (f"a preset ({', '.join(preset_names())}) or a YAML file (`base: NAME` in it starts from a preset; "
            f"`skipclip config` prints one){what}")


@functools.lru_cache(maxsize=1)
def _presets() -> dict[str, dict]:
    """Every preset's YAML, read once per process (several commands' help texts quote them)."""
    import yaml

    from skipclip.config.load import PRESET_DIR, preset_names

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return {name: yaml.load((PRESET_DIR / f"{name}.yaml").read_text(), Loader=loader) or {} for name in preset_names()}


def preset_values(section: str, key: str) -> dict[str, object]:
    """``{preset: value}`` of one key in every preset (the default where a preset leaves it out)."""
    from skipclip.config.sections import Config

    default = getattr(getattr(Config(), section), key)
    return {name: (data.get(section) or {}).get(key, default) for name, data in _presets().items()}


def by_value(values: dict[str, object], words: dict[object, str]) -> str:
    """``"cpu, cpu-real: per device; paper: the global batch"`` from ``{preset: value}`` and ``{value: words}``."""
    groups: dict[object, list[str]] = {}
    for name, value in values.items():
        groups.setdefault(value, []).append(name)
    return "; ".join(f"{', '.join(names)}: {words.get(v, v)}" for v, names in groups.items())


def batch_help(what: str = "videos", key: str = "data.batch_size") -> str:
    """``--batch-size`` help saying whether each preset means it per device or as the global batch."""
    meaning = by_value(preset_values("data", "batch_per"), {"device": "per device", "global": "the global batch"})
    return f"{what} per batch ({key}) - {meaning} (data.batch_per)"


__all__ = ["HelpFormatter", "RENAMED", "add_with_aliases", "alias", "batch_help", "by_value", "plain", "preset_help",
           "preset_values", "renamed_in"]
