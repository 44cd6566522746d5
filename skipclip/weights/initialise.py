"""Where a context encoder g starts from (the paper's Table 1 rows): random initialisation, a
Skip-Clip checkpoint, a fine-tuned classifier, or 2D weights inflated into 3D."""

from __future__ import annotations

from pathlib import Path

import torch

from skipclip.config import CONTEXT_ARCHS, config_from_dict, validate
from skipclip.config.bounds import MAX_WIDTH
from skipclip.errors import InvalidInputError
from skipclip.method.build import build_skipclip
from skipclip.models import ContextEncoder, inflate_2d_into_3d
from skipclip.weights.read import (
    build_checked,
    checkpoint_config,
    checkpoint_input_stats,
    checkpoint_kind,
    claimed_int,
    describe,
    encoder_state,
    last_stride_of,
    read_checkpoint,
    resolve_weights,
    shortcut_of,
    skipclip_prefix,
    state_dict_of,
    sub_state,
    tensor_size,
)


def model_section(cfg, obj: dict, what: str = "the checkpoint") -> tuple[str, int]:
    """Architecture and width recorded in a checkpoint (the run's own when absent), checked to be
    a known arch and a width in ``[1, MAX_WIDTH]``: claims, compared with the tensors before a
    model is built (:func:`~skipclip.weights.read.build_checked`).

    Raises:
        InvalidInputError: ``model`` is not a mapping, an unknown arch, or a width out of range.
    """
    m = checkpoint_config(obj, what).get("model") or {}
    if not isinstance(m, dict):
        raise InvalidInputError(f"{what}: hyper_parameters.config.model is a {type(m).__name__}, not a mapping")
    arch = m.get("context_arch", cfg.model.context_arch)
    if not isinstance(arch, str) or arch not in CONTEXT_ARCHS:
        raise InvalidInputError(
            f"{what}: hyper_parameters.config.model.context_arch is not one of {', '.join(CONTEXT_ARCHS)}"
        )
    width = claimed_int(m.get("width", cfg.model.width), what, "hyper_parameters.config.model.width", MAX_WIDTH)
    return arch, width


def initial_encoder(cfg, init: str = "random", inflate: str | Path | None = None, seed: int = 0):
    """The context encoder g to start from, and a description of where it came from.

    This is where g's input statistics are decided (``g.input_stats``, read by every protocol
    through :func:`~skipclip.models.normalize.input_stats_of`): ImageNet's for a 2D state dict in
    torchvision's format (ImageNet weights expect them), the recorded ones for a checkpoint or an
    exported file that records them, else Kinetics'.

    Args:
        cfg: run configuration (arch and width of a random g).
        init: ``"random"``, or (a run or export folder resolved by
            :func:`~skipclip.weights.read.resolve_weights`) a Skip-Clip pretraining checkpoint (its g is
            taken; its recorded arch and width win over ``cfg``'s), a fine-tuned classifier checkpoint (its g), or a
            ``context_encoder.safetensors`` from ``skipclip export``.
        inflate: a 2D ResNet-18 state dict in torchvision's format (``.pt`` or ``.safetensors``,
            e.g. ``frame_encoder.safetensors`` from ``skipclip export``), or a Skip-Clip checkpoint whose
            frame encoder f is taken, inflated into g (each 2D kernel repeated along time and
            divided by the temporal kernel size). Excludes ``init``.
        seed: seed of the random initialisation (random g, or inflation's untouched parts).

    Raises:
        ValueError: both ``init`` and ``inflate``; a file of the wrong kind; a shape that does not
            match (naming the key).
        FileNotFoundError: a missing file.
    """

    if inflate is not None and init != "random":
        raise InvalidInputError("give either --init CKPT or --inflate FILE, not both: each initialises g")
    torch.manual_seed(seed)
    if inflate is not None:
        obj = read_checkpoint(resolve_weights(inflate))
        kind = checkpoint_kind(obj)
        if kind == "skipclip":
            state = encoder_state(obj, "frame")
            if not state:  # an exported context encoder: g, not f
                raise InvalidInputError(
                    f"--inflate {inflate} holds a 3D context encoder, not 2D weights; start from it "
                    "with --init FILE, or export the frame encoder (skipclip export --frame-encoder)"
                )
            arch = model_section(cfg, obj, f"--inflate {inflate}")[0]
            source = f"frame encoder f of Skip-Clip checkpoint {inflate}"
        elif kind == "resnet2d":
            state = state_dict_of(obj)
            arch = cfg.model.context_arch
            source = f"2D ResNet-18 state dict {inflate}"
        else:
            raise InvalidInputError(
                f"--inflate {inflate}: expected a 2D ResNet-18 state dict (torchvision format: "
                f"conv1.weight, layer1.0.conv1.weight, ...) or a Skip-Clip checkpoint, found "
                f"{'a fine-tuned classifier' if kind == 'classifier' else describe(obj)}"
            )
        width = tensor_size(state, "conv1.weight", 0, f"--inflate {inflate}", MAX_WIDTH)  # the tensors', not a claim
        g = ContextEncoder(arch, width, "B")  # the 2D weights fill 1x1x1 conv shortcuts, whatever model.shortcut says
        report = inflate_2d_into_3d(state, g)
        # torchvision-format 2D weights are ImageNet's unless the file says otherwise (an exported f)
        g.input_stats = checkpoint_input_stats(obj, default="imagenet" if kind == "resnet2d" else "kinetics")
        return g, {
            "init": "inflation",
            "source": source,
            "arch": arch,
            "width": width,
            "shortcut": "B",
            "input_stats": g.input_stats,
            "inflated_kernels": len(report.inflated),
            "copied": len(report.copied),
        }
    if init == "random":
        g = ContextEncoder(cfg.model.context_arch, cfg.model.width, cfg.model.shortcut, cfg.model.last_stride)
        return g, {"init": "random", "arch": g.arch, "width": g.width, "shortcut": g.shortcut, "seed": seed}
    obj = read_checkpoint(resolve_weights(init))
    kind = checkpoint_kind(obj)
    if kind not in ("skipclip", "classifier"):
        hint = "; for a 2D ResNet state dict use --inflate FILE" if kind == "resnet2d" else ""
        raise InvalidInputError(
            f"--init {init} is not a Skip-Clip checkpoint (no 'context_encoder.*' weights; found {describe(obj)}){hint}"
        )
    arch, width = model_section(cfg, obj, f"--init {init}")
    state = encoder_state(obj, "context")
    shortcut = shortcut_of(state)
    last = last_stride_of(checkpoint_config(obj, f"--init {init}"), f"--init {init}")  # the geometry it trained with
    g = build_checked(lambda: ContextEncoder(arch, width, shortcut, last), state, f"{init}")
    g.input_stats = checkpoint_input_stats(obj, f"--init {init}")  # a fine-tuned classifier's or an exported file's
    return g, {
        "init": "skipclip" if kind == "skipclip" else "finetuned",
        "source": str(init),
        "arch": arch,
        "width": width,
        "shortcut": g.shortcut,
        "input_stats": g.input_stats,
    }


def load_skipclip(ckpt_path: str | Path):
    """A Skip-Clip pretraining checkpoint as ``(SkipClipModel in eval mode, Config)``.

    Raises:
        ValueError: not a Skip-Clip checkpoint, no recorded config, or weights that do not fit.
        FileNotFoundError: no such file.
    """

    obj = read_checkpoint(ckpt_path)
    kind = checkpoint_kind(obj)
    if kind != "skipclip":
        raise InvalidInputError(
            f"{ckpt_path} is not a Skip-Clip pretraining checkpoint (found a {kind} file); the "
            "similarity maps need both encoders g and f, from `skipclip pretrain`"
        )
    raw = checkpoint_config(obj, str(ckpt_path))
    if not raw:
        raise InvalidInputError(
            f"{ckpt_path} records no configuration (hyper_parameters.config); it was not written by `skipclip pretrain`"
        )
    cfg = validate(config_from_dict(raw, f"{ckpt_path} config"), f"{ckpt_path} (its recorded config)")
    model = build_checked(lambda: build_skipclip(cfg), sub_state(obj, skipclip_prefix(obj) or ""), str(ckpt_path))
    return model.eval(), cfg
