"""Keep Lightning's per-Trainer banners ("GPU available: ...", "TPU available", "Tip: ...",
"`Trainer.fit` stopped") and warnings that are not the user's to act on out of every command."""

import logging
import warnings

_BANNERS = (
    "lightning.pytorch.utilities.rank_zero",  # "GPU available", "TPU available", tips, "fit stopped"
    "lightning.fabric.utilities.rank_zero",
    "lightning.pytorch.accelerators.cuda",
    "lightning.fabric.utilities.seed",
)


def one_line_warnings() -> None:
    """skipclip's own warnings (a class no split can hold, ...) as one ``warning: ...`` line,
    without the source line Python's default format echoes (``held = set(carve(...``); other
    packages' warnings keep theirs."""
    default = warnings.formatwarning
    if getattr(default, "_skipclip", False):
        return

    def formatwarning(message, category, filename, lineno, line=None):
        if category.__module__.startswith("skipclip"):
            return f"warning: {message}\n"
        return default(message, category, filename, lineno, line)

    setattr(formatwarning, "_skipclip", True)  # noqa: B010 - a mark on a function, which mypy does not type
    warnings.formatwarning = formatwarning


def quiet_lightning() -> None:
    """Silence Lightning's banners and tips, its "GPU available but not used" warning (skipclip
    says it once, with the flag to use the GPU), and the no-validation-loader warning."""
    for name in _BANNERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*defined a `validation_step` but have no `val_dataloader`.*")
    warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\)`.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*GPU available but not used.*")
    warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
