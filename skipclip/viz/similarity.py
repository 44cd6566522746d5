"""Figure 3 of the paper: where a target frame agrees with its context.

The score of a target (Eq. 3) is the mean over the ``H x W`` aligned cells of the cosine
similarity between the context encoding ``h = g(c)`` and the target encoding ``z = f(x)``. This
module computes those per-cell similarities for one pretext sample of a video and draws them as
heat maps over the target frames, next to the context clip, with each target's score.

The figure itself is drawn by :mod:`skipclip.viz.similarity_figure`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from skipclip.config import config_from_dict, validate
from skipclip.data import PretextWindow, open_video, random_crop_flip, resize_short_side
from skipclip.errors import InputNotFoundError, InvalidInputError
from skipclip.method.build import build_skipclip
from skipclip.method.model import to_frame_grid
from skipclip.models.normalize import input_stats_of, normalize
from skipclip.viz.similarity_figure import compose, save_png
from skipclip.weights.exported import FRAME_FILE, exported_as_checkpoint, load_exported
from skipclip.weights.initialise import load_skipclip
from skipclip.weights.read import resolve_weights


@torch.no_grad()
def similarity_maps(model, context: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-cell cosine similarities of ``g(context)`` and each ``f(target)``, and the scores.

    Args:
        model: a :class:`~skipclip.method.model.SkipClipModel`.
        context: ``(K, S, S, 3)`` uint8 frames.
        targets: ``(M, d, S, S, 3)`` uint8 target clips.

    Returns:
        maps ``(M, H, W)`` and scores ``(M,)`` (the cell mean, Eq. 3).
    """

    device = next(model.parameters()).device
    c = torch.from_numpy(np.ascontiguousarray(context)).permute(3, 0, 1, 2)[None]  # 1 x 3 x K x S x S
    x = torch.from_numpy(np.ascontiguousarray(targets)).permute(0, 1, 4, 2, 3)  # M x d x 3 x S x S
    g, f = model.context_encoder, model.frame_encoder
    z = f(normalize(x.to(device), channel_dim=2, stats=input_stats_of(f)).flatten(1, 2))  # M x C x H x W
    h = to_frame_grid(g(normalize(c.to(device), channel_dim=1, stats=input_stats_of(g))), z.shape[-2:])  # 1 x C x H x W
    maps = (F.normalize(h.float(), dim=1) * F.normalize(z.float(), dim=1)).sum(1).cpu()  # M x H x W
    return maps.numpy(), maps.flatten(1).mean(1).numpy()


def busiest_window(frames: np.ndarray, length: int, candidates: int = 16) -> int:
    """The start of the ``length``-frame window where the frames change most: of ``candidates``
    evenly spaced starts, the one with the largest mean absolute difference between consecutive
    frames (grey, subsampled 4x), so a figure shows motion rather than an empty stretch. Ties go to
    the earliest.

    Args:
        frames: ``(T, H, W, 3)`` uint8.

    Raises:
        ValueError: fewer than ``length`` frames.
    """
    t = len(frames)
    if t < length:
        raise InvalidInputError(f"{t} frames are fewer than the {length}-frame window")
    grey = frames[:, ::4, ::4].astype(np.float32).mean(-1)  # T x H/4 x W/4
    change = np.abs(np.diff(grey, axis=0)).mean((1, 2))  # T-1: change between frames t and t+1
    cum = np.concatenate([[0.0], np.cumsum(change)])
    starts = np.unique(np.linspace(0, t - length, min(candidates, t - length + 1)).round().astype(int))
    motion = [(cum[s + length - 1] - cum[s]) / max(length - 1, 1) for s in starts]
    return int(starts[int(np.argmax(motion))])


def _centre_crop(frames: np.ndarray, short_side: int, crop: int) -> np.ndarray:
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)  # T x 3 x H x W
    x = random_crop_flip(resize_short_side(x, short_side), crop, np.random.default_rng(0), train=False)
    return x.permute(0, 2, 3, 1).numpy()  # T x S x S x 3


def similarity_model(path: str | Path):
    """Both encoders g and f, and the run's Config, from what ``load_encoder`` takes: a pretraining
    ``.ckpt``, a run folder (its ``checkpoints/last.ckpt``), or an export made with
    ``--frame-encoder`` (its folder or ``context_encoder.safetensors``).

    Raises:
        InputNotFoundError: nothing at ``path``, or an export without ``frame_encoder.safetensors``.
        InvalidInputError: a file without both encoders (a fine-tuned classifier has no f).
    """
    p = resolve_weights(path)  # the weights door: the file itself, or the one a run or export folder holds
    if p.suffix != ".safetensors":
        return load_skipclip(p)
    frame = p.with_name(FRAME_FILE)
    if not frame.is_file():
        raise InputNotFoundError(
            f"{p.parent} holds g but not f ({FRAME_FILE}), and the maps compare the two: export "
            "with `skipclip export --frame-encoder`, or give the run's checkpoints/last.ckpt"
        )
    raw = (exported_as_checkpoint(p).get("hyper_parameters") or {}).get("config") or {}
    cfg = validate(config_from_dict(raw, f"{p} config"))
    model = build_skipclip(cfg)
    model.context_encoder, model.frame_encoder = load_exported(p), load_exported(frame)
    return model.eval(), cfg


def draw_similarity(ckpt_path: str | Path, video: str, png_path: str | Path, start: int | None = None) -> dict:
    """Figure 3 for one pretext sample of ``video``: the window starting at frame ``start``, or by
    default the one where the frames change most (:func:`busiest_window`).

    Returns:
        ``{"video", "start", "chosen_by", "context_frames", "target_frames", "scores", "png"}``.

    Raises:
        ValueError: the video is shorter than the pretext window, or a bad checkpoint.
    """

    model, cfg = similarity_model(ckpt_path)
    frames, name = open_video(video, cfg)
    w = PretextWindow.from_config(cfg)
    if not w.fits(len(frames)):
        raise InvalidInputError(
            f"{name} has {len(frames)} frames, shorter than the pretext window "
            f"K + M*r + d - 1 = {w.length} of this checkpoint"
        )
    chosen_by = "given" if start is not None else "most frame change"
    start = busiest_window(frames, w.length) if start is None else start
    if not 0 <= start <= len(frames) - w.length:
        raise InvalidInputError(f"start {start} out of range 0..{len(frames) - w.length} for {name}")
    ctx_idx, tgt_idx = w.offsets()
    ctx_idx, tgt_idx = ctx_idx + start, tgt_idx + start  # K, M x d
    clip = _centre_crop(frames[: start + w.length], cfg.data.short_side, cfg.data.crop_size)
    maps, scores = similarity_maps(model, clip[ctx_idx], clip[tgt_idx])
    save_png(compose(clip[ctx_idx], clip[tgt_idx], maps, scores, name, ctx_idx, tgt_idx[:, 0]), png_path)
    return {
        "video": name,
        "start": int(start),
        "chosen_by": chosen_by,
        "context_frames": ctx_idx.tolist(),
        "target_frames": tgt_idx[:, 0].tolist(),
        "scores": [float(v) for v in scores],
        "png": str(png_path),
    }


__all__ = ["busiest_window", "draw_similarity", "similarity_maps", "similarity_model"]
