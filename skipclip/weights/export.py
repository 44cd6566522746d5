"""Encoders out of a run, for use elsewhere: safetensors weight files plus a JSON card.

``export_encoders`` writes the context encoder g (and, on request, the frame encoder f) of a
Skip-Clip or fine-tuned checkpoint as ``context_encoder.safetensors`` /
``frame_encoder.safetensors`` with a ``card.json`` beside them. The tensor names are
torchvision's: g's are those of ``torchvision.models.video.r3d_18()`` / ``r2plus1d_18()`` without
``fc`` (the ``trunk.`` prefix of :class:`~skipclip.models.ContextEncoder` is dropped), f's those
of ``torchvision.models.resnet18()`` without ``fc``. Each file also carries its architecture,
width and run configuration in the safetensors metadata, so :func:`load_encoder` needs nothing
else, and ``--init`` / ``--inflate`` read it like the checkpoint it came from.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from skipclip._version import __version__
from skipclip.config import config_from_dict, validate
from skipclip.config.bounds import MAX_WIDTH
from skipclip.errors import InvalidInputError, OutputExistsError
from skipclip.models import ContextEncoder, FrameEncoder
from skipclip.models.normalize import STATS
from skipclip.utils.io import (
    TMP_SUFFIX,
    atomic_write_text,
    replace_folder,
    restore_replaced,
)
from skipclip.weights.card_recipe import context_recipe, frame_recipe
from skipclip.weights.exported import CARD_FILE, CONTEXT_FILE, FORMAT, FRAME_FILE, TRUNK, write_safetensors
from skipclip.weights.read import (
    MAX_IN_CHANNELS,
    check_claims,
    checkpoint_config,
    checkpoint_input_stats,
    checkpoint_kind,
    describe,
    encoder_state,
    last_stride_of,
    read_checkpoint,
    shortcut_of,
    tensor_size,
)

TORCHVISION_ARCHS = ("r3d_18", "r2plus1d_18")
log = logging.getLogger(__name__)


def how_to_load(arch: str, width: int, shortcut: str = "B", last_stride: int = 2) -> str:
    """One sentence: how to rebuild g from its exported weights outside skipclip."""
    if arch in TORCHVISION_ARCHS and width == 64 and shortcut == "B" and last_stride == 2:
        return (
            f"m = torchvision.models.video.{arch}(); m.fc = torch.nn.Identity(); "
            f"m.load_state_dict(safetensors.torch.load_file(path), strict=True); m(x) gives 512-d features "
            "(the global average of g's last feature map)"
        )
    why = []
    if arch not in TORCHVISION_ARCHS:
        why.append(f"torchvision has no {arch}")
    if width != 64:
        why.append(f"width {width} is not torchvision's 64")
    if shortcut != "B":
        why.append("its shortcuts are zero-padding (type A), torchvision's are 1x1x1 convolutions")
    if last_stride != 2:
        why.append(f"its last stage has spatial stride {last_stride}, torchvision's 2")
    return (
        f"skipclip.load_encoder(path); or, without skipclip ({'; '.join(why)}), run the lines of 'recipe' "
        f"with path set: they build model, whose model(x) gives {8 * width}-d features (the global average "
        "of g's last feature map)"
    )


def _count(value) -> int | None:
    """An epoch or step count read from a checkpoint, or None when it is not a plain integer."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _card(cfg: dict, obj: dict, arch: str, width: int, shortcut: str, ckpt: Path, frame: int | None) -> dict:
    """The card; ``frame``: the frame encoder's input channels (``None``: f not exported)."""
    last = last_stride_of(cfg, str(ckpt))  # the geometry it trained with (2, the paper's, when not recorded)
    data, pretext, ft = cfg.get("data", {}), cfg.get("pretext", {}), cfg.get("finetune", {})
    crop = data.get("crop_size")
    stats = checkpoint_input_stats(obj)  # g's: ImageNet's for a classifier fine-tuned from inflated ImageNet weights
    mean, std = STATS[stats]
    card = {
        "format": FORMAT,
        "skipclip_version": __version__,
        "source_checkpoint": str(ckpt),
        "context_encoder": {
            "file": CONTEXT_FILE,
            "arch": arch,
            "width": width,
            "shortcut": shortcut,
            "last_stride": last,
            "out_channels": 8 * width,
            "input": {
                "layout": "(B, 3, T, H, W) float",
                "channel_order": "RGB",
                "frames": pretext.get("context_frames"),
                "size": [crop, crop],
                "short_side": data.get("short_side"),
                "resize": "short side resized to short_side (bilinear, antialiased), then the centre size crop",
                "scale": "uint8 / 255, then (x - mean) / std per channel",
                "statistics": stats,
                "mean": list(mean),
                "std": list(std),
                "finetune_frames": ft.get("clip_frames") or pretext.get("context_frames"),
                "finetune_size": ft.get("crop_size") or crop,
                "finetune_short_side": ft.get("short_side") or data.get("short_side"),
            },
            "output": "(B, 8*width, T', H', W') feature map; skipclip averages time, then space for a vector",
            "how_to_load": how_to_load(arch, width, shortcut, last),
            "recipe": context_recipe(arch, width, shortcut, last),
        },
        "pretext": pretext,
        "epochs": _count(obj.get("epoch")),
        "steps": _count(obj.get("global_step")),
        "config": cfg,
    }
    if frame is not None:
        card["frame_encoder"] = {
            "file": FRAME_FILE,
            "arch": "resnet18 (2D)",
            "width": width,
            "in_channels": frame,
            "input": {
                "layout": f"(N, {frame}, H, W) float: {frame // 3} target frame(s) stacked on channels",
                "channel_order": "RGB",
                "statistics": "kinetics",
                "mean": list(STATS["kinetics"][0]),
                "std": list(STATS["kinetics"][1]),
            },
            "how_to_load": (
                "m = torchvision.models.resnet18(); m.fc = torch.nn.Identity(); "
                "m.load_state_dict(safetensors.torch.load_file(path), strict=True)"
                if width == 64 and frame == 3 and last == 2
                else "skipclip.load_encoder(path); or, without skipclip, run the lines of 'recipe' with "
                "path set: they build model"
            ),
            "last_stride": last,
            "recipe": frame_recipe(width, frame, last),
        }
    return card


def export_encoders(ckpt: str | Path, out: str | Path, *, frame: bool = False, force: bool = False) -> dict:
    """Write g (and f with ``frame``) of ``ckpt`` as safetensors plus ``card.json`` into ``out``.

    Args:
        ckpt: a Skip-Clip pretraining checkpoint (``last.ckpt``) or a fine-tuned ``best.ckpt``
            (its g only).
        out: folder to write.
        frame: also export the frame encoder f (Skip-Clip checkpoints only).
        force: replace an export already in ``out``, as a set: the new files are written to a
            sibling temporary folder, then swapped in (old folder renamed away, new one renamed
            in, old one deleted), so a kill or a full disk leaves the old export or the new one.

    Returns:
        The card.

    Raises:
        ValueError: not a Skip-Clip or fine-tuned checkpoint; ``frame`` on a checkpoint without f.
        FileExistsError: ``out`` already holds an export and ``force`` is not given, or holds an
            export and other files (even with ``force``).
        FileNotFoundError: no such checkpoint.
    """

    ckpt, out = Path(ckpt), Path(out)
    obj = read_checkpoint(ckpt)
    kind = checkpoint_kind(obj)
    if kind not in ("skipclip", "classifier"):
        raise InvalidInputError(
            f"{ckpt} is neither a Skip-Clip checkpoint nor a fine-tuned classifier ({describe(obj)}); "
            "give RUN/checkpoints/last.ckpt of `skipclip pretrain` or best.ckpt of `skipclip finetune`"
        )
    if frame and kind != "skipclip":
        raise InvalidInputError(f"{ckpt} is a fine-tuned classifier: it has no frame encoder f; drop --frame-encoder")
    _check_export_dir(out, force)
    cfg = checkpoint_config(obj, str(ckpt))
    if cfg:  # checked like a config file before it is copied into the export and its card
        cfg = validate(config_from_dict(cfg, f"{ckpt} config"), f"{ckpt} (its recorded config)").to_dict()
    g = encoder_state(obj, "context")
    arch = (cfg.get("model") or {}).get("context_arch", "r3d18_hara")
    # g's width as its tensors hold it (layer1's last batch norm has `width` channels in every arch)
    width = tensor_size(g, f"{TRUNK}layer1.0.conv2.1.weight", 0, str(ckpt), MAX_WIDTH)
    shortcut = shortcut_of(g)  # the weights say it: type B has 1x1x1 downsample convolutions
    check_claims(lambda: ContextEncoder(arch, width, shortcut), g, str(ckpt))
    meta = {"format": FORMAT, "arch": arch, "width": width, "shortcut": shortcut, "config": cfg}
    f = encoder_state(obj, "frame") if frame else None
    in_channels = None
    if f is not None:
        in_channels = tensor_size(f, "conv1.weight", 1, str(ckpt), MAX_IN_CHANNELS)
        check_claims(lambda: FrameEncoder(width, in_channels), f, str(ckpt))
    card = _card(cfg, obj, arch, width, shortcut, ckpt, in_channels)
    stats = checkpoint_input_stats(obj, str(ckpt))

    def write(folder: Path) -> None:
        write_safetensors(
            folder / CONTEXT_FILE,
            {k.removeprefix(TRUNK): v for k, v in g.items()},
            {**meta, "encoder": "context", "input_stats": stats},
        )
        if f is not None:
            write_safetensors(
                folder / FRAME_FILE,
                f,
                {**meta, "encoder": "frame", "input_stats": "kinetics", "in_channels": in_channels},
            )
        atomic_write_text(folder / CARD_FILE, json.dumps(card, indent=2, default=str) + "\n")  # the card last

    if out.is_symlink():  # only with force (refused before): the link is replaced, never its target
        replace_folder(out, write, replace_link=True)
    elif _others(out):  # the user's folder, no export in it: the files are added, each atomically
        write(out)
    else:  # written beside, then swapped in: the old set or the new one, never a mix
        replace_folder(out, write)
    return card


EXPORT_FILES = (CONTEXT_FILE, FRAME_FILE, CARD_FILE)


def _others(out: Path) -> list[str]:
    """What ``out`` holds besides an export (temporary files of an atomic write aside)."""
    if not out.is_dir():
        return []
    return sorted(
        p.name
        for p in out.iterdir()
        if p.name not in EXPORT_FILES and not (p.name.startswith(".") and p.name.endswith(TMP_SUFFIX))
    )


def _check_export_dir(out: Path, force: bool) -> None:
    """Refuse to replace an export without ``force``, and, even with it, a folder that holds other
    files too (the set is swapped as a folder: they would go with it).

    Raises:
        FileExistsError: as above, or ``out`` is a file.
    """
    if restore_replaced(out):
        log.warning("put back %s: an earlier export was stopped while swapping it", out)
    if out.is_symlink() and not force:
        raise OutputExistsError(
            f"--out {out} is a symbolic link (to {os.readlink(out)}); export replaces the folder "
            "there as a set: give a real folder, or pass --force to replace the link (never the "
            "folder it points to)"
        )
    if out.is_symlink():  # with force: the link is replaced by the export, whatever its target holds
        return
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"--out {out} is a file; give a folder for the export")
    there = [n for n in EXPORT_FILES if (out / n).exists()]
    if there and not force:
        raise OutputExistsError(f"{out} already holds {', '.join(there)}; pass --force or choose another --out")
    others = _others(out)
    if there and others:
        raise OutputExistsError(
            f"{out} holds an export and other files ({', '.join(others[:5])}); --force replaces "
            "an export folder as a whole and would delete them: export into a folder of its own"
        )


__all__ = ["export_encoders", "how_to_load"]
