"""What a folder holds, told by its contents rather than its ``run.json`` alone: a prepared store,
a pretraining run or a fine-tuning run; a run never writes into a folder of another kind, even
with ``--force``."""

from __future__ import annotations

from pathlib import Path

import torch

from skipclip.engine.run_files import load_run_record
from skipclip.errors import OutputExistsError
from skipclip.weights.read import checkpoint_kind

CHECKPOINT_KINDS = {"skipclip": "pretrain", "classifier": "finetune"}
WEIGHT_PATTERNS = (
    "*.ckpt",
    "*.pt",
    "*.pth",
)  # every weight file skipclip writes or reads as a run's  # weights -> the run that wrote them


def _weights_kind(path: Path) -> str | None:
    """The run kind whose weights ``path`` holds (memory-mapped, tensors only), ``None`` when unknown."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - unreadable or not plain tensors: not recognisably a run's
        return None
    return CHECKPOINT_KINDS.get(checkpoint_kind(obj)) if isinstance(obj, dict) else None


def folder_kind(out: Path) -> str | None:
    """What ``out`` holds, by its contents: ``"store"`` (a ``manifest.json`` of ``skipclip
    prepare``), the ``kind`` of its ``run.json``, else ``"pretrain"`` / ``"finetune"`` when
    ``checkpoints/`` holds Skip-Clip or fine-tuned classifier weights; ``None`` otherwise."""
    out = Path(out)
    if (out / "manifest.json").is_file():
        return "store"
    info = load_run_record(out)
    if info is not None and info.get("kind"):
        return str(info["kind"])
    folder = out / "checkpoints"
    if not folder.is_dir():
        return None
    named = [folder / n for n in ("last.ckpt", "best.ckpt", "weights.pt")]
    others = sorted(p for pattern in WEIGHT_PATTERNS for p in folder.glob(pattern) if p not in named)
    for path in [p for p in named if p.is_file()] + [p for p in others if p.is_file()]:
        found = _weights_kind(path)
        if found is not None:
            return found
    return None


def refuse_other_kind(out: Path, kind: str) -> None:
    """Raises OutputExistsError when ``out`` holds a store or a run of another kind (even with --force)."""
    found = folder_kind(out)
    if found == "store":
        raise OutputExistsError(
            f"{out} holds a prepared store (manifest.json); a {kind} run would write its "
            "checkpoints and logs into it, even with --force: choose another --out"
        )
    if found is not None and found != kind:
        raise OutputExistsError(
            f"{out} holds a {found} run (its checkpoints say so, run.json or not); a {kind} run "
            "would overwrite its logs and checkpoints, even with --force: choose another --out"
        )
