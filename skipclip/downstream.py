"""Downstream evaluation of the context encoder g: initialisations, fine-tuning and testing
(section 4.2 of the paper), a linear probe and nearest-neighbour retrieval.

* Initialisations (Table 1): random; a Skip-Clip checkpoint (its g); inflated 2D weights, from a
  torchvision ResNet-18 state dict or from the frame encoder f of a Skip-Clip checkpoint.
* Fine-tuning: g + global average pooling + a linear layer, random crops of one random clip per
  video and epoch, Adam with the paper's step schedule; the weights kept are those of the epoch
  with the best video accuracy on the validation split (never the test split).
* Testing: centre crop, every non-overlapping window of a test video, softmax averaged per video.

Everything that can be wrong with the input (checkpoint kind, shapes, class counts, test videos
shorter than a window) is checked before any training starts or any file is written.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path

import torch
from torch import nn

from .config import Config, FinetuneConfig

PROTOCOLS = ("finetune", "linear", "retrieval")


# ---------------------------------------------------------------------------------------- settings
def finetune_settings(cfg: Config) -> FinetuneConfig:
    """The ``finetune`` section with its ``None`` sizes resolved from pretraining's."""
    ft = dataclasses.replace(cfg.finetune)
    if ft.clip_frames is None:
        ft.clip_frames = cfg.pretext.context_frames
    if ft.crop_size is None:
        ft.crop_size = cfg.data.crop_size
    if ft.short_side is None:
        ft.short_side = cfg.data.short_side
    if ft.window_stride is None:
        ft.window_stride = ft.clip_frames
    return ft


# ---------------------------------------------------------------------------------------- data
def downstream_sources(data: str, cfg: Config, seed: int | None = None):
    """Labelled ``(train, val, test)`` sources for ``--data``.

    Synthetic: train = the few-label ``labelled`` set (disjoint from the pretraining videos), val =
    the held-out ``val`` set, test = the ``test`` set. A real data set: its official training list
    minus a validation part carved by group (``data.val_fraction``), and its test list. ``val`` is
    ``None`` when the data set has no validation part (then the last epoch is kept).

    Raises:
        ValueError / FileNotFoundError: ``data`` names nothing usable.
    """
    seed = cfg.trainer.seed if seed is None else seed
    if data == "synthetic":
        from .data.build import maybe_in_memory, synthetic_sources

        s = synthetic_sources(cfg)
        return maybe_in_memory(s["labelled"]), maybe_in_memory(s["val"]), maybe_in_memory(s["test"])
    from .data.registry import open_source

    kw = dict(val_fraction=cfg.data.val_fraction, seed=seed)
    train = open_source(data, split="train", **kw)
    try:
        val = open_source(data, split="val", **kw)
    except ValueError:
        val = None
    test = open_source(data, split="test", **kw)
    return train, (val if val is not None and len(val) > 0 else None), test


def check_sources(train, val, test, clip_frames: int) -> None:
    """Refuse inputs that would make the numbers meaningless, before any work.

    Raises:
        ValueError: an empty or unlabelled split, splits with different classes, or a test video
            shorter than one window (naming the videos and the fix).
    """
    for name, src in (("train", train), ("val", val), ("test", test)):
        if src is None:
            continue
        if len(src) == 0:
            raise ValueError(f"the {name} split has no videos")
        if len(src.classes) < 2:
            raise ValueError(f"the {name} split has {len(src.classes)} classes; action recognition needs "
                             "labelled videos of at least 2 classes (class subfolders or split files)")
        if list(src.classes) != list(train.classes):
            raise ValueError(f"the {name} split's classes differ from the training split's "
                             f"({len(src.classes)} vs {len(train.classes)}); use one data set for all splits")
        unlabelled = [src.name(i) for i in range(len(src)) if src.label(i) < 0]
        if unlabelled:
            raise ValueError(f"{len(unlabelled)} {name} videos have no label, e.g. {unlabelled[0]}")
    short = [(test.name(i), test.num_frames(i)) for i in range(len(test)) if test.num_frames(i) < clip_frames]
    if short:
        listed = ", ".join(f"{n} ({f} frames)" for n, f in short[:5])
        raise ValueError(
            f"{len(short)} test videos are shorter than one {clip_frames}-frame window: {listed}"
            f"{' ...' if len(short) > 5 else ''}; every test video must be scored, so lower "
            "finetune.clip_frames (e.g. --clip-frames) or remove those videos from the test list")


# ---------------------------------------------------------------------------------------- checkpoints
def read_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint or state-dict file onto the CPU.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a PyTorch file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - Lightning checkpoints may hold more than tensors
        try:
            obj = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:  # noqa: BLE001
            raise ValueError(f"{path} is not a PyTorch checkpoint or state dict ({type(exc).__name__}: {exc})") from exc
    if not isinstance(obj, dict):
        raise ValueError(f"{path} holds a {type(obj).__name__}, not a checkpoint or a state dict")
    return obj


def _state_dict(obj: dict) -> dict:
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    return {k.removeprefix("module."): v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def checkpoint_kind(obj: dict) -> str:
    """``"skipclip"`` (pretraining: ``context_encoder.*``), ``"classifier"`` (fine-tuned:
    ``encoder.*`` + ``head.*``), ``"resnet2d"`` (a torchvision-format 2D ResNet state dict) or
    ``"unknown"``."""
    keys = set(_state_dict(obj))
    if any(k.startswith("context_encoder.") for k in keys):
        return "skipclip"
    if any(k.startswith("encoder.trunk.") for k in keys) and any(k.startswith("head.fc.") for k in keys):
        return "classifier"
    if "conv1.weight" in keys and any(k.startswith("layer1.") for k in keys):
        return "resnet2d"
    return "unknown"


def _describe(obj: dict) -> str:
    keys = list(_state_dict(obj))
    return f"{len(keys)} tensors, e.g. {keys[:3]}" if keys else "no tensors"


def sub_state(obj: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in _state_dict(obj).items() if k.startswith(prefix)}


def load_checked(module: nn.Module, state: dict, what: str) -> None:
    """``load_state_dict(strict=True)`` with a message naming the first bad key and both shapes.

    Raises:
        ValueError: missing or unexpected keys, or a shape mismatch.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise ValueError(f"{what} does not fit the model: missing {missing[:3]}, unexpected {unexpected[:3]} "
                         f"({len(missing)} missing, {len(unexpected)} unexpected); was it made with another "
                         "--arch or preset?")
    for k, v in state.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise ValueError(f"{what}: key {k!r} has shape {tuple(v.shape)} but the model expects "
                             f"{tuple(own[k].shape)}; check model.width / model.context_arch of the config")
    module.load_state_dict(state, strict=True)


def checkpoint_config(obj: dict) -> dict:
    return dict(((obj.get("hyper_parameters") or {}).get("config")) or {})


def model_section(cfg: Config, obj: dict) -> tuple[str, int]:
    """Architecture and width recorded in a checkpoint (the run's own when absent)."""
    m = checkpoint_config(obj).get("model") or {}
    return m.get("context_arch", cfg.model.context_arch), int(m.get("width", cfg.model.width))


def load_encoder(cfg: Config, init: str = "random", inflate: str | Path | None = None, seed: int = 0):
    """The context encoder g to start from, and a description of where it came from.

    Args:
        cfg: run configuration (arch and width of a random g).
        init: ``"random"``, or a Skip-Clip pretraining checkpoint (its g is taken; its recorded arch
            and width win over ``cfg``'s) or a fine-tuned classifier checkpoint (its g).
        inflate: a 2D ResNet-18 state dict in torchvision's format, or a Skip-Clip checkpoint whose
            frame encoder f is taken, inflated into g (each 2D kernel repeated along time and
            divided by the temporal kernel size). Excludes ``init``.
        seed: seed of the random initialisation (random g, or inflation's untouched parts).

    Raises:
        ValueError: both ``init`` and ``inflate``; a file of the wrong kind; a shape that does not
            match (naming the key).
        FileNotFoundError: a missing file.
    """
    from .models import ContextEncoder, inflate_2d_into_3d

    if inflate is not None and init != "random":
        raise ValueError("give either --init CKPT or --inflate FILE, not both: each initialises g")
    torch.manual_seed(seed)
    if inflate is not None:
        obj = read_checkpoint(inflate)
        kind = checkpoint_kind(obj)
        if kind == "skipclip":
            state = sub_state(obj, "frame_encoder.")
            arch, width = model_section(cfg, obj)
            source = f"frame encoder f of Skip-Clip checkpoint {inflate}"
        elif kind == "resnet2d":
            state = _state_dict(obj)
            arch, width = cfg.model.context_arch, int(state["conv1.weight"].shape[0])
            source = f"2D ResNet-18 state dict {inflate}"
        else:
            raise ValueError(f"--inflate {inflate}: expected a 2D ResNet-18 state dict (torchvision format: "
                             f"conv1.weight, layer1.0.conv1.weight, ...) or a Skip-Clip checkpoint, found "
                             f"{'a fine-tuned classifier' if kind == 'classifier' else _describe(obj)}")
        g = ContextEncoder(arch, width)
        report = inflate_2d_into_3d(state, g)
        return g, {"init": "inflation", "source": source, "arch": arch, "width": width,
                   "inflated_kernels": len(report.inflated), "copied": len(report.copied)}
    if init == "random":
        g = ContextEncoder(cfg.model.context_arch, cfg.model.width)
        return g, {"init": "random", "arch": g.arch, "width": g.width, "seed": seed}
    obj = read_checkpoint(init)
    kind = checkpoint_kind(obj)
    prefix = {"skipclip": "context_encoder.", "classifier": "encoder."}.get(kind)
    if prefix is None:
        hint = "; for a 2D ResNet state dict use --inflate FILE" if kind == "resnet2d" else ""
        raise ValueError(f"--init {init} is not a Skip-Clip checkpoint (no 'context_encoder.*' weights; "
                         f"found {_describe(obj)}){hint}")
    arch, width = model_section(cfg, obj)
    g = ContextEncoder(arch, width)
    load_checked(g, sub_state(obj, prefix), f"{init}")
    return g, {"init": "skipclip" if kind == "skipclip" else "finetuned", "source": str(init),
               "arch": arch, "width": width}


# ---------------------------------------------------------------------------------------- fine-tuning
def _device(cfg: Config) -> str:
    return "cuda" if cfg.trainer.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available() else "cpu"


def build_classifier(cfg: Config, encoder: nn.Module, num_classes: int, linear: bool = False):
    from .tasks.classify import ActionClassifier

    ft = finetune_settings(cfg)
    return ActionClassifier(encoder, num_classes, lr=ft.lr, weight_decay=ft.weight_decay,
                            lr_step_epochs=ft.lr_step_epochs, lr_gamma=ft.lr_gamma,
                            lr_last_step_epoch=ft.lr_last_step_epoch, freeze_encoder=linear,
                            dropout=ft.dropout, config=cfg.to_dict())


def finetune(cfg: Config, encoder: nn.Module, train_src, val_src, *, epochs: int | None = None, seed: int = 0,
             progress: bool = False, linear: bool = False, log_dir: str | Path | None = None,
             devices=1, num_nodes: int = 1):
    """Fine-tune g (or, ``linear``, only the linear layer on frozen g) on ``train_src``; keep the
    weights of the epoch with the best validation video accuracy.

    ``encoder`` is trained in place. Returns ``(classifier, history)``.

    ``devices``/``num_nodes`` above one run Lightning's DDP: each process trains on its share of
    the clips, validation scores are gathered so every process selects the same epoch, and
    ``history["global_zero"]`` tells the caller which process should test and write. Library
    callers (demo, reproduce) keep the default single device.
    """
    import lightning as L
    from lightning.pytorch.callbacks import TQDMProgressBar
    from torch.utils.data import DataLoader

    from .data.clips import ClipDataset
    from .tasks.classify import KeepBest, SetEpoch

    ft = finetune_settings(cfg)
    epochs = ft.max_epochs if epochs is None else epochs
    L.seed_everything(seed, workers=True, verbose=False)
    model = build_classifier(cfg, encoder, len(train_src.classes), linear)
    train_ds = ClipDataset(train_src, ft.clip_frames, ft.crop_size, ft.short_side, train=True, seed=seed)
    workers = cfg.data.num_workers
    train_loader = DataLoader(train_ds, batch_size=ft.batch_size, shuffle=True, num_workers=workers,
                              drop_last=len(train_ds) > ft.batch_size)
    val_loader = None
    if val_src is not None:
        val_ds = ClipDataset(val_src, ft.clip_frames, ft.crop_size, ft.short_side, train=False,
                             stride=ft.window_stride)
        val_loader = DataLoader(val_ds, batch_size=ft.batch_size, shuffle=False, num_workers=workers)
    keep = KeepBest("val/video_acc")
    logger = False
    if log_dir is not None:
        from lightning.pytorch.loggers import CSVLogger

        logger = CSVLogger(log_dir, name="logs", version="")
    trainer = L.Trainer(
        accelerator="gpu" if _device(cfg) == "cuda" else "cpu", devices=devices, num_nodes=num_nodes,
        strategy="ddp" if (devices not in (1, "1", "auto") or num_nodes > 1) else "auto",
        precision=cfg.trainer.precision,
        max_epochs=epochs, check_val_every_n_epoch=ft.val_every, logger=logger,
        log_every_n_steps=cfg.trainer.log_every_n_steps, enable_checkpointing=False,
        enable_model_summary=False, num_sanity_val_steps=0, enable_progress_bar=progress,
        callbacks=[keep, SetEpoch(train_ds), *([TQDMProgressBar(refresh_rate=10)] if progress else [])],
    )
    start = time.time()
    # Lightning keeps each submodule's train/eval mode as it finds it, and an encoder handed over
    # after feature extraction or validation may be in eval mode: fine-tuning it so would train
    # with BatchNorm frozen at pretraining statistics (measured: top-1 0.10-0.26 instead of 0.43)
    model.train()
    trainer.fit(model, train_loader, val_loader)
    keep.restore(model)
    history = {"epochs": trainer.current_epoch, "steps": trainer.global_step, "wall_s": time.time() - start,
               "best_epoch": keep.best_epoch if keep.best_epoch is not None else trainer.current_epoch - 1,
               "val_top1": keep.best, "val_curve": keep.history,
               "selected_by": "best validation video top-1" if keep.best is not None else "last epoch (no validation split)",
               "too_short_train_videos": len(train_ds.too_short), "world_size": trainer.world_size,
               "global_zero": trainer.is_global_zero}
    return model, history


def evaluate_video_level(model, test_src, cfg: Config) -> dict:
    """The paper's test: centre crop, every non-overlapping window, softmax averaged per video.
    Returns video and clip top-1/top-5 and the windows per video."""
    from .data.clips import ClipDataset
    from .eval.linear_probe import topk_accuracy
    from .eval.video_level import video_level_predictions, windows_per_video

    ft = finetune_settings(cfg)
    ds = ClipDataset(test_src, ft.clip_frames, ft.crop_size, ft.short_side, train=False, stride=ft.window_stride)
    scores, labels, clips = video_level_predictions(model, ds, batch_size=ft.batch_size, device=_device(cfg),
                                                    num_workers=cfg.data.num_workers)
    return {"top1": topk_accuracy(scores, labels, 1), "top5": topk_accuracy(scores, labels, 5),
            "clip_top1": topk_accuracy(clips["probs"], clips["labels"], 1),
            "clip_top5": topk_accuracy(clips["probs"], clips["labels"], 5),
            "test_videos": int(len(labels)), "windows_per_video": windows_per_video(clips["videos"])}


def finetune_and_test(cfg: Config, encoder: nn.Module, train_src, val_src, test_src, *, epochs: int | None = None,
                      seed: int = 0, progress: bool = False, linear: bool = False) -> dict:
    """Fine-tune a copy of ``encoder`` on ``train_src`` (model selection on ``val_src``, which may
    be ``None``) and test it on ``test_src`` the paper's way.

    Args:
        cfg: configuration; its ``finetune`` section sets frames, crop, optimiser and epochs.
        encoder: the context encoder g to start from; it is copied, the caller's stays untouched.
        epochs: overrides ``finetune.max_epochs``.
        seed: seed of the clip sampling, crops, batch order and classifier initialisation.
        linear: train the linear layer only, on frozen g.

    Returns:
        ``{"protocol": "finetune"|"linear", "top1", "top5"`` (video accuracy), ``"clip_top1",
        "clip_top5", "val_top1"`` (best validation video top-1, ``None`` without validation),
        ``"best_epoch", "epochs", "seed", "test_videos", "windows_per_video", "train_s", "wall_s"}``.

    Raises:
        ValueError: mismatched or unusable splits, test videos shorter than one window.
    """
    ft = finetune_settings(cfg)
    check_sources(train_src, val_src, test_src, ft.clip_frames)
    start = time.time()
    model, history = finetune(cfg, copy.deepcopy(encoder), train_src, val_src, epochs=epochs, seed=seed,
                              progress=progress, linear=linear)
    result = {"protocol": "linear" if linear else "finetune", **evaluate_video_level(model, test_src, cfg),
              "val_top1": history["val_top1"], "best_epoch": history["best_epoch"], "epochs": history["epochs"],
              "selected_by": history["selected_by"], "seed": seed, "train_s": history["wall_s"]}
    if linear:
        result["method"] = "linear layer trained with Adam on frozen g (fine-tuning pipeline)"
    result["wall_s"] = time.time() - start
    return result


# ---------------------------------------------------------------------------------------- frozen features
def frozen_features(cfg: Config, encoder: nn.Module, *sources):
    """Per-video features of frozen ``encoder`` (mean over its non-overlapping windows) of each source."""
    from .eval.features import video_features

    ft = finetune_settings(cfg)
    return [video_features(encoder, s, ft.clip_frames, ft.crop_size, ft.short_side, batch_size=ft.batch_size,
                           device=_device(cfg)) for s in sources]


def linear_probe(cfg: Config, encoder: nn.Module, train_src, test_src, *, seed: int = 0,
                 weight_decay: float = 1e-3, features=None) -> dict:
    """Softmax regression on frozen video features: train on ``train_src``, test on ``test_src``."""
    from .eval.linear_probe import fit_linear_probe, topk_accuracy

    (xl, yl), (xt, yt) = features or frozen_features(cfg, encoder, train_src, test_src)
    predict = fit_linear_probe(xl, yl, len(train_src.classes), weight_decay=weight_decay, seed=seed)
    scores = predict(xt)
    return {"protocol": "linear", "method": "L-BFGS softmax regression on frozen video features",
            "top1": topk_accuracy(scores, yt, 1), "top5": topk_accuracy(scores, yt, 5),
            "train_videos": int(len(yl)), "test_videos": int(len(yt)), "seed": seed}


def retrieval(cfg: Config, encoder: nn.Module, train_src, test_src, *, features=None) -> dict:
    """Test videos query training videos by cosine similarity of frozen features (VCOP's protocol)."""
    from .eval.retrieval import RECALL_AT, retrieval_recall

    (xl, yl), (xt, yt) = features or frozen_features(cfg, encoder, train_src, test_src)
    recall = retrieval_recall(xt, yt, xl, yl, RECALL_AT)
    return {"protocol": "retrieval", "top1": recall[1], "top5": recall[5],
            "recall": {str(k): v for k, v in recall.items()}, "queries": int(len(yt)), "gallery": int(len(yl))}


def evaluate(cfg: Config, encoder: nn.Module, train_src, val_src, test_src, *, init: str,
             protocols=PROTOCOLS, classifier=None, epochs: int | None = None, seed: int = 0,
             progress: bool = False) -> dict:
    """Every protocol into one report: ``{"results": [...], "protocol_card": {...}}``.

    Args:
        classifier: an already fine-tuned :class:`ActionClassifier`; the ``finetune`` row then
            tests it instead of fine-tuning ``encoder``.
    """
    from .eval.report import finetune_card, linear_card, retrieval_card
    from .eval.retrieval import RECALL_AT

    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown:
        raise ValueError(f"unknown protocol(s) {unknown}; choose from {', '.join(PROTOCOLS)}")
    ft = finetune_settings(cfg)
    check_sources(train_src, val_src, test_src, ft.clip_frames)
    results, card = [], {}
    if "finetune" in protocols:
        if classifier is not None:
            r = {"protocol": "finetune", **evaluate_video_level(classifier, test_src, cfg), "seed": None}
            selection = "done when the checkpoint was fine-tuned (see its run folder)"
        else:
            r = finetune_and_test(cfg, encoder, train_src, val_src, test_src, epochs=epochs, seed=seed,
                                  progress=progress)
            selection = None
        results.append({"init": init, **r})
        card["finetune"] = finetune_card(ft, r["windows_per_video"], selection)
    if {"linear", "retrieval"} & set(protocols):
        feats = frozen_features(cfg, encoder, train_src, test_src)
        if "linear" in protocols:
            results.append({"init": init, **linear_probe(cfg, encoder, train_src, test_src, seed=seed, features=feats)})
            card["linear"] = linear_card(ft, 1e-3)
        if "retrieval" in protocols:
            results.append({"init": init, **retrieval(cfg, encoder, train_src, test_src, features=feats)})
            card["retrieval"] = retrieval_card(ft, RECALL_AT)
    return {"results": results, "protocol_card": card,
            "data": {"classes": list(train_src.classes), "train_videos": len(train_src),
                     "val_videos": len(val_src) if val_src is not None else 0, "test_videos": len(test_src)}}


__all__ = ["PROTOCOLS", "build_classifier", "check_sources", "checkpoint_kind", "downstream_sources", "evaluate",
           "finetune", "finetune_and_test", "finetune_settings", "linear_probe", "load_checked", "load_encoder",
           "read_checkpoint", "retrieval", "evaluate_video_level"]
