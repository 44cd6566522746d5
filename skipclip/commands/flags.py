"""What the commands' flags share beyond argparse (:mod:`skipclip.utils.flags`): the training
flags of pretraining and fine-tuning (budget, devices, ``--set``, loggers), their argument types,
and help texts read from the presets (their names, what ``--batch-size`` means in each)."""

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

    return (
        f"a preset ({', '.join(preset_names())}) or a YAML file (`base: NAME` in it starts from a preset; "
        f"`skipclip config` prints one){what}"
    )


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


def add_common_training_arguments(p) -> None:
    p.add_argument(
        "--config",
        help=preset_help(
            "; default: cpu for --data synthetic, cpu-real for a store or "
            "video folder (the preset used is printed); with --resume, the "
            "run's own OUT/config.yaml"
        ),
    )
    p.add_argument(
        "--max-steps",
        type=positive_int,
        metavar="N",
        help="optimiser steps to train (default: the preset's; its epochs without one)",
    )
    p.add_argument(
        "--max-epochs",
        type=int,
        help="train this many epochs instead of a step budget (alone: overrides the preset's steps)",
    )
    p.add_argument("--time-budget", type=float, metavar="MIN", help="stop after this many minutes of training")
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--batch-size", type=int, help=batch_help())
    p.add_argument("--num-workers", type=int, help="data-loading worker processes")
    p.add_argument("--crop-size", type=int, help="square crop side in pixels")
    add_device_arguments(p)
    p.add_argument(
        "--precision",
        help="auto (bf16 autocast where this machine runs the step measurably faster in it, timed once "
        "per machine and shape), 32-true, bf16-mixed or 16-mixed (GPU)",
    )
    p.add_argument("--seed", type=int, help="random seed")
    add_set_argument(p)
    add_logger_argument(p)
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/last.ckpt")
    p.add_argument("--force", action="store_true", help="overwrite a run already in --out")
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress (shown on stderr: a bar on a terminal, a line every 30 s in a file)",
    )


def add_set_argument(p) -> None:
    """--set KEY=VALUE ...: any configuration key, value parsed as YAML (applied after the flags)."""
    p.add_argument(
        "--set",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="override any config key, e.g. --set optim.lr=1e-4 data.val_fraction=0 "
        "(values are YAML; `skipclip config` prints the result)",
    )


def add_logger_argument(p) -> None:
    """--logger csv|tensorboard|wandb, repeatable or comma-separated."""
    p.add_argument(
        "--logger",
        action="append",
        metavar="NAME",
        help="where logs go: csv (default; OUT/logs/metrics.csv), tensorboard (OUT/logs/tensorboard), "
        "wandb (OUT/logs/wandb; offline without WANDB_API_KEY); repeat or comma-separate for several",
    )


def add_device_arguments(p) -> None:
    """--devices, --num-nodes, --accelerator: where Lightning trains (several: DDP)."""
    p.add_argument("--devices", type=_devices, help="devices per node: a number, or 'auto' (several: DDP)")
    p.add_argument("--num-nodes", type=int, help="machines (for SLURM / torchrun)")
    p.add_argument(
        "--accelerator",
        choices=["cpu", "gpu", "cuda", "auto"],
        help="where to train (the cpu and cpu-real presets say cpu, paper auto)",
    )


def _devices(text: str):
    return text if text == "auto" else int(text)


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    import argparse

    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def epochs_instead_of_steps(args, cfg, section) -> None:
    """``--max-epochs`` without ``--max-steps``: the user asked for epochs, so the preset's step
    budget gives way (``section``: ``cfg.optim`` or ``cfg.finetune``)."""
    if getattr(args, "max_epochs", None) is not None and getattr(args, "max_steps", None) is None:
        section.max_steps = None


def non_negative(text: str) -> int:
    import argparse

    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


__all__ = [
    "HelpFormatter",
    "RENAMED",
    "add_with_aliases",
    "alias",
    "batch_help",
    "by_value",
    "plain",
    "preset_help",
    "preset_values",
    "renamed_in",
]


def config_source(args, default: str = "cpu") -> str:
    """``--config`` when given; else, for ``--resume``, the run's own ``OUT/config.yaml`` (read as
    data: a regular file of bounded size); else ``default``.

    Raises:
        InvalidInputError: ``OUT/config.yaml`` is not a regular file, or too large.
    """
    if getattr(args, "config", None) is not None:
        return args.config
    if getattr(args, "resume", False) and getattr(args, "out", None):
        from pathlib import Path

        from skipclip.engine.run_files import read_run_config

        if read_run_config(args.out) is not None:
            return str(Path(args.out) / "config.yaml")
    return default
