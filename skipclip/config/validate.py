"""Validation of every configuration value: types (:mod:`.value_types`), upper bounds of sizes
(:mod:`.bounds`), then ranges and the options' compatibility (:mod:`.ranges`), each error naming
the key, the value and what would be accepted."""

from __future__ import annotations

from skipclip.config.bounds import check_sizes, named
from skipclip.config.budget import finetune_budget, pretrain_budget
from skipclip.config.ranges import (
    check_data,
    check_model,
    check_optim,
    check_options,
    check_pretext,
    check_trainer,
    validate_finetune,
)
from skipclip.config.sections import Config
from skipclip.config.value_types import check_types
from skipclip.errors import InvalidInputError


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
    check_pretext(cfg.pretext)
    check_model(cfg.model)
    check_options(cfg)
    check_data(cfg.data, cfg)
    check_optim(cfg.optim)
    check_trainer(cfg.trainer)
    for section, budget in (("optim", pretrain_budget), ("finetune", finetune_budget)):
        try:
            budget(cfg)
        except ValueError as e:
            raise InvalidInputError(f"{section}.{e}") from None
    validate_finetune(cfg)
    return cfg
