"""What a checkpoint dict holds, read as data: its kind, the encoders inside it, the claims it makes
(an arch, a width, input statistics), and a strict load that names the first key that does not
fit. Pure functions of dicts and tensors; reading files is :mod:`skipclip.weights.read`'s."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch

from skipclip.errors import InvalidInputError

# where each kind of checkpoint keeps the context encoder g (and Skip-Clip's frame encoder f)
# "model.context_encoder.*" in a checkpoint; "context_encoder.*" in a bare SkipClipModel state dict
# (torch.save(model.state_dict()) of the model skipclip.pretrain returns)
SKIPCLIP_PREFIXES = ("model.", "")
CLASSIFIER_ENCODER = "encoder."
MAX_IN_CHANNELS = 3 * 256  # a frame encoder's input: 3 * d for target clips of d frames
INPUT_STATS = ("kinetics", "imagenet")
ModuleT = TypeVar("ModuleT", bound=torch.nn.Module)


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
    return {k[len(prefix) :]: v for k, v in state_dict_of(obj).items() if k.startswith(prefix)}


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


def shortcut_of(state: dict) -> str:
    """The shortcut type of g's weights: ``"B"`` when they hold 1x1x1 ``downsample`` convolutions,
    else ``"A"`` (zero-padding shortcuts have no parameters)."""
    return "B" if any(".downsample." in k for k in state) else "A"


def describe(obj: dict) -> str:
    keys = list(state_dict_of(obj))
    return f"{len(keys)} tensors, e.g. {keys[:3]}" if keys else "no tensors"


def hyper_parameters(obj: dict, what: str = "the checkpoint") -> dict:
    """A checkpoint's ``hyper_parameters`` (``{}`` when absent).

    Raises:
        InvalidInputError: it is not a mapping.
    """
    hp = obj.get("hyper_parameters")
    if hp is None:
        return {}
    if not isinstance(hp, dict):
        raise InvalidInputError(
            f"{what}: hyper_parameters is a {type(hp).__name__}, not a mapping; the file was "
            "not written by skipclip, or was altered"
        )
    return hp


def checkpoint_config(obj: dict, what: str = "the checkpoint") -> dict:
    """The run configuration recorded in a checkpoint (``{}`` when absent).

    Raises:
        InvalidInputError: ``hyper_parameters`` or its ``config`` is not a mapping.
    """
    config = hyper_parameters(obj, what).get("config")
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise InvalidInputError(
            f"{what}: hyper_parameters.config is a {type(config).__name__}, not a mapping; the "
            "file was not written by skipclip, or was altered"
        )
    return dict(config)


def last_stride_of(config: dict | None, what: str = "the checkpoint") -> int:
    """``model.last_stride`` of a recorded run configuration (2, the paper's, when absent): a
    geometry the weights cannot tell, so it is read from the configuration they were trained with.

    Raises:
        InvalidInputError: a value other than 1 or 2.
    """
    model = (config or {}).get("model") if isinstance(config, dict) else None
    value = model.get("last_stride", 2) if isinstance(model, dict) else 2
    if isinstance(value, bool) or value not in (1, 2):
        raise InvalidInputError(
            f"{what}: model.last_stride is {_short(value)}, not 1 or 2; the file was not written "
            "by skipclip, or was altered"
        )
    return int(value)


def checkpoint_input_stats(obj: dict, what: str = "the checkpoint", default: str = "kinetics") -> str:
    """The input statistics recorded with a checkpoint's encoder (``hyper_parameters.input_stats``:
    a fine-tuned classifier's, an exported file's), ``default`` when none is recorded.

    Raises:
        InvalidInputError: a value other than ``"kinetics"`` or ``"imagenet"``.
    """
    stats = hyper_parameters(obj, what).get("input_stats") or default
    if stats not in INPUT_STATS:
        raise InvalidInputError(
            f"{what}: hyper_parameters.input_stats is {_short(stats)}, not one of {', '.join(INPUT_STATS)}"
        )
    return stats


def _short(value) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value) if isinstance(value, (str, int, float, bool, type(None))) else f"a {type(value).__name__}"
    return text if len(text) <= 60 else text[:57] + "..."


def claimed_int(value, what: str, field: str, limit: int) -> int:
    """An integer a file claims (a width, a channel count), checked to lie in ``[1, limit]``.

    Raises:
        InvalidInputError: not an integer (a whole float counts) or outside the range, naming
            ``what`` (the file) and ``field``.
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) < 10:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= limit:
        raise InvalidInputError(
            f"{what}: {field} is {_short(value)}; it must be an integer in [1, {limit}] "
            "(the file was altered, or was not written by skipclip)"
        )
    return value


def tensor_size(state: dict, key: str, axis: int, what: str, limit: int) -> int:
    """``state[key].shape[axis]``, checked to lie in ``[1, limit]`` (a size read from a weight file).

    Raises:
        InvalidInputError: no such tensor, too few dimensions, or a size out of range.
    """
    v = state.get(key)
    if not isinstance(v, torch.Tensor) or v.dim() <= axis:
        raise InvalidInputError(
            f"{what}: no tensor {key!r} with at least {axis + 1} dimensions "
            f"(found {tuple(v.shape) if isinstance(v, torch.Tensor) else 'none'})"
        )
    n = int(v.shape[axis])
    if not 1 <= n <= limit:
        raise InvalidInputError(
            f"{what}: {key!r} has shape {tuple(v.shape)}; size {n} on axis {axis} is outside [1, {limit}]"
        )
    return n


def check_fits(module: torch.nn.Module, state: dict, what: str) -> None:
    """Check that ``state`` has exactly ``module``'s keys, shapes and kinds of values (floating
    point where the module has floating point), naming the first key that does not fit.

    ``module`` may live on the ``meta`` device: nothing is read from it but shapes and dtypes.

    Raises:
        InvalidInputError: missing or unexpected keys, a shape mismatch, or a tensor that is not a
            dense tensor of a matching kind.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise InvalidInputError(
            f"{what} does not fit the model: missing {missing[:3]}, unexpected {unexpected[:3]} "
            f"({len(missing)} missing, {len(unexpected)} unexpected); was it made with another "
            "--arch or preset?"
        )
    for k, v in state.items():
        if not isinstance(v, torch.Tensor) or v.layout != torch.strided or v.is_quantized:
            raise InvalidInputError(f"{what}: key {k!r} is not a dense tensor")
        if tuple(v.shape) != tuple(own[k].shape):
            raise InvalidInputError(
                f"{what}: key {k!r} has shape {tuple(v.shape)} but the model expects "
                f"{tuple(own[k].shape)}; check model.width / model.context_arch of the config"
            )
        if v.dtype != own[k].dtype and not (v.is_floating_point() and own[k].is_floating_point()):
            raise InvalidInputError(f"{what}: key {k!r} holds {v.dtype} values, the model {own[k].dtype}")


def load_checked(module: torch.nn.Module, state: dict, what: str) -> None:
    """``load_state_dict(strict=True)`` with a message naming the first bad key and both shapes.

    Raises:
        InvalidInputError: see :func:`check_fits`.
    """
    check_fits(module, state, what)
    module.load_state_dict(state, strict=True)


def build_checked(build: Callable[[], ModuleT], state: dict, what: str) -> ModuleT:
    """``build()`` filled with ``state``, built only once ``state`` is known to fit it.

    The sizes a file claims (an arch, a width) decide what ``build`` makes; they are first tried on
    the ``meta`` device (shapes only, no memory), and the real module is built only when every
    tensor of ``state`` fits, so a crafted claim costs no more memory than the tensors the file
    really holds. (Building on ``meta`` draws no random numbers.)

    Raises:
        InvalidInputError: see :func:`check_fits`; ``build``'s own errors.
    """
    check_claims(build, state, what)
    module = build()
    module.load_state_dict(state, strict=True)
    return module


def check_claims(build: Callable[[], torch.nn.Module], state: dict, what: str) -> None:
    """:func:`check_fits` against ``build()`` made on the ``meta`` device: shapes only, no memory.

    Raises:
        InvalidInputError: see :func:`check_fits`; ``build``'s own errors.
    """
    with torch.device("meta"):
        shell = build()
    check_fits(shell, state, what)
