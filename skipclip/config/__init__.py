"""Run configuration: typed sections, YAML presets, command-line overrides and validation.

A configuration is a :class:`Config` of six sections (:mod:`.sections`). Presets live in
``skipclip/configs/*.yaml`` (``configs/`` at the repository root points there); ``load_config``
(:mod:`.load`) takes a preset name or a path, applies overrides and validates every value
(:mod:`.validate`) before any work starts.
"""

from skipclip.config.finetune_settings import finetune_settings
from skipclip.config.load import (
    PRESET_DIR,
    apply_overrides,
    apply_sets,
    config_from_dict,
    load_config,
    parse_sets,
    preset_names,
    read_yaml,
)
from skipclip.config.ranges import check_synthetic_window, validate_finetune
from skipclip.config.sections import (
    CONTEXT_ARCHS,
    Config,
    DataConfig,
    FinetuneConfig,
    ModelConfig,
    OptimConfig,
    PretextConfig,
    TrainerConfig,
)
from skipclip.config.validate import validate

__all__ = [
    "CONTEXT_ARCHS",
    "Config",
    "DataConfig",
    "FinetuneConfig",
    "ModelConfig",
    "OptimConfig",
    "PRESET_DIR",
    "PretextConfig",
    "TrainerConfig",
    "apply_overrides",
    "apply_sets",
    "parse_sets",
    "config_from_dict",
    "load_config",
    "preset_names",
    "read_yaml",
    "finetune_settings",
    "validate",
    "check_synthetic_window",
    "validate_finetune",
]
