"""The fine-tuning recipe (`skipclip finetune`): an initial g (engine), the labelled splits
(``open_data``), the fine-tuning protocol (eval), then the report and the best checkpoint."""

from __future__ import annotations

import time
from pathlib import Path

from ..config import Config, apply_overrides, validate


def run_finetune(cfg: Config, data: str, out: str | Path, *, init: str = "random", inflate: str | None = None,
                 frozen: bool = False, force: bool = False, progress: bool = True) -> dict:
    """Fine-tune g from ``init`` / ``inflate`` on ``data``'s labelled training split, select the
    epoch on its validation split, test on its test split; write ``OUT/report.json`` and
    ``OUT/checkpoints/best.ckpt``. Returns the report (``{}`` on the non-first DDP processes).

    Raises:
        FileExistsError: ``out`` already holds a report and ``force`` is not given.
        ValueError, FileNotFoundError: bad checkpoint, data or configuration (checked before the
            run folder is touched).
    """
    from ..data.open import open_data, per_class
    from ..engine.checkpoints import atomic_torch_save
    from ..engine.initialise import initial_encoder
    from ..eval.finetune import (FROZEN_METHOD, check_sources, evaluate_video_level, finetune, finetune_settings,
                                 protocol_name)
    from ..eval.report import finetune_card, write_report
    from ..utils.dist import launch_rank

    out = Path(out)
    first = launch_rank() == 0  # under DDP only the first process checks and writes the folder
    if first and (out / "report.json").exists() and not force:
        raise FileExistsError(f"{out} already holds a fine-tuning report; pass --force or choose another --out")
    # everything that can be wrong is checked before the run folder is touched
    encoder, info = initial_encoder(cfg, init, inflate, seed=cfg.trainer.seed)
    validate(apply_overrides(cfg, {"model.context_arch": info["arch"], "model.width": info["width"]}))
    splits = open_data(data, cfg, need_test=True)
    train_src, val_src, test_src = splits.labelled, splits.val, splits.test
    ft = finetune_settings(cfg)
    check_sources(train_src, val_src, test_src, ft.clip_frames)

    start = time.time()
    out.mkdir(parents=True, exist_ok=True)
    model, history = finetune(cfg, encoder, train_src, val_src, seed=cfg.trainer.seed, progress=progress,
                              frozen=frozen, log_dir=out, devices=cfg.trainer.devices,
                              num_nodes=cfg.trainer.num_nodes)
    if not history.get("global_zero", True):
        return {}  # the other DDP processes stop here; the first tests and writes
    ckpt = out / "checkpoints" / "best.ckpt"
    atomic_torch_save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
                       "init": info, "selection": {k: v for k, v in history.items() if k != "val_curve"}}, ckpt)
    test = evaluate_video_level(model, test_src, cfg)
    protocol = protocol_name(frozen)
    result = {"init": info["init"], "protocol": protocol, **test, "val_top1": history["val_top1"],
              "best_epoch": history["best_epoch"], "epochs": history["epochs"], "seed": cfg.trainer.seed}
    if frozen:
        result["method"] = FROZEN_METHOD
    report = {"results": [result],
              "protocol_card": {protocol: finetune_card(ft, test["windows_per_video"])},
              "init": info, "history": history, "checkpoint": str(ckpt),
              "data": {"data": str(data), "classes": list(train_src.classes), "train_videos": len(train_src),
                       "val_videos": len(val_src) if val_src is not None else 0, "test_videos": len(test_src),
                       "per_class": per_class(train_src, val_src, test_src)},
              "config": cfg.to_dict(), "wall_s": time.time() - start}
    write_report(out / "report.json", report)
    return report
