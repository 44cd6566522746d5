"""`skipclip finetune`: fine-tune the context encoder g for action recognition (section 4.2)."""

from .pretrain import add_device_arguments

HELP = "fine-tune the context encoder for action recognition and test it (paper section 4.2)"
DESCRIPTION = (
    "Fine-tune g + global average pooling + a linear layer on the labelled training split, keep the "
    "epoch with the best video accuracy on the validation split (never the test split), then test "
    "the paper's way: centre crop, every non-overlapping window of each test video, softmax "
    "averaged per video. Start g at random (--init random), from a Skip-Clip checkpoint "
    "(--init CKPT), or from 2D weights inflated into 3D (--inflate FILE: a torchvision ResNet-18 "
    "state dict, or a Skip-Clip checkpoint whose frame encoder is inflated). --linear trains only "
    "the linear layer on frozen g. Writes OUT/report.json, OUT/checkpoints/best.ckpt and CSV logs."
)

OVERRIDES = {
    "max_epochs": "finetune.max_epochs",
    "lr": "finetune.lr",
    "batch_size": "finetune.batch_size",
    "clip_frames": "finetune.clip_frames",
    "crop_size": "finetune.crop_size",
    "seed": "trainer.seed",
    "num_workers": "data.num_workers",
    "devices": "trainer.devices",
    "num_nodes": "trainer.num_nodes",
    "accelerator": "trainer.accelerator",
}


def add_data_arguments(p):
    p.add_argument("--data", default="synthetic",
                   help="'synthetic' (built in), a prepared store or a labelled video folder (UCF101/HMDB51 "
                        "layout or class subfolders)")
    p.add_argument("--config", default="cpu", help="preset name (cpu, paper) or a YAML file; its finetune section")
    p.add_argument("--max-epochs", type=int, help="fine-tuning epochs (default: finetune.max_epochs)")
    p.add_argument("--lr", type=float, help="fine-tuning learning rate")
    p.add_argument("--batch-size", type=int, help="clips per batch")
    p.add_argument("--clip-frames", type=int, help="frames per clip and test window (paper: 16)")
    p.add_argument("--crop-size", type=int, help="crop side in pixels (paper: 112)")
    p.add_argument("--num-workers", type=int, help="data-loading worker processes")
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_device_arguments(p)


def add_arguments(p):
    p.add_argument("--out", required=True, help="run folder: report.json, checkpoints, logs")
    p.add_argument("--init", default="random", help="'random' or a Skip-Clip checkpoint to start g from")
    p.add_argument("--inflate", metavar="FILE",
                   help="start g from inflated 2D weights: a torchvision ResNet-18 state dict, or a Skip-Clip "
                        "checkpoint (its frame encoder)")
    p.add_argument("--linear", action="store_true", help="train the linear layer only, on frozen g")
    p.add_argument("--force", action="store_true", help="overwrite a report already in --out")
    add_data_arguments(p)


def config_from_args(args):
    from ..config import load_config

    return load_config(args.config, {key: getattr(args, flag, None) for flag, key in OVERRIDES.items()})


def run(args) -> int:
    import json
    import time
    from pathlib import Path

    import torch

    from ..config import apply_overrides, validate
    from ..downstream import (check_sources, downstream_sources, evaluate_video_level, finetune,
                              finetune_settings, load_encoder)
    from ..eval.report import finetune_card, results_table, write_report

    from ..utils.dist import launch_rank

    cfg = config_from_args(args)
    out = Path(args.out)
    first = launch_rank() == 0  # under DDP only the first process checks and writes the folder
    if first and (out / "report.json").exists() and not args.force:
        raise FileExistsError(f"{out} already holds a fine-tuning report; pass --force or choose another --out")
    # everything that can be wrong is checked before the run folder is touched
    encoder, info = load_encoder(cfg, args.init, args.inflate, seed=cfg.trainer.seed)
    validate(apply_overrides(cfg, {"model.context_arch": info["arch"], "model.width": info["width"]}))
    train_src, val_src, test_src = downstream_sources(args.data, cfg)
    ft = finetune_settings(cfg)
    check_sources(train_src, val_src, test_src, ft.clip_frames)

    start = time.time()
    out.mkdir(parents=True, exist_ok=True)
    model, history = finetune(cfg, encoder, train_src, val_src, seed=cfg.trainer.seed,
                              progress=not args.no_progress, linear=args.linear, log_dir=out,
                              devices=cfg.trainer.devices, num_nodes=cfg.trainer.num_nodes)
    if not history.get("global_zero", True):
        return 0  # the other DDP processes stop here; the first tests and writes
    ckpt = out / "checkpoints" / "best.ckpt"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    tmp = ckpt.with_name(".best.ckpt.tmp")
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
                "init": info, "selection": {k: v for k, v in history.items() if k != "val_curve"}}, tmp)
    tmp.replace(ckpt)
    test = evaluate_video_level(model, test_src, cfg)
    protocol = "linear" if args.linear else "finetune"
    result = {"init": info["init"], "protocol": protocol, **test, "val_top1": history["val_top1"],
              "best_epoch": history["best_epoch"], "epochs": history["epochs"], "seed": cfg.trainer.seed}
    if args.linear:
        result["method"] = "linear layer trained with Adam on frozen g (fine-tuning pipeline)"
    report = {"results": [result],
              "protocol_card": {protocol: finetune_card(ft, test["windows_per_video"])},
              "init": info, "history": history, "checkpoint": str(ckpt),
              "data": {"data": args.data, "classes": list(train_src.classes), "train_videos": len(train_src),
                       "val_videos": len(val_src) if val_src is not None else 0, "test_videos": len(test_src)},
              "config": cfg.to_dict(), "wall_s": time.time() - start}
    write_report(out / "report.json", report)
    print("\n" + results_table(report["results"]))
    print(f"\nselected epoch {history['best_epoch']} ({history['selected_by']}); "
          f"{test['windows_per_video']['mean']:.1f} windows per test video")
    print(f"wrote {out / 'report.json'} and {ckpt}")
    if getattr(args, "json", False):
        print(json.dumps(result, indent=2, default=str))
    return 0
