"""Files of ``skipclip export``: safetensors weights with their architecture, width, input
statistics and run configuration in the metadata. Read as data: sizes bounded, claims compared
with the tensors before a module is built (:mod:`skipclip.weights.state`)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save

from skipclip.config import CONTEXT_ARCHS, config_from_dict, validate
from skipclip.config.bounds import MAX_WIDTH
from skipclip.errors import InputNotFoundError, InvalidInputError
from skipclip.models import ContextEncoder, FrameEncoder
from skipclip.utils.io import atomic_write
from skipclip.utils.safe_read import check_regular
from skipclip.weights.state import (
    MAX_IN_CHANNELS,
    build_checked,
    checkpoint_input_stats,
    claimed_int,
    last_stride_of,
    shortcut_of,
)

MAX_METADATA = 1 << 20  # bytes of safetensors metadata; an export's is a few KB

FORMAT = "skipclip-encoder/1"
CONTEXT_FILE, FRAME_FILE, CARD_FILE = "context_encoder.safetensors", "frame_encoder.safetensors", "card.json"
TRUNK = "trunk."  # ContextEncoder's prefix before torchvision's names


def write_safetensors(path: Path, tensors: dict, metadata: dict) -> None:
    """Tensors and string metadata to a safetensors file, atomically."""

    data = save(
        {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()},
        metadata={k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()},
    )
    atomic_write(path, lambda fh: fh.write(data))


def read_exported(path: str | Path) -> tuple[dict, dict]:
    """The tensors and metadata of an exported file (metadata values JSON-decoded where they can be).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a safetensors file.
    """

    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"weight file {path} does not exist")
    check_regular(path, "weight file")  # a FIFO or a device is refused, never opened by safetensors
    try:
        with safe_open(str(path), framework="pt") as fh:
            raw = fh.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise InvalidInputError(f"{path} is not a readable safetensors file ({str(exc)[:200]})") from None
    if sum(len(k) + len(v) for k, v in raw.items()) > MAX_METADATA:
        raise InvalidInputError(f"{path}: its metadata is over {MAX_METADATA} bytes; not a file of `skipclip export`")
    meta = {}
    for k, v in raw.items():
        try:
            meta[k] = json.loads(v)
        except (json.JSONDecodeError, RecursionError):
            meta[k] = v
    return tensors, meta


def _exported_config(meta: dict, path) -> dict:
    """The run configuration an export records, checked like a config file (``{}`` when absent).

    Raises:
        InvalidInputError: not a mapping, or a value a configuration may not hold.
    """
    config = meta.get("config")
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise InvalidInputError(f"{path}: metadata 'config' is a {type(config).__name__}, not a mapping")
    validate(config_from_dict(config, f"{path} metadata 'config'"), f"{path} metadata 'config'")
    return config


def exported_as_checkpoint(path: str | Path) -> dict:
    """An exported file in the layout of the checkpoint it came from: g as a Skip-Clip checkpoint
    (``model.context_encoder.trunk.*`` with its recorded config), f as a torchvision ResNet-18
    state dict; any other safetensors file as a bare state dict."""
    tensors, meta = read_exported(path)
    stats = {"input_stats": meta["input_stats"]} if meta.get("format") == FORMAT and "input_stats" in meta else {}
    if meta.get("format") == FORMAT and meta.get("encoder") == "context":
        model = {
            "context_arch": _arch(meta, path),
            "width": claimed_int(meta.get("width"), str(path), "width", MAX_WIDTH),
            "shortcut": shortcut_of({f"{TRUNK}{k}": v for k, v in tensors.items()}),
        }
        config = dict(_exported_config(meta, path))
        config["model"] = {**config.get("model", {}), **model}
        return {
            "state_dict": {f"model.context_encoder.{TRUNK}{k}": v for k, v in tensors.items()},
            "hyper_parameters": {"config": config, **stats},
        }
    return {"state_dict": tensors, **({"hyper_parameters": stats} if stats else {})}


def _arch(meta: dict, path) -> str:
    arch = meta.get("arch")
    if not isinstance(arch, str) or arch not in CONTEXT_ARCHS:
        raise InvalidInputError(f"{path}: metadata 'arch' is not one of {', '.join(CONTEXT_ARCHS)}")
    return arch


def load_exported(path: str | Path) -> torch.nn.Module:
    """A ready encoder, in eval mode, from a file written by ``skipclip export``: a
    :class:`~skipclip.models.ContextEncoder` (``(B, 3, T, H, W)`` clip to a ``(B, C, H', W')``
    map; ``.pooled(x)`` gives ``(B, C)``) or a :class:`~skipclip.models.FrameEncoder`, its
    ``input_stats`` those recorded in the file.

    Raises:
        ValueError: the file was not written by ``skipclip export``, or its weights do not fit.
        FileNotFoundError: no such file.
    """

    tensors, meta = read_exported(path)
    if meta.get("format") != FORMAT or meta.get("encoder") not in ("context", "frame"):
        raise InvalidInputError(
            f"{path} was not written by `skipclip export` (no {FORMAT!r} metadata); load a plain "
            "state dict with model.load_state_dict(safetensors.torch.load_file(path))"
        )
    width = claimed_int(meta.get("width"), str(path), "metadata 'width'", MAX_WIDTH)
    last = last_stride_of(meta.get("config"), str(path))  # the geometry it trained with (2 when not recorded)
    if meta["encoder"] == "context":  # the claims are compared with the tensors before anything is built
        arch = _arch(meta, path)
        tensors = {f"{TRUNK}{k}": v for k, v in tensors.items()}
        shortcut = shortcut_of(tensors)  # "A" (Hara et al.'s, no parameters) or "B"
        module = build_checked(lambda: ContextEncoder(arch, width, shortcut, last), tensors, str(path))
    else:
        in_channels = claimed_int(meta.get("in_channels", 3), str(path), "metadata 'in_channels'", MAX_IN_CHANNELS)
        module = build_checked(lambda: FrameEncoder(width, in_channels, last), tensors, str(path))
    if "input_stats" not in meta:
        raise InvalidInputError(f"{path} records no input_stats; export it again with `skipclip export`")
    module.input_stats = checkpoint_input_stats({"hyper_parameters": {"input_stats": meta["input_stats"]}}, str(path))
    return module.eval()


__all__ = [
    "CARD_FILE",
    "CONTEXT_FILE",
    "FORMAT",
    "FRAME_FILE",
    "TRUNK",
    "exported_as_checkpoint",
    "load_exported",
    "read_exported",
    "write_safetensors",
]
