"""Reading weight files as data, never code, behind one door: :func:`resolve_weights` finds the
file behind a run folder or an export folder, :func:`read_checkpoint` reads a ``.ckpt`` / ``.pt``
(tensors and plain containers only) or a ``.safetensors`` file into a checkpoint dict. What such a
dict holds is read by :mod:`skipclip.weights.state`, whose names are re-exported here."""

from __future__ import annotations

from pathlib import Path

import torch

from skipclip.errors import InputNotFoundError, InvalidInputError
from skipclip.utils.safe_read import open_regular
from skipclip.weights.exported import CONTEXT_FILE, exported_as_checkpoint
from skipclip.weights.state import (
    CLASSIFIER_ENCODER,
    INPUT_STATS,
    MAX_IN_CHANNELS,
    SKIPCLIP_PREFIXES,
    build_checked,
    check_claims,
    check_fits,
    checkpoint_config,
    checkpoint_input_stats,
    checkpoint_kind,
    claimed_int,
    describe,
    encoder_state,
    hyper_parameters,
    last_stride_of,
    load_checked,
    shortcut_of,
    skipclip_prefix,
    state_dict_of,
    sub_state,
    tensor_size,
)

FINETUNED = "best.ckpt"  # a fine-tuning run's selected weights (pretraining writes none)


class UnsafeCheckpointError(InvalidInputError):
    """A file that can only be read by running pickled code; refused."""


def resolve_weights(path: str | Path) -> Path:
    """The weight file behind ``path``: the file itself, or in a folder an export's
    ``context_encoder.safetensors``, a fine-tuning run's ``checkpoints/best.ckpt``, a run's
    ``checkpoints/last.ckpt``, or a run's ``export/context_encoder.safetensors``.

    Raises:
        InputNotFoundError: ``path`` does not exist, or the folder holds none of those files.
    """
    p = Path(path)
    if p.exists() and not p.is_dir():  # a FIFO or a device too: read_checkpoint refuses it by name
        return p
    if not p.is_dir():
        raise InputNotFoundError(
            f"{p} does not exist; give a .ckpt, an exported .safetensors, an export folder or a run folder"
        )
    candidates = [
        p / CONTEXT_FILE,
        p / "checkpoints" / FINETUNED,
        p / "checkpoints" / "last.ckpt",
        p / "export" / CONTEXT_FILE,
    ]
    for c in candidates:
        if c.is_file():
            return c
    raise InputNotFoundError(
        f"{p} holds no encoder: looked for " + ", ".join(str(c.relative_to(p)) for c in candidates)
    )


def read_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint or state-dict file onto the CPU, tensors and plain containers only
    (a ``.safetensors`` file from ``skipclip export`` reads as the checkpoint it came from).

    Weight files are data, never code: ``torch.load(weights_only=True)`` refuses any pickled
    object other than tensors and plain Python containers, and a file that needs more is refused.

    Raises:
        FileNotFoundError: no such file.
        UnsafeCheckpointError: the file holds pickled objects that would run code when loaded.
        ValueError: not a PyTorch file, or not a dict.
    """
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"checkpoint {path} does not exist")
    if path.suffix == ".safetensors":  # an encoder from `skipclip export`, or any safetensors state dict
        return exported_as_checkpoint(path)
    try:
        fh = open_regular(path, "checkpoint")  # a FIFO or a device is refused, never read
    except OSError as exc:
        raise InvalidInputError(f"checkpoint {path} cannot be read ({exc.strerror or exc})") from None
    try:
        with fh:
            obj = torch.load(fh, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises UnpicklingError, RuntimeError, EOFError...
        text = str(exc)
        if "GLOBAL" in text or "Unsupported global" in text:  # a pickled object: code would run
            raise UnsafeCheckpointError(
                f"{path} holds pickled Python objects, not only tensors; skipclip never runs code from a "
                "weight file. If you trust its author, convert it once in Python: "
                "sd = torch.load(path, weights_only=False)['state_dict']; "
                "torch.save({k: v for k, v in sd.items() if torch.is_tensor(v)}, 'weights.pt')"
            ) from None
        raise InvalidInputError(
            f"{path} is not a PyTorch checkpoint or state dict ({type(exc).__name__}); "
            "give a file written by torch.save or `skipclip export`"
        ) from None
    if not isinstance(obj, dict):
        raise InvalidInputError(f"{path} holds a {type(obj).__name__}, not a checkpoint or a state dict")
    return obj


__all__ = [
    "CLASSIFIER_ENCODER",
    "INPUT_STATS",
    "MAX_IN_CHANNELS",
    "SKIPCLIP_PREFIXES",
    "UnsafeCheckpointError",
    "build_checked",
    "check_claims",
    "check_fits",
    "checkpoint_config",
    "checkpoint_input_stats",
    "checkpoint_kind",
    "claimed_int",
    "describe",
    "encoder_state",
    "hyper_parameters",
    "last_stride_of",
    "load_checked",
    "read_checkpoint",
    "resolve_weights",
    "shortcut_of",
    "skipclip_prefix",
    "state_dict_of",
    "sub_state",
    "tensor_size",
]
