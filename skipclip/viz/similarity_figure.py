"""Figure 3 drawn: the context clip above, each target's first frame below with its per-cell
similarity map over it in the 'jet' colours, its frame number and score, and a colour bar.

Composed directly as an image array with numpy and Pillow (matplotlib gives only the colour map
and the DejaVu Sans font it ships): a fraction of the cost of a matplotlib figure, so the training
callback can draw it every few epochs. :func:`save_png` writes it.
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

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


__all__ = ["compose", "save_png"]
