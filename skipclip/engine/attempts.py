"""A run is made of attempts: the first start, then each ``--resume``. ``run.json`` keeps every
attempt (its status, the steps it reached and its training time), and a finished run is never
touched by a ``--resume`` that asks for no more training.

A finished run's ``--resume`` continues only when the budget was raised (``--max-steps``,
``--max-epochs`` or the time budget above the saved ones); otherwise :class:`RunFinished` says so
and how to train longer, and nothing in the folder changes.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from skipclip.errors import SkipClipError

log = logging.getLogger(__name__)

# the budget of each run kind: (config section, keys); raising one of them extends a finished run
BUDGET_KEYS = {
    "pretrain": ("optim", ("max_steps", "max_epochs")),
    "finetune": ("finetune", ("max_steps", "max_epochs")),
}


class RunFinished(SkipClipError):
    """``--resume`` of a finished run that asks for no more training: nothing to do (the CLI
    prints the message and exits 0)."""


def checkpoint_position(path: str | Path) -> tuple[int, float]:
    """``(global_step, training seconds)`` a resume checkpoint records; ``(0, 0.0)`` when it
    records neither (read memory-mapped, tensors only; its contents are checked elsewhere)."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - unreadable: the resume check reports it
        return 0, 0.0
    step = obj.get("global_step") if isinstance(obj, dict) else None
    step = step if isinstance(step, int) and not isinstance(step, bool) and 0 <= step < 2**53 else 0
    position = (obj.get("callbacks") or {}).get("TrainingPosition") if isinstance(obj, dict) else None
    wall = position.get("wall_s") if isinstance(position, dict) else None
    wall = float(wall) if isinstance(wall, (int, float)) and not isinstance(wall, bool) and 0 <= wall < 1e12 else 0.0
    return step, wall


def _budget(saved: dict, cfg, kind: str) -> tuple[dict, dict]:
    section, keys = BUDGET_KEYS[kind]
    old = saved.get(section) if isinstance(saved.get(section), dict) else {}
    new = getattr(cfg, section)
    before = {k: old.get(k) for k in keys}
    before["time_budget_min"] = (
        (saved.get("trainer") or {}).get("time_budget_min") if isinstance(saved.get("trainer"), dict) else None
    )
    now = {k: getattr(new, k) for k in keys}
    now["time_budget_min"] = cfg.trainer.time_budget_min
    return before, now


def budget_raised(saved: dict, cfg, kind: str) -> bool:
    """Whether ``cfg`` asks for more training than the saved configuration: a step or epoch
    count above the saved one, a step budget where the saved run counted epochs, or a longer
    (or no longer any) time budget."""
    before, now = _budget(saved, cfg, kind)
    bs, ns = _count(before.get("max_steps")), _count(now.get("max_steps"))
    be, ne = _count(before.get("max_epochs")), _count(now.get("max_epochs"))
    if ns is not None:  # a step budget now
        more = bs is None or ns > bs
    else:  # an epoch budget now
        more = bs is not None or (ne is not None and (be is None or ne > be))
    b, n = before["time_budget_min"], now["time_budget_min"]
    return more or (isinstance(b, (int, float)) and (n is None or n > b))


def _count(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def refuse_finished(out: Path, info: dict, saved: dict, cfg, kind: str) -> None:
    """Raise :class:`RunFinished` when ``info`` is a finished run and ``cfg`` raises no budget.

    Raises:
        RunFinished: the message says the run is finished and how to train longer.
    """
    if info.get("status") != "finished" or budget_raised(saved, cfg, kind):
        return
    before, _ = _budget(saved, cfg, kind)
    summary = info.get("summary") if isinstance(info.get("summary"), dict) else {}
    steps = summary.get("steps")
    if before.get("max_steps"):
        done, more = f"{before['max_steps']} steps", f"--resume --max-steps {int(before['max_steps']) * 2}"
    else:
        done, more = (
            f"{before.get('max_epochs')} epochs",
            f"--resume --max-epochs {int(before.get('max_epochs') or 1) * 2}",
        )
    trained = f" ({steps} steps trained)" if isinstance(steps, int) else ""
    raise RunFinished(
        f"{out} holds a finished {kind} run: it trained its budget of {done}{trained}; nothing to "
        f"do, nothing changed. To train longer, raise the budget: {more}"
    )


def attempt_record(info: dict, resume_step: int | None, resume_wall: float | None) -> dict:
    """The earlier attempt ``info`` (a ``run.json`` record) as an entry of ``attempts``: its
    status, the steps it reached (the checkpoint this attempt resumes from, when it did not end
    in a summary) and its training seconds."""
    earlier = {k: v for k, v in info.items() if k != "attempts"}
    first = earlier.get("first_step") if isinstance(earlier.get("first_step"), int) else 0
    summary = earlier.get("summary") if isinstance(earlier.get("summary"), dict) else {}
    last = summary.get("steps") if isinstance(summary.get("steps"), int) else resume_step
    earlier["steps"] = [first, last]
    before = earlier.get("wall_s_before") if isinstance(earlier.get("wall_s_before"), (int, float)) else 0.0
    total = summary.get("wall_s") if isinstance(summary.get("wall_s"), (int, float)) else resume_wall
    earlier["wall_s"] = None if total is None else max(0.0, float(total) - float(before))
    return earlier


__all__ = ["BUDGET_KEYS", "RunFinished", "attempt_record", "budget_raised", "checkpoint_position", "refuse_finished"]
