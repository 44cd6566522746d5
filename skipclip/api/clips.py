"""The API's functions from a video to features: g from any weight file, its preprocessing, a
clip read as the data sets read it, and its feature (docs/api.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from skipclip.config import Config
from skipclip.config.finetune_settings import finetune_settings
from skipclip.data import VideoEntry, VideoFileSource, VideoReadError
from skipclip.errors import InputNotFoundError, InvalidInputError
from skipclip.eval.features import average_by_video, window_features
from skipclip.models import ContextEncoder
from skipclip.models.preprocess import Preprocess, as_frames
from skipclip.utils.quiet import one_line_warnings
from skipclip.weights import load_encoder as _load_encoder

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


def read_clip(path: str | Path, start: int = 0, frames: int | None = 16, short_side: int | None = None) -> np.ndarray:
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
        raise InvalidInputError(
            f"{path} has {n} frames; frames {start}..{stop - 1} are not all in it "
            f"(start={start}, frames={frames}; frames=None reads to the end)"
        )
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
        InvalidInputError: frames shorter than one window, or of the wrong type or shape; an
            encoder other than a context encoder g.
        VideoReadError: an unreadable video file.
    """
    if not isinstance(encoder, ContextEncoder):
        raise InvalidInputError(
            f"features come from a context encoder g (skipclip.load_encoder of a run, a "
            f"checkpoint or context_encoder.safetensors), got a {type(encoder).__name__}"
        )
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
            raise InvalidInputError(
                f"the clip has {t} frames, fewer than one {pre.frames}-frame window of this encoder"
            )
        windows = [pre(frames[s : s + pre.frames]) for s in range(0, t - pre.frames + 1, pre.frames)]
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
        feats, videos, _ = window_features(
            encoder,
            source,
            pre.frames,
            pre.crop_size,
            pre.short_side,
            batch_size=finetune_settings(cfg).batch_size,
            device=next(encoder.parameters()).device,
            failed=failed,
        )
    except InvalidInputError:
        if failed:
            raise VideoReadError(str(path), next(iter(failed.values()))) from None
        raise InvalidInputError(f"{path} is shorter than one {pre.frames}-frame window of this encoder") from None
    if per_window:
        return torch.from_numpy(feats)  # W x C
    return torch.from_numpy(average_by_video(feats, videos)[0][0])  # C: the command's own averaging


__all__ = ["features", "load_encoder", "preprocess_for", "read_clip"]
