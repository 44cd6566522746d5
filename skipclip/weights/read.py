"""Reading weight files as data, never code: checkpoints and state dicts (tensors and plain
containers only), the kind of a file, the encoders inside it, and a strict load that names the
first key that does not fit."""

from __future__ import annotations

from pathlib import Path

import torch

from skipclip.errors import InputNotFoundError, InvalidInputError

# where each kind of checkpoint keeps the context encoder g (and Skip-Clip's frame encoder f)
SKIPCLIP_PREFIXES = ("model.", "")  # "model.context_encoder.*"; "" reads checkpoints of skipclip 0.1
CLASSIFIER_ENCODER = "encoder."


class UnsafeCheckpointError(InvalidInputError):
    """A file that can only be read by running pickled code; refused."""


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
    if not path.is_file():
        raise InputNotFoundError(f"checkpoint {path} does not exist")
    if path.suffix == ".safetensors":  # an encoder from `skipclip export`, or any safetensors state dict
        from skipclip.weights.export import exported_as_checkpoint

        return exported_as_checkpoint(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises UnpicklingError, RuntimeError, EOFError...
        text = str(exc)
        if "GLOBAL" in text or "Unsupported global" in text:  # a pickled object: code would run
            raise UnsafeCheckpointError(
                f"{path} holds pickled Python objects, not only tensors; skipclip never runs code from a "
                "weight file. If you trust its author, convert it once in Python: "
                "sd = torch.load(path, weights_only=False)['state_dict']; "
                "torch.save({k: v for k, v in sd.items() if torch.is_tensor(v)}, 'weights.pt')") from None
        raise InvalidInputError(f"{path} is not a PyTorch checkpoint or state dict ({type(exc).__name__}); "
                         "give a file written by torch.save or `skipclip export`") from None
    if not isinstance(obj, dict):
        raise InvalidInputError(f"{path} holds a {type(obj).__name__}, not a checkpoint or a state dict")
    return obj


def state_dict_of(obj: dict) -> dict:
    """The tensors of a checkpoint (Lightning's ``state_dict``, ``model``, ``model_state_dict``) or
    of a bare state dict, with DDP's ``module.`` prefix removed."""
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    return {k.removeprefix("module."): v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def sub_state(obj: dict, prefix: str) -> dict:
    """The tensors under ``prefix``, with the prefix removed."""
    return {k[len(prefix):]: v for k, v in state_dict_of(obj).items() if k.startswith(prefix)}


def skipclip_prefix(obj: dict) -> str | None:
    """The prefix under which a Skip-Clip checkpoint keeps its encoders, or ``None``."""
    keys = state_dict_of(obj)
    for prefix in SKIPCLIP_PREFIXES:
        if any(k.startswith(prefix + "context_encoder.") for k in keys):
            return prefix
    return None


def checkpoint_kind(obj: dict) -> str:
    """``"skipclip"`` (pretraining), ``"classifier"`` (fine-tuned: ``encoder.*`` + ``head.*``),
    ``"resnet2d"`` (a torchvision-format 2D ResNet state dict) or ``"unknown"``."""
    keys = set(state_dict_of(obj))
    if skipclip_prefix(obj) is not None:
        return "skipclip"
    if any(k.startswith("encoder.trunk.") for k in keys) and any(k.startswith("head.fc.") for k in keys):
        return "classifier"
    if "conv1.weight" in keys and any(k.startswith("layer1.") for k in keys):
        return "resnet2d"
    return "unknown"


def encoder_state(obj: dict, which: str = "context") -> dict:
    """g's (``which="context"``) or f's (``"frame"``) weights of a Skip-Clip checkpoint, or g's of
    a fine-tuned classifier checkpoint.

    Raises:
        ValueError: the checkpoint holds no such encoder.
    """
    prefix = skipclip_prefix(obj)
    if prefix is not None:
        return sub_state(obj, f"{prefix}{which}_encoder.")
    if which == "context" and checkpoint_kind(obj) == "classifier":
        return sub_state(obj, CLASSIFIER_ENCODER)
    raise InvalidInputError(f"no {which} encoder in this checkpoint ({describe(obj)})")


def describe(obj: dict) -> str:
    keys = list(state_dict_of(obj))
    return f"{len(keys)} tensors, e.g. {keys[:3]}" if keys else "no tensors"


def checkpoint_config(obj: dict) -> dict:
    """The run configuration recorded in a checkpoint (``{}`` when absent)."""
    return dict(((obj.get("hyper_parameters") or {}).get("config")) or {})


def checkpoint_input_stats(obj: dict, default: str = "kinetics") -> str:
    """The input statistics recorded with a checkpoint's encoder (``hyper_parameters.input_stats``:
    a fine-tuned classifier's, an exported file's), ``default`` when none is recorded."""
    return str((obj.get("hyper_parameters") or {}).get("input_stats") or default)


def load_checked(module: torch.nn.Module, state: dict, what: str) -> None:
    """``load_state_dict(strict=True)`` with a message naming the first bad key and both shapes.

    Raises:
        ValueError: missing or unexpected keys, or a shape mismatch.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise InvalidInputError(f"{what} does not fit the model: missing {missing[:3]}, unexpected {unexpected[:3]} "
                         f"({len(missing)} missing, {len(unexpected)} unexpected); was it made with another "
                         "--arch or preset?")
    for k, v in state.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise InvalidInputError(f"{what}: key {k!r} has shape {tuple(v.shape)} but the model expects "
                             f"{tuple(own[k].shape)}; check model.width / model.context_arch of the config")
    module.load_state_dict(state, strict=True)
