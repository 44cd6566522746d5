"""Keep Lightning's per-Trainer banners out of jobs that build many Trainers (demo, reproduce)."""

import logging
import warnings

_BANNERS = (
    "lightning.pytorch.utilities.rank_zero",  # "GPU available", "TPU available", tips
    "lightning.pytorch.accelerators.cuda",
    "lightning.fabric.utilities.seed",
)


def quiet_lightning() -> None:
    """Silence the "GPU available: ..." lines, tips and the no-validation-loader warning."""
    for name in _BANNERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*defined a `validation_step` but have no `val_dataloader`.*")
    warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\)`.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
