"""The Python API: what the commands do, as functions (docs/api.md).

From a video to features::

    import skipclip
    encoder = skipclip.load_encoder("runs/kth")               # a run folder, .ckpt, export folder or .safetensors
    vector = skipclip.features(encoder, "person01_boxing_d2_uncomp.avi")  # torch (C,): as `skipclip features`

Training, as the commands do it, each returning a typed result::

    run = skipclip.pretrain("cpu-real", "videos/", "runs/kth", sets={"optim.max_steps": 20})
    tuned = skipclip.finetune("cpu-real", "videos/", "runs/kth-finetune", ckpt=run.checkpoint)
    report = skipclip.evaluate(run.checkpoint, "videos/")

This module sits on top of the package (it may import any of it); ``import skipclip`` loads it
only when one of its names is first used.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import yaml

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
from skipclip.data import VideoEntry, VideoFileSource, VideoReadError
from skipclip.errors import InputNotFoundError, InvalidInputError
from skipclip.eval.features import average_by_video, window_features
from skipclip.eval.finetune import finetune_settings
from skipclip.eval.report import write_report
from skipclip.models.preprocess import Preprocess, as_frames
from skipclip.recipes.evaluate import (
    PROTOCOLS,
    REPORT,
    check_evaluate_out,
    default_out,
    run_evaluate,
)
from skipclip.recipes.features import (
    EncoderSource,
    FeatureSet,
    resolve_weights,
    run_features,
)
from skipclip.recipes.features import load_encoder as _load_encoder
from skipclip.recipes.finetune import run_finetune
from skipclip.recipes.pretrain import pretrain as _pretrain
from skipclip.utils.io import atomic_write_text
from skipclip.utils.quiet import one_line_warnings, quiet_lightning

ConfigLike = str | Path | Config
one_line_warnings()  # a CoverageWarning reads as in the commands, without a source line


def load_encoder(path: str | Path) -> torch.nn.Module:
    """The context encoder g behind ``path``, ready for :func:`features`: in eval mode, with
    ``.transforms`` (its :class:`~skipclip.models.preprocess.Preprocess`) and ``.source``.

    Args:
        path: a ``.ckpt`` of ``skipclip pretrain`` (``RUN/checkpoints/last.ckpt``) or of
            ``skipclip finetune`` (``best.ckpt``), an exported ``context_encoder.safetensors``, an
            export folder, or a run folder (its ``checkpoints/last.ckpt``, ``best.ckpt`` for a
            fine-tuning run, or its ``export/``). An exported ``frame_encoder.safetensors`` loads as
            the frame encoder f, without ``.transforms``.

    Raises:
        InputNotFoundError: nothing at ``path``.
        InvalidInputError: a file that holds no Skip-Clip encoder, or weights that do not fit.
    """
    return _load_encoder(path)


def preprocess_for(encoder: torch.nn.Module) -> Preprocess:
    """The preprocessing that comes with ``encoder``'s weights (``encoder.transforms``): uint8
    frames ``(T, H, W, 3)`` to the float ``(3, T, S, S)`` clip it expects.

    Raises:
        InvalidInputError: ``encoder`` was not loaded by :func:`load_encoder`.
    """
    pre = getattr(encoder, "transforms", None)
    if not isinstance(pre, Preprocess):
        raise InvalidInputError("this encoder carries no preprocessing; load it with skipclip.load_encoder(path)")
    return pre


def read_clip(path: str | Path, start: int = 0, frames: int | None = 16,
              short_side: int | None = None) -> np.ndarray:
    """Frames ``start .. start + frames - 1`` of a video file (``frames=None``: to its end) as
    uint8 RGB ``(T, H, W, 3)``, decoded as the data sets decode them (frame ``i`` is the i-th frame
    shown): at the file's size, or with ``short_side`` scaled while decoding as ``skipclip
    features`` and training read a video folder (``short_side=encoder.transforms.short_side``
    gives exactly the frames the command's features come from).

    Raises:
        InputNotFoundError: no such file.
        InvalidInputError: ``start`` or ``frames`` outside the video (its length is named).
        VideoReadError: an unreadable file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"video {path} does not exist")
    source = VideoFileSource(path.parent, [VideoEntry(path.name, -1, path.name)], [], short_side=short_side)
    n = source.num_frames(0)
    stop = n if frames is None else start + frames
    if start < 0 or (frames is not None and frames < 1) or stop > n:
        raise InvalidInputError(f"{path} has {n} frames; frames {start}..{stop - 1} are not all in it "
                                f"(start={start}, frames={frames}; frames=None reads to the end)")
    return source.read(0, range(start, stop))


@torch.no_grad()
def features(encoder: torch.nn.Module, clip, per_window: bool = False) -> torch.Tensor:
    """g's feature of a video: the mean over its non-overlapping ``encoder.transforms.frames``-frame
    windows of the globally pooled output, each window preprocessed by ``encoder.transforms``.

    Given a video file, the frames are read exactly as ``skipclip features`` reads a video folder
    (decoded once at ``encoder.transforms.short_side``, the same windows, crops and batches), so
    the vector is the row the command writes for that video.

    Args:
        encoder: from :func:`load_encoder`.
        clip: a video file (``str`` or ``Path``); or uint8 frames ``(T, H, W, 3)``, a NumPy array
            (:func:`read_clip`) or a tensor, at least one window long; or an already preprocessed
            float tensor ``(3, T, S, S)`` / ``(B, 3, T, S, S)`` (one window each).
        per_window: return every window's feature ``(W, C)`` instead of the mean.

    Returns:
        a ``torch.Tensor`` (not NumPy: ``.numpy()`` converts it), float32 on the CPU: ``(C,)``;
        ``(W, C)`` with ``per_window``; ``(B, C)`` for a float batch.

    Raises:
        InputNotFoundError: no such video file.
        InvalidInputError: frames shorter than one window, or of the wrong type or shape.
        VideoReadError: an unreadable video file.
    """
    if isinstance(clip, (str, Path)):
        return _file_features(encoder, Path(clip), per_window)
    device = next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    try:
        if torch.is_tensor(clip) and clip.is_floating_point() and not _frames_last(clip):
            x = clip if clip.dim() == 5 else clip[None]
            out = encoder.pooled(x.to(device)).float().cpu()  # B x C
            return out if clip.dim() == 5 else out[0]
        pre = preprocess_for(encoder)
        frames = as_frames(clip)
        if frames.dim() != 4:
            raise InvalidInputError(f"give one video's frames (T, H, W, 3), got shape {tuple(frames.shape)}")
        t = frames.shape[0]
        if t < pre.frames:
            raise InvalidInputError(f"the clip has {t} frames, fewer than one {pre.frames}-frame window of this encoder")
        windows = [pre(frames[s: s + pre.frames]) for s in range(0, t - pre.frames + 1, pre.frames)]
        out = encoder.pooled(torch.stack(windows).to(device)).float().cpu()  # W x C
        return out if per_window else out.mean(0)
    finally:
        encoder.train(was_training)


def _frames_last(x: torch.Tensor) -> bool:
    """Float frames ``(T, H, W, 3)`` / ``(B, T, H, W, 3)`` rather than a preprocessed clip
    ``(3, T, S, S)`` / ``(B, 3, T, S, S)``: they get the uint8 message."""
    return x.dim() in (4, 5) and x.shape[-1] == 3 and x.shape[x.dim() - 4] != 3


def _file_features(encoder: torch.nn.Module, path: Path, per_window: bool) -> torch.Tensor:
    """:func:`features` of a video file, through the command's own reading and batching."""
    pre = preprocess_for(encoder)
    if not path.is_file():
        raise InputNotFoundError(f"video {path} does not exist")
    source = VideoFileSource(path.parent, [VideoEntry(path.name, -1, path.name)], [], short_side=pre.short_side)
    cfg = getattr(getattr(encoder, "source", None), "config", None) or Config()
    failed: dict[str, str] = {}
    try:
        feats, videos, _ = window_features(encoder, source, pre.frames, pre.crop_size, pre.short_side,
                                      batch_size=finetune_settings(cfg).batch_size,
                                      device=next(encoder.parameters()).device, failed=failed)
    except InvalidInputError:
        if failed:
            raise VideoReadError(str(path), next(iter(failed.values()))) from None
        raise InvalidInputError(f"{path} is shorter than one {pre.frames}-frame window of this encoder") from None
    if per_window:
        return torch.from_numpy(feats)  # W x C
    return torch.from_numpy(average_by_video(feats, videos)[0][0])  # C: the command's own averaging


def _config(config: ConfigLike | None, overrides: Mapping[str, Any] | None, sets, data=None) -> Config:
    """A validated Config from a preset name, a YAML path or a Config (copied), then dotted
    ``overrides`` and ``sets`` (a mapping, or ``["key=value", ...]`` as on the command line).
    ``None``: the preset for ``data``, as the commands choose it (logged)."""
    if config is None:
        config = choose_preset(SimpleNamespace(config=None, data=data))
    if isinstance(sets, (list, tuple)):
        sets = parse_sets(list(sets))
    if isinstance(config, Config):
        cfg = copy.deepcopy(config)
        apply_overrides(cfg, overrides or {})
        apply_sets(cfg, sets or {})
        return validate(cfg)
    return load_config(config, overrides or {}, sets=sets or {})


@dataclass
class PretrainResult:
    """What :func:`pretrain` made.

    Attributes:
        out: the run folder.
        checkpoint: ``out/checkpoints/last.ckpt``.
        epochs, steps, wall_s: how long it trained.
        metrics: the last logged values (``val/rank_acc``, ``train/loss``, ...).
        summary: everything ``run.json`` records at the end: its ``summary`` record
            (:meth:`~skipclip.recipes.pretrain.PretrainSummary.to_dict`), then ``health``.
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


def pretrain(config: ConfigLike | None = None, data: str | Path = "synthetic", out: str | Path = "runs/pretrain", *,
             overrides: Mapping[str, Any] | None = None, sets: Mapping[str, Any] | Sequence[str] | None = None,
             resume: bool = False, force: bool = False, progress: bool = True, **kwargs) -> PretrainResult:
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
    return PretrainResult(Path(out), Path(summary.last_checkpoint), summary.epochs, summary.steps, summary.wall_s,
                          dict(summary.metrics), summary.to_dict(with_health=True), module.model)


@dataclass
class FinetuneResult:
    """What :func:`finetune` made.

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


def finetune(config: ConfigLike | None = None, data: str | Path = "synthetic", out: str | Path = "runs/finetune", *,
             ckpt: str | Path | None = None, inflate: str | Path | None = None, linear: bool = False, seeds: int = 1,
             overrides: Mapping[str, Any] | None = None, sets: Mapping[str, Any] | Sequence[str] | None = None,
             resume: bool = False, force: bool = False, progress: bool = True,
             loggers: Sequence[str] = ("csv",)) -> FinetuneResult:
    """``skipclip finetune`` as a function: ``ckpt`` is where g starts (a checkpoint, an export, a
    run folder, or ``"random"`` spelled out), ``inflate`` 2D weights inflated into g instead;
    ``config`` as in :func:`pretrain`.

    Raises:
        InvalidInputError, InputNotFoundError, OutputExistsError: see the command; no ``ckpt``
            nor ``inflate``.
    """
    quiet_lightning()
    if ckpt is None and inflate is None:
        raise InvalidInputError("say where g starts: ckpt=RUN (a run folder, .ckpt or export), or ckpt='random' "
                                "for the random-initialisation baseline")
    ckpt = "random" if ckpt is None else ckpt
    check_data(data)
    cfg = _config(config, overrides, sets, data)
    init = "random" if str(ckpt) == "random" else str(resolve_weights(ckpt))
    report = run_finetune(cfg, str(data), out, init=init, inflate=None if inflate is None else str(inflate),
                          frozen=linear, force=force, resume=resume, progress=progress, loggers=loggers, seeds=seeds)
    if not report:
        raise InvalidInputError("this process is not the first of a distributed run: only the first writes the report")
    r = report["results"][0]
    return FinetuneResult(Path(out), Path(out) / REPORT, Path(report["checkpoint"]), r["top1"], r["top5"],
                          report["results"], report)


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


def evaluate(ckpt: str | Path, data: str | Path, out: str | Path | None = None, *, config: ConfigLike | None = None,
             protocols: Sequence[str] = PROTOCOLS, seeds: int = 1, overrides: Mapping[str, Any] | None = None,
             sets: Mapping[str, Any] | Sequence[str] | None = None, force: bool = False,
             progress: bool = True) -> EvaluateResult:
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
    if isinstance(sets, (list, tuple)):
        sets = parse_sets(list(sets))
    if isinstance(config, Config):
        config = _write_config(config, out)
    report = run_evaluate(None if config is None else str(config), ckpt, str(data), protocols=list(protocols),
                          overrides=dict(overrides or {}), sets=dict(sets or {}), progress=progress, seeds=seeds)
    write_report(out / REPORT, report)
    return EvaluateResult(out / REPORT, report["results"], report)


def _write_config(cfg: Config, out: Path) -> Path:
    """A Config as a YAML file (the evaluation recipe reads a preset or a file) beside the report."""
    path = out / "config.yaml"
    atomic_write_text(path, yaml.safe_dump(validate(cfg).to_dict(), sort_keys=False))
    return path


def extract(ckpt: str | Path, data: str | Path, out: str | Path, *, per_window: bool = False, force: bool = False,
            progress: bool = True, overrides: Mapping[str, Any] | None = None,
            sets: Mapping[str, Any] | Sequence[str] | None = None) -> FeatureSet:
    """``skipclip features`` as a function: every video's features of ``data`` to ``out``
    (``.npz`` or ``.safetensors``); returns them as a :class:`~skipclip.recipes.features.FeatureSet`."""
    if isinstance(sets, (list, tuple)):
        sets = parse_sets(list(sets))
    return run_features(ckpt, data, out, per_window=per_window, force=force, progress=progress,
                        overrides=dict(overrides or {}), sets=dict(sets or {}))


__all__ = ["EncoderSource", "EvaluateResult", "FeatureSet", "FinetuneResult", "PretrainResult", "Preprocess",
           "evaluate", "extract", "features", "finetune", "load_encoder", "preprocess_for", "pretrain", "read_clip"]
