"""The API's training and evaluation, as the commands do them, each returning a typed result
(docs/api.md)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

from skipclip.commands.defaults import check_data, choose_preset
from skipclip.commands.pretrain import print_summary
from skipclip.config import (
    Config,
    apply_overrides,
    apply_sets,
    load_config,
    parse_sets,
    validate,
)
from skipclip.errors import InvalidInputError
from skipclip.eval.report import write_report
from skipclip.recipes.evaluate import (
    PROTOCOLS,
    REPORT,
    check_evaluate_out,
    default_out,
    run_evaluate,
)
from skipclip.recipes.features import FeatureSet, run_features
from skipclip.recipes.finetune import run_finetune
from skipclip.recipes.pretrain import pretrain as _pretrain
from skipclip.utils.quiet import quiet_lightning
from skipclip.weights import resolve_weights

ConfigLike = str | Path | Config


def _config(
    config: ConfigLike | None,
    overrides: Mapping[str, Any] | None,
    sets: Mapping[str, Any] | Sequence[str] | None,
    data: str | Path | None = None,
) -> Config:
    """A validated Config from a preset name, a YAML path or a Config (copied), then dotted
    ``overrides`` and ``sets`` (a mapping, or ``["key=value", ...]`` as on the command line).
    ``None``: the preset for ``data``, as the commands choose it (logged)."""
    if config is None:
        config = choose_preset(SimpleNamespace(config=None, data=data))
    set_keys = _sets(sets)
    if isinstance(config, Config):
        cfg = copy.deepcopy(config)
        apply_overrides(cfg, overrides or {})
        apply_sets(cfg, set_keys)
        return validate(cfg)
    return load_config(config, overrides or {}, sets=set_keys)


def _sets(sets: Mapping[str, Any] | Sequence[str] | None) -> dict[str, Any]:
    """``--set`` keys as a mapping: given as one, or as ``["key=value", ...]`` as on the command line."""
    if isinstance(sets, (list, tuple)):
        return parse_sets(list(sets))
    return dict(sets or {})  # type: ignore[arg-type]  # a Mapping here: the sequences were parsed above


@dataclass
class PretrainResult:
    """What :func:`pretrain` made.

    Attributes:
        out: the run folder.
        checkpoint: ``out/checkpoints/last.ckpt``.
        epochs, steps, wall_s: how long it trained.
        metrics: the last logged values (``val/rank_acc``, ``train/loss``, ...).
        summary: everything ``run.json`` records at the end: its ``summary`` record
            (:meth:`~skipclip.recipes.pretrain_summary.PretrainSummary.to_dict`), then ``health``.
        model: the trained :class:`~skipclip.method.model.SkipClipModel` (g, f, rotation head).
    """

    out: Path
    checkpoint: Path
    epochs: int
    steps: int
    wall_s: float
    metrics: dict[str, float]
    summary: dict = field(repr=False)
    model: torch.nn.Module = field(repr=False)


def pretrain(
    config: ConfigLike | None = None,
    data: str | Path = "synthetic",
    out: str | Path = "runs/pretrain",
    *,
    overrides: Mapping[str, Any] | None = None,
    sets: Mapping[str, Any] | Sequence[str] | None = None,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
    **kwargs,
) -> PretrainResult:
    """``skipclip pretrain`` as a function.

    Args:
        config: a preset name (``cpu``, ``cpu-real``, ``paper``), a YAML file or a Config;
            ``None``: ``cpu`` for ``"synthetic"``, ``cpu-real`` for a store or a video folder.
        data: ``"synthetic"``, a prepared store or a video folder.
        out: the run folder.
        overrides, sets: dotted keys set on the config (``{"optim.max_steps": 20}``); ``sets``
            also takes ``["optim.max_steps=20"]`` as ``--set`` does.
        resume, force, progress: as the command's flags.
        kwargs: passed to :func:`skipclip.recipes.pretrain.pretrain` (``checkpoint_every``,
            ``loggers``, ``images_every``, ``callbacks``).

    Raises:
        InvalidInputError, InputNotFoundError, OutputExistsError: see the command.
    """
    quiet_lightning()
    check_data(data)
    cfg = _config(config, overrides, sets, data)
    module, _, summary = _pretrain(cfg, str(data), out, resume=resume, force=force, progress=progress, **kwargs)
    if progress:
        print_summary(summary)  # as the command closes: budget, videos, metrics, pretext health
    return PretrainResult(
        Path(out),
        Path(summary.last_checkpoint),
        summary.epochs,
        summary.steps,
        summary.wall_s,
        dict(summary.metrics),
        summary.to_dict(with_health=True),
        module.model,
    )


@dataclass
class FinetuneRun:
    """What :func:`finetune` made: where it is, and its report. Each row of ``results`` is a
    :class:`~skipclip.eval.finetune_result.FinetuneResult` as written to ``report.json`` (its ``to_dict``;
    with several seeds, their mean and spread).

    Attributes:
        out: the run folder.
        report_path: ``out/report.json``.
        checkpoint: ``out/checkpoints/best.ckpt``, the selected weights.
        top1, top5: video accuracy on the test split (the mean over seeds with several).
        results: the report's result rows.
        report: the whole report.
    """

    out: Path
    report_path: Path
    checkpoint: Path
    top1: float
    top5: float | None
    results: list[dict] = field(repr=False)
    report: dict = field(repr=False)


def finetune(
    config: ConfigLike | None = None,
    data: str | Path = "synthetic",
    out: str | Path = "runs/finetune",
    *,
    ckpt: str | Path | None = None,
    inflate: str | Path | None = None,
    linear: bool = False,
    seeds: int = 1,
    overrides: Mapping[str, Any] | None = None,
    sets: Mapping[str, Any] | Sequence[str] | None = None,
    resume: bool = False,
    force: bool = False,
    progress: bool = True,
    loggers: Sequence[str] = ("csv",),
) -> FinetuneRun:
    """``skipclip finetune`` as a function: ``ckpt`` is where g starts (a checkpoint, an export, a
    run folder, or ``"random"`` spelled out), ``inflate`` 2D weights inflated into g instead;
    ``config`` as in :func:`pretrain`.

    Raises:
        InvalidInputError, InputNotFoundError, OutputExistsError: see the command; no ``ckpt``
            nor ``inflate``.
    """
    quiet_lightning()
    if ckpt is None and inflate is None:
        raise InvalidInputError(
            "say where g starts: ckpt=RUN (a run folder, .ckpt or export), or ckpt='random' "
            "for the random-initialisation baseline"
        )
    ckpt = "random" if ckpt is None else ckpt
    check_data(data)
    cfg = _config(config, overrides, sets, data)
    init = "random" if str(ckpt) == "random" else str(resolve_weights(ckpt))
    report = run_finetune(
        cfg,
        str(data),
        out,
        init=init,
        inflate=None if inflate is None else str(inflate),
        frozen=linear,
        force=force,
        resume=resume,
        progress=progress,
        loggers=loggers,
        seeds=seeds,
    )
    if not report:
        raise InvalidInputError("this process is not the first of a distributed run: only the first writes the report")
    r = report["results"][0]
    return FinetuneRun(
        Path(out), Path(out) / REPORT, Path(report["checkpoint"]), r["top1"], r["top5"], report["results"], report
    )


@dataclass
class EvaluateResult:
    """What :func:`evaluate` measured.

    Attributes:
        report_path: where ``report.json`` was written.
        results: one row per protocol (``protocol``, ``top1``, ...).
        report: the whole report, with its protocol card.
    """

    report_path: Path
    results: list[dict] = field(repr=False)
    report: dict = field(repr=False)

    def top1(self, protocol: str) -> float:
        """The top-1 of ``protocol`` (``finetune``, ``linear_probe``, ``knn``)."""
        return next(r["top1"] for r in self.results if r["protocol"] == protocol)


def evaluate(
    ckpt: str | Path,
    data: str | Path,
    out: str | Path | None = None,
    *,
    config: ConfigLike | None = None,
    protocols: Sequence[str] = PROTOCOLS,
    seeds: int = 1,
    overrides: Mapping[str, Any] | None = None,
    sets: Mapping[str, Any] | Sequence[str] | None = None,
    force: bool = False,
    progress: bool = True,
) -> EvaluateResult:
    """``skipclip evaluate`` as a function; the report always goes to ``out/report.json`` (default
    ``RUN/evaluation`` for a checkpoint in ``RUN/checkpoints/``).

    Args:
        ckpt: a checkpoint, export or run folder, or ``"random"`` (the baseline).
        config: ``None`` uses the checkpoint's own settings; else a preset, YAML file or Config.

    Raises:
        OutputExistsError: ``out`` holds a report and ``force`` is not given (checked first).
        InvalidInputError, InputNotFoundError: see the command.
    """
    quiet_lightning()
    ckpt = "random" if str(ckpt) == "random" else str(resolve_weights(ckpt))
    out = check_evaluate_out(out or default_out(ckpt), force)
    set_keys = _sets(sets)
    cfg = None if config is None else _config(config, overrides, set_keys)  # None: the checkpoint's own settings
    report = run_evaluate(
        cfg,
        ckpt,
        str(data),
        protocols=list(protocols),
        overrides=dict(overrides or {}),
        sets=set_keys,
        progress=progress,
        seeds=seeds,
    )
    write_report(out / REPORT, report)
    return EvaluateResult(out / REPORT, report["results"], report)


def extract(
    ckpt: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    per_window: bool = False,
    force: bool = False,
    progress: bool = True,
    overrides: Mapping[str, Any] | None = None,
    sets: Mapping[str, Any] | Sequence[str] | None = None,
) -> FeatureSet:
    """``skipclip features`` as a function: every video's features of ``data`` to ``out``
    (``.npz`` or ``.safetensors``); returns them as a :class:`~skipclip.recipes.features.FeatureSet`."""
    return run_features(
        ckpt,
        data,
        out,
        per_window=per_window,
        force=force,
        progress=progress,
        overrides=dict(overrides or {}),
        sets=_sets(sets),
    )


__all__ = [
    "ConfigLike",
    "EvaluateResult",
    "FinetuneRun",
    "PretrainResult",
    "evaluate",
    "extract",
    "finetune",
    "pretrain",
]
