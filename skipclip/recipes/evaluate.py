"""The evaluation recipe (`skipclip evaluate`): one checkpoint, every downstream protocol, one
report with its protocol card."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

from skipclip.config import (
    Config,
    apply_overrides,
    apply_sets,
    config_from_dict,
    finetune_settings,
    load_config,
    validate,
)
from skipclip.data import MAX_CLASSES, open_data, per_class
from skipclip.errors import InvalidInputError, OutputExistsError
from skipclip.eval.features import frozen_features
from skipclip.eval.finetune import build_classifier, finetune_and_test
from skipclip.eval.finetune_inputs import check_sources
from skipclip.eval.finetune_result import FinetuneResult
from skipclip.eval.knn import KNN_K, KNN_TEMPERATURE, knn
from skipclip.eval.linear_probe import linear_probe
from skipclip.eval.report import (
    finetune_card,
    knn_card,
    linear_card,
    over_seeds,
    retrieval_card,
)
from skipclip.eval.retrieval import RECALL_AT, retrieval
from skipclip.eval.video_level import evaluate_video_level
from skipclip.utils.out_paths import check_out_folder
from skipclip.weights.initialise import initial_encoder
from skipclip.weights.read import (
    checkpoint_config,
    checkpoint_kind,
    load_checked,
    read_checkpoint,
    state_dict_of,
    tensor_size,
)

PROTOCOLS = ("finetune", "linear_probe", "retrieval", "knn")
REPORT = "report.json"


def default_out(ckpt: str | Path) -> Path:
    """Where ``evaluate`` writes its report when ``--out`` is not given: ``RUN/evaluation`` for a
    checkpoint in ``RUN/checkpoints/`` or an export in ``RUN/export/``, else ``evaluation`` beside
    the file; ``evaluation-random`` in the working folder for ``random``."""
    if str(ckpt) == "random":
        return Path("evaluation-random")
    p = Path(ckpt)
    folder = p if p.is_dir() else p.parent
    if folder.name in ("checkpoints", "export") and not p.is_dir():
        folder = folder.parent
    return folder / "evaluation"


def check_evaluate_out(out: str | Path, force: bool) -> Path:
    """``out``, refused up front when it holds a report and ``force`` is not given.

    Raises:
        OutputExistsError: ``out/report.json`` exists and ``force`` is not given.
        InvalidInputError: ``out`` is a file, or under one.
    """
    out = check_out_folder(out)  # a file, or a parent that is a file: refused before the work
    if (out / REPORT).exists() and not force:
        raise OutputExistsError(
            f"{out / REPORT} exists (an earlier evaluation); pass --force to replace it, or "
            "--out DIR to write elsewhere"
        )
    return out


def evaluate(
    cfg: Config,
    encoder,
    train_src,
    val_src,
    test_src,
    *,
    init: str,
    protocols=PROTOCOLS,
    classifier=None,
    epochs: int | None = None,
    seed: int = 0,
    progress: bool = False,
) -> dict:
    """Every protocol into one report: ``{"results": [...], "protocol_card": {...}, "data": {...}}``.

    Args:
        classifier: an already fine-tuned :class:`~skipclip.eval.classifier.ActionClassifier`; the
            ``finetune`` row then tests it instead of fine-tuning ``encoder``.

    Raises:
        ValueError: an unknown protocol, or unusable splits.
    """

    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown:
        raise InvalidInputError(f"unknown protocol(s) {unknown}; choose from {', '.join(PROTOCOLS)}")
    ft = finetune_settings(cfg)
    check_sources(train_src, val_src, test_src, ft.clip_frames)
    results, card, failed = [], {}, {}
    if "finetune" in protocols:
        if classifier is not None:
            test = evaluate_video_level(classifier, test_src, cfg, progress)
            selection = "done when the checkpoint was fine-tuned (see its run folder)"
            row = FinetuneResult(
                init=init,
                protocol="finetune",
                test=test,
                selected_by=selection,
                failed_videos=dict(test.failed_test_videos),
            ).to_dict()
        else:
            r = finetune_and_test(
                cfg, encoder, train_src, val_src, test_src, epochs=epochs, seed=seed, progress=progress
            )
            row, test, selection = dataclasses.replace(r, init=init).to_dict(), r.test, None
        results.append(row)
        failed.update(test.failed_test_videos)
        card["finetune"] = finetune_card(ft, test.windows_per_video, selection)
    if {"linear_probe", "retrieval", "knn"} & set(protocols):
        feats = frozen_features(cfg, encoder, train_src, test_src, failed=failed, progress=progress)
        if "linear_probe" in protocols:
            probe = linear_probe(cfg, encoder, train_src, test_src, seed=seed, features=feats)
            results.append(dataclasses.replace(probe, init=init).to_dict())
            card["linear_probe"] = linear_card(ft, 1e-3)
        if "retrieval" in protocols:
            found = retrieval(cfg, encoder, train_src, test_src, features=feats)
            results.append(dataclasses.replace(found, init=init).to_dict())
            card["retrieval"] = retrieval_card(ft, RECALL_AT)
        if "knn" in protocols:
            nearest = knn(cfg, encoder, train_src, test_src, features=feats)
            results.append(dataclasses.replace(nearest, init=init).to_dict())
            card["knn"] = knn_card(ft, KNN_K, KNN_TEMPERATURE)
    return {
        "results": results,
        "protocol_card": card,
        "data": {
            "classes": list(train_src.classes),
            "train_videos": len(train_src),
            "val_videos": len(val_src) if val_src is not None else 0,
            "test_videos": len(test_src),
            "skipped_videos": len(failed),
            "failed_videos": failed,
            "per_class": per_class(train_src, val_src, test_src),
        },
    }


def run_evaluate(
    config: Config | None,
    ckpt: str,
    data: str,
    *,
    protocols=PROTOCOLS,
    overrides: dict | None = None,
    sets: dict | None = None,
    progress: bool = True,
    seeds: int = 1,
    epochs: int | None = None,
) -> dict:
    """Evaluate the context encoder of ``ckpt`` (a Skip-Clip checkpoint, or a fine-tuned
    ``best.ckpt`` whose classifier is then tested as is, or ``"random"``: randomly initialised
    weights, the baseline) on ``data``.

    Args:
        config: the validated configuration to evaluate under (used as given), or ``None`` for the
            checkpoint's own settings (the ``cpu`` preset for ``random`` or a checkpoint without
            any) with ``overrides`` and ``sets`` applied.
        overrides: dotted config keys from the command line's flags (with ``config=None`` only).
        sets: dotted config keys from ``--set`` (applied last; ``None`` is a value; with ``config=None`` only).
        seeds: repeat every protocol with seeds ``trainer.seed`` .. ``+ seeds - 1`` (for
            ``random``, each seed draws its own weights); each protocol's row is then the mean,
            with ``top1_std`` etc. the spread and ``per_seed`` the single values.
        epochs: fine-tune this many epochs instead of the preset's budget.

    Raises:
        ValueError, FileNotFoundError: a checkpoint of the wrong kind, unusable data.
    """

    if seeds < 1:
        raise InvalidInputError(f"seeds must be >= 1, got {seeds}")
    if ckpt == "random":
        cfg = config if config is not None else load_config("cpu", overrides or {}, sets=sets)
        return _evaluate_random(cfg, data, protocols, progress, seeds, epochs)
    obj = read_checkpoint(ckpt)
    kind = checkpoint_kind(obj)
    if kind not in ("skipclip", "classifier"):
        hint = "; evaluate inflated 2D weights with `skipclip finetune --inflate FILE`" if kind == "resnet2d" else ""
        raise InvalidInputError(f"{ckpt} is neither a Skip-Clip checkpoint nor a fine-tuned classifier{hint}")
    raw = checkpoint_config(obj, str(ckpt))
    if config is not None:
        cfg = copy.deepcopy(config)  # the caller's stays as it was (the checkpoint's arch is set below)
    elif raw:  # the checkpoint's own settings, then the command line's
        cfg = config_from_dict(raw, f"{ckpt} config")
        apply_overrides(cfg, overrides or {})
        apply_sets(cfg, sets or {})
        validate(cfg, f"{ckpt} (its recorded config, with the command's options)")
    else:
        cfg = load_config("cpu", overrides or {}, sets=sets)
    encoder, info = initial_encoder(cfg, ckpt, seed=cfg.trainer.seed)
    validate(
        apply_overrides(
            cfg, {"model.context_arch": info["arch"], "model.width": info["width"], "model.shortcut": info["shortcut"]}
        )
    )
    ft = finetune_settings(cfg)
    splits = open_data(data, cfg, need_test=True, val_fraction=ft.val_fraction, short_side=ft.short_side)
    train_src, val_src, test_src = splits.labelled, splits.val, splits.test
    classifier = None
    if kind == "classifier":
        state = state_dict_of(obj)
        n_ckpt = tensor_size(state, "head.fc.weight", 0, str(ckpt), MAX_CLASSES)
        if n_ckpt != len(train_src.classes):
            raise InvalidInputError(
                f"{ckpt} classifies {n_ckpt} classes but --data {data} has "
                f"{len(train_src.classes)}; evaluate it on the data set it was fine-tuned on"
            )
        classifier = build_classifier(cfg, encoder, n_ckpt)
        load_checked(classifier, state, str(ckpt))
        encoder = classifier.encoder
    reports = []
    for i in range(seeds):
        reports.append(
            evaluate(
                cfg,
                encoder,
                train_src,
                val_src,
                test_src,
                init=info["init"],
                protocols=protocols,
                classifier=classifier,
                seed=cfg.trainer.seed + i,
                progress=progress,
                epochs=epochs,
            )
        )
        _say_seed(reports[-1], seeds)
    report = merge_seeds(reports)
    report.update(checkpoint=str(ckpt), config=cfg.to_dict())
    return report


def _evaluate_random(cfg: Config, data: str, protocols, progress: bool, seeds: int, epochs: int | None) -> dict:
    """The random-initialisation baseline: each seed draws its own weights."""
    ft = finetune_settings(cfg)
    splits = open_data(data, cfg, need_test=True, val_fraction=ft.val_fraction, short_side=ft.short_side)
    reports = []
    for i in range(seeds):
        encoder, info = initial_encoder(cfg, "random", seed=cfg.trainer.seed + i)
        reports.append(
            evaluate(
                cfg,
                encoder,
                splits.labelled,
                splits.val,
                splits.test,
                init=info["init"],
                protocols=protocols,
                seed=cfg.trainer.seed + i,
                progress=progress,
                epochs=epochs,
            )
        )
        _say_seed(reports[-1], seeds)
    report = merge_seeds(reports)
    report.update(checkpoint="random", config=cfg.to_dict())
    return report


def _say_seed(report: dict, seeds: int) -> None:
    """One line per protocol as each seed finishes, so a long run shows its progress."""
    if seeds > 1:
        for r in report["results"]:
            print(f"seed {r.get('seed')}: {r['init']} {r['protocol']} top-1 {r.get('top1')}", flush=True)


def merge_seeds(reports: list[dict]) -> dict:
    """One report from the same evaluation over several seeds: each protocol's rows averaged
    (:func:`~skipclip.eval.report.over_seeds`), the single rows under ``per_seed``."""

    if len(reports) == 1:
        return reports[0]
    merged = dict(reports[0])
    rows = list(zip(*(r["results"] for r in reports)))
    merged["results"] = [over_seeds(list(group)) for group in rows]
    merged["per_seed"] = [row for r in reports for row in r["results"]]
    return merged
