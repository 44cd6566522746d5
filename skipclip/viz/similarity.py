"""Figure 3 of the paper: where a target frame agrees with its context.

The score of a target (Eq. 3) is the mean over the ``H x W`` aligned cells of the cosine
similarity between the context encoding ``h = g(c)`` and the target encoding ``z = f(x)``. This
module computes those per-cell similarities for one pretext sample of a video and draws them as
heat maps over the target frames, next to the context clip, with each target's score.

The figure is composed directly as an image array (:func:`compose`: numpy and Pillow, matplotlib
only for the 'jet' colour map and the DejaVu Sans font it ships), a fraction of the cost of a
matplotlib figure, so the training callback can draw it every few epochs; :func:`save_png` writes
it.
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from skipclip.config import config_from_dict, validate
from skipclip.data import PretextWindow, open_video, random_crop_flip, resize_short_side
from skipclip.errors import InputNotFoundError, InvalidInputError
from skipclip.method.build import build_skipclip
from skipclip.method.model import to_frame_grid
from skipclip.models.normalize import input_stats_of, normalize
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


FONT_FILE = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"  # shipped with matplotlib
ALPHA = 0.45  # opacity of the similarity colours over a target frame
MIN_TILE = 144  # frames are scaled up by an integer factor to at least this many pixels
MARGIN, GAP = 10, 8  # pixels: around the figure, between columns


@functools.cache
def _font(size: int) -> Any:
    """DejaVu Sans at ``size`` pixels, once per size; Pillow's built-in font without the file or FreeType."""
    if FONT_FILE.is_file():
        try:
            return ImageFont.truetype(str(FONT_FILE), size)
        except (OSError, ImportError):  # an unreadable file, or a Pillow built without FreeType
            pass
    return ImageFont.load_default()


def _text_width(font: Any, text: str) -> int:
    try:
        return math.ceil(font.getlength(text))  # FreeType fonts, and bitmap fonts from Pillow 9.2
    except AttributeError:
        return int(font.getsize(text)[0])


def _line_height(font: Any) -> int:
    try:
        ascent, descent = font.getmetrics()
        return int(ascent + descent)
    except AttributeError:  # a bitmap font
        return int(font.getbbox("Ag")[3]) if hasattr(font, "getbbox") else int(font.getsize("Ag")[1])


def _wrap(text: str, font: Any, width: int) -> list[str]:
    """Greedy word wrap to ``width`` pixels; a word wider than a line is cut."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        joined = f"{line} {word}" if line else word
        if _text_width(font, joined) <= width:
            line = joined
            continue
        if line:
            lines.append(line)
        while len(word) > 1 and _text_width(font, word) > width:
            cut = len(word) - 1
            while cut > 1 and _text_width(font, word[:cut]) > width:
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
        line = word
    if line or not lines:
        lines.append(line)
    return lines


def _captions(context_t, target_t, scores: np.ndarray) -> tuple[list[str], list[str]]:
    """Captions of every context frame and of each target (its first frame, score, and gap to target 1)."""
    context = [f"context t={int(t)}" for t in context_t]
    targets = []
    for j, t in enumerate(target_t):
        gap = f" ({scores[j] - scores[0]:+.1e})" if j else ""  # scores a few 1e-4 apart read alike at 3 decimals
        targets.append(f"target {j + 1} t={int(t)}\nscore {scores[j]:.3f}{gap}")
    return context, targets


def _upscale(frames: np.ndarray, size: int) -> np.ndarray:
    """``(N, S, S, 3)`` uint8 frames, each resized to ``size x size`` (bicubic)."""
    if frames.shape[1] == size and frames.shape[2] == size:
        return np.asarray(frames, dtype=np.uint8)
    bicubic = getattr(Image, "Resampling", Image).BICUBIC
    return np.stack(
        [np.asarray(Image.fromarray(np.ascontiguousarray(f)).resize((size, size), bicubic)) for f in frames]
    )


def compose(
    context: np.ndarray, targets: np.ndarray, maps: np.ndarray, scores: np.ndarray, name: str, context_t, target_t
) -> np.ndarray:
    """Figure 3 as an ``(H, W, 3)`` uint8 image, composed with numpy and Pillow (no matplotlib
    figure): a wrapped title; context frames (top row, up to ``M`` of them, evenly spaced) and the
    first frame of each target overlaid with its per-cell similarity map (bottom row), each
    captioned with its frame, and the targets with their score and its gap to target 1; a colour
    bar with the shared scale (the maps' min and max) on the right.

    Frames are scaled up by an integer factor to tiles of at least :data:`MIN_TILE` pixels; a
    map's ``h x w`` cells are nearest-neighbour blocks covering the whole frame, in the 'jet'
    colour map at :data:`ALPHA` opacity, one scale for all maps (a constant map is drawn in the
    middle colour).

    Args:
        context: ``(K, S, S, 3)`` uint8 frames; targets: ``(M, d, S, S, 3)`` uint8 target clips.
        maps, scores: from :func:`similarity_maps`: ``(M, h, w)`` and ``(M,)``.
        name: the video's name, for the title.
        context_t, target_t: the frame numbers of the context frames ``(K,)`` and of each target's
            first frame ``(M,)``: from the window's start (:meth:`PretextWindow.offsets`, target k
            at ``K - 1 + r * k``), or in the video's numbering.
    """

    m, k, s = len(scores), len(context), context.shape[1]
    shown = np.linspace(0, k - 1, min(k, m)).round().astype(int)
    ctx_caps, tgt_caps = _captions(context_t, target_t, scores)
    ctx_caps = [ctx_caps[i] for i in shown]
    title_font, cap_font, tick_font = _font(12), _font(11), _font(10)
    cap_h, tick_h, title_h = _line_height(cap_font), _line_height(tick_font), _line_height(title_font)

    # the shared colour scale; a constant map has no range, and takes the middle colour
    values = np.asarray(maps, dtype=np.float64)
    vmin, vmax = float(values.min()), float(values.max())
    norm = (values - vmin) / (vmax - vmin) if vmax > vmin else np.full_like(values, 0.5)
    jet = matplotlib.colormaps["jet"]
    colours = jet(np.clip(np.nan_to_num(norm, nan=0.5), 0, 1), bytes=True)[..., :3].astype(np.float32)  # M x h x w x 3

    # geometry: columns wide enough for the tile and its widest caption line
    tile = s * max(1, math.ceil(MIN_TILE / s))
    widest = max(_text_width(cap_font, line) for cap in ctx_caps + tgt_caps for line in cap.split("\n"))
    col_w = max(tile, widest + 4)
    cols = max(m, len(shown))
    grid_w = cols * col_w + (cols - 1) * GAP
    lo_text, hi_text = f"{vmin:.3f}", f"{vmax:.3f}"
    label = "cell cosine similarity"
    bar_x = MARGIN + grid_w + 12
    bar_w, tick_w = 14, max(_text_width(tick_font, lo_text), _text_width(tick_font, hi_text))
    label_x = bar_x + bar_w + 4 + tick_w + 6
    width = label_x + cap_h + MARGIN
    title = _wrap(
        f"{name}: context clip (top) and target frames with per-cell cosine similarity to the context "
        "map (bottom); score = cell mean (Eq. 3)",
        title_font,
        width - 2 * MARGIN,
    )
    ctx_y = MARGIN + len(title) * title_h + 8 + cap_h + 3
    tgt_y = ctx_y + tile + 10 + 2 * cap_h + 3
    label_w = _text_width(cap_font, label)
    height = max(tgt_y + tile, tgt_y + tile // 2 + (label_w + 1) // 2) + MARGIN

    canvas = np.full((height, width, 3), 255, dtype=np.uint8)

    def tile_x(j: int) -> int:
        return MARGIN + j * (col_w + GAP) + (col_w - tile) // 2

    for j, frame in enumerate(_upscale(context[shown], tile)):
        canvas[ctx_y : ctx_y + tile, tile_x(j) : tile_x(j) + tile] = frame
    # nearest-cell blocks over the whole tile, blended over each target's first frame
    rows = np.arange(tile) * maps.shape[1] // tile
    cells = np.arange(tile) * maps.shape[2] // tile
    over = colours[:, rows][:, :, cells]  # M x tile x tile x 3
    frames = _upscale(targets[:, 0], tile).astype(np.float32)
    blended = np.rint((1 - ALPHA) * frames + ALPHA * over).astype(np.uint8)
    for j in range(m):
        canvas[tgt_y : tgt_y + tile, tile_x(j) : tile_x(j) + tile] = blended[j]
    # the colour bar: vmax at the top, vmin at the bottom, a thin frame
    ramp = jet(np.linspace(1, 0, tile), bytes=True)[:, :3]
    canvas[tgt_y : tgt_y + tile, bar_x : bar_x + bar_w] = ramp[:, None]
    canvas[[tgt_y, tgt_y + tile - 1], bar_x : bar_x + bar_w] = 0
    canvas[tgt_y : tgt_y + tile, [bar_x, bar_x + bar_w - 1]] = 0

    image = Image.fromarray(canvas)
    pen = ImageDraw.Draw(image)
    black = (0, 0, 0)

    def centred(text: str, centre: int, y: int, font: Any) -> None:
        pen.text((centre - _text_width(font, text) // 2, y), text, fill=black, font=font)

    for i, line in enumerate(title):
        centred(line, width // 2, MARGIN + i * title_h, title_font)
    for j, cap in enumerate(ctx_caps):
        centred(cap, tile_x(j) + tile // 2, ctx_y - 3 - cap_h, cap_font)
    for j, cap in enumerate(tgt_caps):
        for i, line in enumerate(cap.split("\n")):
            centred(line, tile_x(j) + tile // 2, tgt_y - 3 - (2 - i) * cap_h, cap_font)
    pen.text((bar_x + bar_w + 4, tgt_y), hi_text, fill=black, font=tick_font)
    pen.text((bar_x + bar_w + 4, tgt_y + tile - tick_h), lo_text, fill=black, font=tick_font)
    side = Image.new("RGB", (label_w, cap_h), (255, 255, 255))  # the label, drawn flat then turned upright
    ImageDraw.Draw(side).text((0, 0), label, fill=black, font=cap_font)
    rotate = getattr(Image, "Transpose", Image).ROTATE_90
    image.paste(side.transpose(rotate), (label_x, tgt_y + tile // 2 - label_w // 2))
    return np.asarray(image).copy()


def save_png(image: np.ndarray, png_path: str | Path) -> Path:
    """Write an ``(H, W, 3)`` uint8 image as a PNG through a temporary file beside ``png_path``
    renamed over it (never half-written; the temporary file is removed on failure), creating the
    folder; zlib level 1 (a bigger file, a fraction of the time)."""

    png_path = Path(png_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = png_path.with_name(f".{png_path.name}.tmp.png")
    try:
        Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(tmp, format="PNG", compress_level=1)
        os.replace(tmp, png_path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return png_path


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


__all__ = ["busiest_window", "compose", "draw_similarity", "save_png", "similarity_maps", "similarity_model"]
