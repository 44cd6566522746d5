"""The fine-tuning recipe (`skipclip finetune`): an initial g (engine), the labelled splits
(``open_data``), the fine-tuning protocol (eval), then the report and the best checkpoint."""

from __future__ import annotations

import time
from pathlib import Path

from ..config import Config, apply_overrides, validate


def run_finetune(cfg: Config, data: str, out: str | Path, *, init: str = "random", inflate: str | None = None,
                 frozen: bool = False, force: bool = False, progress: bool = True, seeds: int = 1) -> dict:
    """Fine-tune g from ``init`` / ``inflate`` on ``data``'s labelled training split, select the
    epoch on its validation split, test on its test split; write ``OUT/report.json`` and
    ``OUT/checkpoints/best.ckpt``. Returns the report (``{}`` on the non-first DDP processes).

    ``seeds`` > 1 repeats the whole run (random initial weights included) with seeds
    ``trainer.seed`` .. ``trainer.seed + seeds - 1``: ``results`` then holds one row, the mean with
    its spread over seeds (``top1_std``...), ``per_seed`` the single runs, and ``best.ckpt`` is the
    first seed's.

    Raises:
        FileExistsError: ``out`` already holds a report and ``force`` is not given.
        ValueError, FileNotFoundError: bad checkpoint, data or configuration (checked before the
            run folder is touched).
    """
    from ..data.open import open_data
    from ..engine.checkpoints import atomic_torch_save
    from ..engine.initialise import initial_encoder
    from ..eval.finetune import (FROZEN_METHOD, check_sources, evaluate_video_level, finetune, finetune_settings,
                                 protocol_name)
    from ..eval.report import finetune_card, over_seeds, write_report
    from ..utils.dist import launch_rank

    out = Path(out)
    first = launch_rank() == 0  # under DDP only the first process checks and writes the folder
    if first and (out / "report.json").exists() and not force:
        raise FileExistsError(f"{out} already holds a fine-tuning report; pass --force or choose another --out")
    # everything that can be wrong is checked before the run folder is touched
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    encoder, info = initial_encoder(cfg, init, inflate, seed=cfg.trainer.seed)
    validate(apply_overrides(cfg, {"model.context_arch": info["arch"], "model.width": info["width"]}))
    splits = open_data(data, cfg, need_test=True)
    train_src, val_src, test_src = splits.labelled, splits.val, splits.test
    ft = finetune_settings(cfg)
    check_sources(train_src, val_src, test_src, ft.clip_frames)

    start = time.time()
    out.mkdir(parents=True, exist_ok=True)
    protocol = protocol_name(frozen)
    per_seed, histories = [], []
    for i in range(seeds):
        seed = cfg.trainer.seed + i
        if i:  # every seed starts from its own random draw (a checkpoint loads the same weights)
            encoder, _ = initial_encoder(cfg, init, inflate, seed=seed)
        model, history = finetune(cfg, encoder, train_src, val_src, seed=seed, progress=progress,
                                  frozen=frozen, log_dir=out if i == 0 else None, devices=cfg.trainer.devices,
                                  num_nodes=cfg.trainer.num_nodes)
        if not history.get("global_zero", True):
            return {}  # the other DDP processes stop here; the first tests and writes
        ckpt = out / "checkpoints" / "best.ckpt"
        if i == 0:
            atomic_torch_save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
                               "init": info, "selection": {k: v for k, v in history.items() if k != "val_curve"}},
                              ckpt)
        test = evaluate_video_level(model, test_src, cfg)
        result = {"init": info["init"], "protocol": protocol, **test, "val_top1": history["val_top1"],
                  "best_epoch": history["best_epoch"], "best_step": history["best_step"],
                  "epochs": history["epochs"], "steps": history["steps"], "budget": history["budget"]["budget"],
                  "seed": seed, "train_s": history["wall_s"]}
        if frozen:
            result["method"] = FROZEN_METHOD
        if progress and seeds > 1:
            print(f"seed {seed}: top-1 {test['top1']:.3f} (selected step {history['best_step']}, "
                  f"val {history['val_top1']})", flush=True)
        per_seed.append(result)
        histories.append(history)
    report = {"results": [over_seeds(per_seed)] if seeds > 1 else per_seed,
              "protocol_card": {protocol: finetune_card(ft, test["windows_per_video"])},
              "init": info, "history": histories[0], "checkpoint": str(ckpt),
              "data": {"data": str(data), "classes": list(train_src.classes), "train_videos": len(train_src),
                       "val_videos": len(val_src) if val_src is not None else 0, "test_videos": len(test_src)},
              "config": cfg.to_dict(), "wall_s": time.time() - start}
    if seeds > 1:
        report["per_seed"], report["histories"] = per_seed, histories
    write_report(out / "report.json", report)
    return report
