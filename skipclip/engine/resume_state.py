"""Resume state is data: before ``--resume`` restores anything from ``last.ckpt``, every part
Lightning and skipclip will restore is checked against the model and a fresh trainer.

``weights_only`` loading keeps code out of a checkpoint, not wrong values: an Adam ``exp_avg`` of
the wrong shape makes the fused step read past its tensor (a segmentation fault), a loop counter
of the wrong type a ``KeyError`` deep in Lightning. :func:`check_resume_state` checks the model
weights, the optimiser state (each tensor the shape and dtype of its parameter), the scheduler,
the loop counters, and the :class:`~skipclip.engine.resume.TrainingPosition` and
:class:`~skipclip.engine.callbacks.KeepBest` states, and raises one
:class:`~skipclip.errors.InvalidInputError` naming the file and the field
(:class:`~skipclip.engine.field_checker.FieldChecker`).
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch

from skipclip.engine.field_checker import BIG, FieldChecker, shown_value
from skipclip.utils.quiet import quiet_lightning


def _optimizers(module: L.LightningModule) -> tuple[list[torch.optim.Optimizer], list]:
    conf = module.configure_optimizers()
    if isinstance(conf, dict):
        sched = conf.get("lr_scheduler")
        sched = sched["scheduler"] if isinstance(sched, dict) else sched
        return [conf["optimizer"]], [sched] if sched is not None else []
    if isinstance(conf, torch.optim.Optimizer):
        return [conf], []
    raise TypeError(f"unsupported configure_optimizers result {type(conf).__name__}")


def _check_optimizer(c: FieldChecker, saved, fresh: torch.optim.Optimizer, field: str) -> None:
    c.kind(saved, dict, field)
    c.kind(saved.get("param_groups"), list, f"{field}.param_groups")
    c.kind(saved.get("state"), dict, f"{field}.state")
    ref = fresh.state_dict()["param_groups"]
    params = [p for g in fresh.param_groups for p in g["params"]]
    if len(saved["param_groups"]) != len(ref):
        c.fail(f"{field}.param_groups", f"has {len(saved['param_groups'])} groups, the model's optimiser {len(ref)}")
    for i, (g, r) in enumerate(zip(saved["param_groups"], ref)):
        where = f"{field}.param_groups[{i}]"
        c.kind(g, dict, where)
        if g.get("params") != r["params"]:
            c.fail(f"{where}.params", f"does not list the model's {len(r['params'])} parameters in order")
        for key, value in r.items():
            if key == "params":
                continue
            if key not in g:
                c.fail(f"{where}.{key}", "is missing")
            c.like(g[key], value, f"{where}.{key}")
        for key in ("lr", "initial_lr", "weight_decay", "eps"):
            if key in g:
                c.number(g[key], f"{where}.{key}", 0.0)
    for pid, entry in saved["state"].items():
        where = f"{field}.state[{pid!r}]"
        if isinstance(pid, bool) or not isinstance(pid, int) or not 0 <= pid < len(params):
            c.fail(where, f"names no parameter (the optimiser has {len(params)})")
        c.kind(entry, dict, where)
        missing = sorted(_required_state(fresh, saved["param_groups"]) - set(entry))
        if missing:
            c.fail(f"{where}.{missing[0]}", "is missing")
        for key, value in entry.items():
            if key == "step":
                step = (
                    value.item()
                    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.dtype.is_floating_point
                    else value
                )
                if isinstance(value, torch.Tensor) and (value.numel() != 1 or not value.dtype.is_floating_point):
                    c.fail(f"{where}.step", f"is {shown_value(value)}, not a one-value float tensor")
                c.number(step, f"{where}.step", 0.0, float(BIG))
            elif key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer"):
                c.tensor_like(value, params[pid].detach(), f"{where}.{key}")
            else:
                c.fail(f"{where}.{key}", "is not optimiser state this run writes")


def _required_state(fresh: torch.optim.Optimizer, groups: list) -> set:
    """The keys every per-parameter state of ``fresh``'s kind holds once it has stepped."""
    if isinstance(fresh, torch.optim.Adam):
        amsgrad = any(isinstance(g, dict) and g.get("amsgrad") for g in groups)
        return {"step", "exp_avg", "exp_avg_sq"} | ({"max_exp_avg_sq"} if amsgrad else set())
    return set()


def _check_position(c: FieldChecker, s, field: str) -> None:
    c.kind(s, dict, field)
    for key in ("epoch", "batches_done", "batch_size", "world_size"):
        c.int(s.get(key), f"{field}.{key}", 1 if key in ("batch_size", "world_size") else 0, 2**31)
    c.kind(s.get("epoch_done"), bool, f"{field}.epoch_done")
    world = s["world_size"]
    rng = c.kind(s.get("rng"), list, f"{field}.rng")
    if len(rng) != world:
        c.fail(f"{field}.rng", f"has {len(rng)} entries for a world size of {world}")
    for i, r in enumerate(rng):
        _check_rng(c, r, f"{field}.rng[{i}]")
    skipped = c.kind(s.get("skipped_videos"), list, f"{field}.skipped_videos")
    if len(skipped) != world:
        c.fail(f"{field}.skipped_videos", f"has {len(skipped)} entries for a world size of {world}")
    for i, n in enumerate(skipped):
        c.int(n, f"{field}.skipped_videos[{i}]")
    failed = c.kind(s.get("failed_videos", {}), dict, f"{field}.failed_videos")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in failed.items()):
        c.fail(f"{field}.failed_videos", "is not a map of video names to reasons")
    if "wall_s" in s:
        c.number(s["wall_s"], f"{field}.wall_s", 0.0, 1e12)


def _check_rng(c: FieldChecker, r, field: str) -> None:
    c.kind(r, dict, field)
    py = r.get("python")
    if not (
        isinstance(py, tuple)
        and len(py) == 3
        and py[0] == 3
        and isinstance(py[1], tuple)
        and len(py[1]) == 625
        and all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 2**32 for x in py[1][:624])
        and isinstance(py[1][624], int)
        and 0 <= py[1][624] <= 624
        and (py[2] is None or isinstance(py[2], float))
    ):
        c.fail(f"{field}.python", "is not a Python random state")
    n = c.kind(r.get("numpy"), dict, f"{field}.numpy")
    if n.get("name") != "MT19937":
        c.fail(f"{field}.numpy.name", f"is {shown_value(n.get('name'))}, not 'MT19937'")
    keys = n.get("keys")
    if (
        not isinstance(keys, torch.Tensor)
        or keys.shape != (624,)
        or keys.dtype != torch.int64
        or bool(((keys < 0) | (keys >= 2**32)).any())
    ):
        c.fail(f"{field}.numpy.keys", f"is {shown_value(keys)}, not 624 32-bit words")
    c.int(n.get("pos"), f"{field}.numpy.pos", 0, 624)
    c.int(n.get("has_gauss"), f"{field}.numpy.has_gauss", 0, 1)
    c.number(n.get("gauss"), f"{field}.numpy.gauss")
    t, ref = r.get("torch"), torch.get_rng_state()
    if not isinstance(t, torch.Tensor) or t.shape != ref.shape or t.dtype != ref.dtype:
        c.fail(f"{field}.torch", f"is {shown_value(t)}, not a CPU generator state {tuple(ref.shape)} {ref.dtype}")
    if "cuda" in r:
        c.kind(r["cuda"], (list, tuple), f"{field}.cuda")
        if not all(isinstance(x, torch.Tensor) and x.dtype == torch.uint8 and x.dim() == 1 for x in r["cuda"]):
            c.fail(f"{field}.cuda", "is not a list of CUDA generator states")


def _check_keep_best(c: FieldChecker, s, model_state: dict, field: str) -> None:
    c.kind(s, dict, field)
    if s.get("best") is not None:
        c.number(s["best"], f"{field}.best")
    if s.get("best_epoch") is not None:
        c.int(s["best_epoch"], f"{field}.best_epoch", 0, 2**31)
    if s.get("best_step") is not None:
        c.int(s["best_step"], f"{field}.best_step", -1, BIG)
    if s.get("best_state") is not None:
        c.weights(s["best_state"], model_state, f"{field}.best_state")
    history = c.kind(s.get("history", []), list, f"{field}.history")
    for i, h in enumerate(history):
        c.kind(h, (list, tuple), f"{field}.history[{i}]")
        if len(h) not in (2, 3):
            c.fail(f"{field}.history[{i}]", f"has {len(h)} entries, not (epoch, step, value)")
        for j, x in enumerate(h[:-1]):
            c.int(x, f"{field}.history[{i}][{j}]", -1, BIG)
        c.number(h[-1], f"{field}.history[{i}][{len(h) - 1}]")


def _fresh_loops() -> dict:
    quiet_lightning()  # no "GPU available" banners
    trainer = L.Trainer(
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        devices=1,
    )
    return trainer._checkpoint_connector._get_loops_state_dict()


def check_resume_state(obj: dict, module: L.LightningModule, path: str | Path) -> None:
    """Check the resume state ``obj`` (read from ``path`` with tensors only) against ``module``.

    Raises:
        InvalidInputError: a part of the state that does not fit; names ``path`` and the field.
    """
    c = FieldChecker(path)
    c.kind(obj, dict, "(the file)")
    model_state = module.state_dict()
    c.weights(obj.get("state_dict"), model_state, "state_dict")
    c.int(obj.get("global_step"), "global_step")
    c.int(obj.get("epoch"), "epoch", 0, 2**31)
    optimizers, schedulers = _optimizers(module)
    saved = c.kind(obj.get("optimizer_states"), list, "optimizer_states")
    if len(saved) != len(optimizers):
        c.fail("optimizer_states", f"has {len(saved)} entries, the model has {len(optimizers)} optimisers")
    for i, (s, fresh) in enumerate(zip(saved, optimizers)):
        _check_optimizer(c, s, fresh, f"optimizer_states[{i}]")
    saved = c.kind(obj.get("lr_schedulers", []), list, "lr_schedulers")
    if len(saved) != len(schedulers):
        c.fail("lr_schedulers", f"has {len(saved)} entries, the model has {len(schedulers)} schedulers")
    for i, (s, fresh) in enumerate(zip(saved, schedulers)):
        c.like(s, fresh.state_dict(), f"lr_schedulers[{i}]")
    c.like(obj.get("loops"), _fresh_loops(), "loops")
    callbacks = c.kind(obj.get("callbacks", {}), dict, "callbacks")
    for key, state in callbacks.items():
        name = key.split("{", 1)[0] if isinstance(key, str) else ""
        if name == "TrainingPosition":
            _check_position(c, state, f"callbacks[{key!r}]")
        elif name == "KeepBest":
            _check_keep_best(c, state, model_state, f"callbacks[{key!r}]")
        elif name == "Timer":
            elapsed = c.kind(
                c.kind(state, dict, f"callbacks[{key!r}]").get("time_elapsed", {}),
                dict,
                f"callbacks[{key!r}].time_elapsed",
            )
            for k, v in elapsed.items():
                c.number(v, f"callbacks[{key!r}].time_elapsed[{k!r}]", 0.0)
        elif name in CLOCKS:
            _check_clock(c, state, CLOCKS[name], f"callbacks[{key!r}]")
        elif name not in ("RunCheckpoint", "ModelCheckpoint"):  # RunCheckpoint restores only what it checks
            c.fail(f"callbacks[{key!r}]", "is not a callback of this run")


CLOCKS = {"MonitorClock": ("seconds", "validations"), "SimilarityMaps": ("seconds", "sets", "last_step")}


def _check_clock(c: FieldChecker, state, fields: tuple[str, ...], where: str) -> None:
    """A run's time counters (:class:`~skipclip.engine.monitor_clock.MonitorClock`,
    :class:`~skipclip.viz.similarity_callback.SimilarityMaps`): seconds, then counts (a step may be None)."""
    state = c.kind(state, dict, where)
    if set(state) != set(fields):
        c.fail(where, f"has the fields {sorted(state)}, not {list(fields)}")
    c.number(state["seconds"], f"{where}['seconds']", 0.0)
    for k in fields[1:]:
        if not (k == "last_step" and state[k] is None):
            c.int(state[k], f"{where}[{k!r}]")


__all__ = ["check_resume_state"]
