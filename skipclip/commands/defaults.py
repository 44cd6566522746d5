"""Defaults that say what they are: the preset a run takes when ``--config`` is not given, and a
``--data`` that names nothing refused before any heavy import."""

from __future__ import annotations

import logging
from pathlib import Path

from skipclip.errors import InputNotFoundError

SYNTHETIC_PRESET, FOOTAGE_PRESET = "cpu", "cpu-real"


def check_data(data) -> None:
    """Refuse a ``--data`` path that does not exist, at once (``synthetic`` needs no path).

    Raises:
        InputNotFoundError: nothing at ``data``.
    """
    if data is None or str(data) == "synthetic" or str(data).startswith("synthetic:"):
        return
    if not Path(data).exists():
        raise InputNotFoundError(
            f"--data {data}: no such file or folder; give a prepared store, a video folder or 'synthetic'"
        )


def choose_preset(args) -> str:
    """``args.config``, or when it is not given the preset for ``args.data``: ``cpu`` for the
    synthetic videos, ``cpu-real`` for a store or a video folder; the choice is logged either way."""
    log = logging.getLogger("skipclip")
    if getattr(args, "config", None) is not None:
        log.info("config: %s", args.config)
        return args.config
    synthetic = str(getattr(args, "data", "synthetic")) == "synthetic"
    args.config = SYNTHETIC_PRESET if synthetic else FOOTAGE_PRESET
    what = "the synthetic videos" if synthetic else "a store or video folder"
    log.info(
        "config: preset %s, the default for %s (--config cpu, cpu-real, paper or a YAML file picks another)",
        args.config,
        what,
    )
    return args.config


__all__ = ["FOOTAGE_PRESET", "SYNTHETIC_PRESET", "check_data", "choose_preset"]
