"""Built-in synthetic videos: the default data set, rendered on the fly and deterministic from a seed.

Each video is a small scene with a canonical "up": a sky lit from above, a horizon, textured
ground, an object whose upper side catches the light and that casts a shadow on the ground, and a
static distractor. The action classes differ in how the object moves (direction, rotation, scale,
one-way vs periodic, acceleration), and appearance carries part of the class too (each class
prefers one object kind), as in real footage where scene and motion both inform the action.

Frames are a pure function of (seed, video index, frame index), so random access to any frame
costs one render and nothing is stored. ``skipclip synth --out DIR`` writes the same videos as
files in the UCF101 layout.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from skipclip.data.sources.base import VideoReadError
from skipclip.errors import InvalidInputError

CLASSES = (
    "SlideRight",  # one-way, constant speed, to the right
    "SlideLeft",  # the reverse
    "Bounce",  # periodic hops on the ground (|sin|)
    "Swing",  # periodic left-right oscillation
    "SpinClockwise",  # rotation in place
    "SpinCounterClockwise",
    "Approach",  # grows (zooms in), one-way
    "Recede",  # shrinks, one-way
    "Rise",  # floats up at constant speed
    "Fall",  # falls with acceleration (gravity)
)
KINDS = ("disk", "square", "triangle", "cross", "diamond")


@dataclass(frozen=True)
class VideoParams:
    label: int
    kind: int
    color: tuple[float, float, float]
    sky: tuple[tuple[float, float, float], tuple[float, float, float]]
    ground: tuple[float, float, float]
    horizon: float  # fraction of the height
    size: float  # object radius, fraction of frame size
    speed: float  # speed multiplier
    phase: float
    x0: float
    y0: float
    theta0: float
    period: float
    distractor: tuple[int, float, float, float, tuple[float, float, float]]
    stripe_freq: float
    noise_seed: int


def _unit_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng((seed, 7919, index))


def video_params(seed: int, index: int, num_classes: int) -> VideoParams:
    """The random parameters of video ``index``; labels cycle through the classes."""
    rng = _unit_rng(seed, index)
    label = index % num_classes
    kind = label % len(KINDS) if rng.random() < 0.5 else int(rng.integers(len(KINDS)))
    hue_sky = rng.uniform(0.55, 1.0)
    sky_top = (0.35 * hue_sky, 0.55 * hue_sky + 0.2, 0.95)
    sky_bottom = (0.85, 0.85 + 0.1 * rng.random(), 0.9 + 0.1 * rng.random())
    ground = tuple(rng.uniform([0.15, 0.25, 0.05], [0.5, 0.55, 0.25]))
    color = tuple(rng.uniform(0.05, 1.0, size=3))
    d_kind = int(rng.integers(len(KINDS)))
    distractor = (
        d_kind,
        rng.uniform(0.1, 0.9),
        rng.uniform(0.75, 0.9),
        rng.uniform(0.06, 0.1),
        tuple(rng.uniform(0.1, 0.9, size=3)),
    )
    return VideoParams(
        label=label,
        kind=kind,
        color=color,
        sky=(sky_top, sky_bottom),
        ground=ground,
        horizon=rng.uniform(0.55, 0.7),
        size=rng.uniform(0.12, 0.18),
        speed=rng.uniform(0.7, 1.4),
        phase=rng.uniform(0, 2 * math.pi),
        x0=rng.uniform(0.2, 0.8),
        y0=rng.uniform(0.3, 0.6),
        theta0=rng.uniform(0, 2 * math.pi) if CLASSES[label].startswith("Spin") else rng.uniform(-0.15, 0.15),
        period=rng.uniform(12, 20),
        distractor=distractor,
        stripe_freq=rng.uniform(2, 6),
        noise_seed=int(rng.integers(2**31)),
    )


def _wrap(x: float, lo: float, hi: float) -> float:
    return lo + (x - lo) % (hi - lo)


def object_state(p: VideoParams, t: float) -> tuple[float, float, float, float]:
    """Centre (x, y as fractions of the frame), rotation (radians) and radius at frame ``t``."""
    name = CLASSES[p.label]
    ground_y = p.horizon + 0.5 * (1 - p.horizon)  # where objects stand
    x, y, theta, r = p.x0, ground_y - p.size, p.theta0, p.size
    v = 0.022 * p.speed  # fraction of the frame per frame
    w = 2 * math.pi / p.period
    if name == "SlideRight":
        x = _wrap(p.x0 + v * t, -0.2, 1.2)
    elif name == "SlideLeft":
        x = _wrap(p.x0 - v * t, -0.2, 1.2)
    elif name == "Bounce":
        y = ground_y - p.size - 0.3 * abs(math.sin(0.5 * w * t + p.phase))
    elif name == "Swing":
        x = 0.5 + 0.3 * math.sin(w * t + p.phase)
    elif name == "SpinClockwise":
        theta = p.theta0 + 2.2 * w * t
    elif name == "SpinCounterClockwise":
        theta = p.theta0 - 2.2 * w * t
    elif name in ("Approach", "Recede"):
        cycle = 1.6 / (0.02 * p.speed)  # frames per zoom cycle
        u = ((t / cycle) + p.phase) % 1.0
        u = u if name == "Approach" else 1.0 - u
        r = p.size * (0.4 + 1.6 * u)
        y = ground_y - r
    elif name == "Rise":
        y = _wrap(p.y0 - v * t, -0.2, 1.0)
    elif name == "Fall":
        fall_frames = math.sqrt(2 * 1.2 / (0.0012 * p.speed))
        tt = (t + p.phase * fall_frames / (2 * math.pi)) % fall_frames
        y = -0.2 + 0.5 * 0.0012 * p.speed * tt * tt
    return x, y, theta, r


def _shape_mask(kind: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    if KINDS[kind] == "disk":
        return u * u + v * v <= 1.0
    if KINDS[kind] == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.8
    if KINDS[kind] == "triangle":  # apex up in the object's frame
        return (v <= 0.7) & (v >= -1.0 + 1.7 * np.abs(u))
    if KINDS[kind] == "cross":
        return ((np.abs(u) <= 0.3) & (np.abs(v) <= 1.0)) | ((np.abs(v) <= 0.3) & (np.abs(u) <= 1.0))
    return np.abs(u) + np.abs(v) <= 1.0  # diamond


class SyntheticSource:
    """The built-in synthetic data set as a :class:`~skipclip.data.sources.base.VideoSource`.

    Args:
        num_classes: how many of :data:`CLASSES` to use (2..10).
        videos_per_class: videos per class; video ``i`` has label ``i % num_classes``.
        frames: frames per video.
        size: frame height and width in pixels.
        seed: data seed; two sources with different seeds share no video.
        offset: index of the first video (to carve disjoint sets from one seed).
    """

    def __init__(
        self,
        num_classes: int = 8,
        videos_per_class: int = 40,
        frames: int = 48,
        size: int = 64,
        seed: int = 0,
        offset: int = 0,
    ):
        if not 2 <= num_classes <= len(CLASSES):
            raise InvalidInputError(f"num_classes must be in 2..{len(CLASSES)}, got {num_classes}")
        if videos_per_class < 1 or frames < 1 or size < 16:
            raise InvalidInputError(
                f"need videos_per_class >= 1, frames >= 1 and size >= 16, got {videos_per_class}, {frames}, {size}"
            )
        self.num_classes = num_classes
        self.videos_per_class = videos_per_class
        self.frames = frames
        self.size = size
        self.seed = seed
        self.offset = offset
        self.classes = list(CLASSES[:num_classes])
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        self._yy = (yy + 0.5) / size
        self._xx = (xx + 0.5) / size

    def __len__(self) -> int:
        return self.num_classes * self.videos_per_class

    def params(self, index: int) -> VideoParams:
        return _cached_params(self.seed, self.offset + index, self.num_classes)

    def num_frames(self, index: int) -> int:
        return self.frames

    def label(self, index: int) -> int:
        return self.params(index).label

    def name(self, index: int) -> str:
        c = self.classes[self.label(index)]
        return f"{c}/v_{c}_g{(self.offset + index) // self.num_classes + 1:02d}_c01"

    def group(self, index: int) -> str:
        return self.name(index)

    def read(self, index: int, frames: Sequence[int]) -> np.ndarray:
        """Render the requested frames of video ``index``: ``(len(frames), size, size, 3)`` uint8."""
        if not 0 <= index < len(self):
            raise IndexError(f"video index {index} out of range 0..{len(self) - 1}")
        frames = list(frames)
        bad = [f for f in frames if not 0 <= f < self.frames]
        if bad:
            raise VideoReadError(self.name(index), f"frame {bad[0]} out of range 0..{self.frames - 1}")
        p = self.params(index)
        background = self._background(p)
        out = np.empty((len(frames), self.size, self.size, 3), dtype=np.uint8)
        for i, t in enumerate(frames):
            img = background.copy()
            self._draw(img, p, t)
            noise = np.random.default_rng((p.noise_seed, int(t))).normal(0, 0.015, img.shape[:2])
            img += noise[..., None].astype(np.float32)
            out[i] = np.clip(img * 255.0, 0, 255).astype(np.uint8)
        return out

    def _background(self, p: VideoParams) -> np.ndarray:
        yy, xx = self._yy, self._xx
        top, bottom = np.array(p.sky[0], np.float32), np.array(p.sky[1], np.float32)
        a = np.clip(yy / p.horizon, 0, 1)[..., None]
        img = (1 - a) * top + a * bottom  # sky lit from above
        ground = yy >= p.horizon
        depth = np.clip((yy - p.horizon) / (1 - p.horizon), 0, 1)
        stripes = 0.85 + 0.15 * np.sign(np.sin(2 * math.pi * p.stripe_freq * (xx - 0.5) / (0.3 + depth)))
        g = np.array(p.ground, np.float32) * (0.7 + 0.3 * depth)[..., None] * stripes[..., None]
        img = np.where(ground[..., None], g, img).astype(np.float32)
        kind, dx, dy, dr, dcol = p.distractor  # a static object on the ground
        u, v = (xx - dx) / dr, (yy - dy) / dr
        m = _shape_mask(kind, u, v)
        img[m] = np.array(dcol, np.float32) * (1.1 - 0.3 * (v[m] + 1) / 2)[..., None]
        return img

    def _draw(self, img: np.ndarray, p: VideoParams, t: int) -> None:
        x, y, theta, r = object_state(p, float(t))
        yy, xx = self._yy, self._xx
        ground_y = p.horizon + 0.5 * (1 - p.horizon)
        # shadow on the ground: sharper and darker the closer the object is to it
        height = max(0.0, ground_y - (y + r))
        sr = r * (1.0 + 2.0 * height)
        shadow = ((xx - x) / sr) ** 2 + ((yy - ground_y) / (0.25 * r)) ** 2 <= 1.0
        img[shadow] *= 0.55 + 0.3 * min(1.0, 3 * height)
        c, s = math.cos(theta), math.sin(theta)
        dx, dy = xx - x, yy - y
        u = (c * dx + s * dy) / r
        v = (-s * dx + c * dy) / r
        m = _shape_mask(p.kind, u, v)
        if not m.any():
            return
        light = (1.15 - 0.5 * ((yy[m] - y) / r + 1) / 2)[..., None]  # lit from above (world up)
        img[m] = np.array(p.color, np.float32) * light
        mark = ((u - 0.45) ** 2 + (v + 0.45) ** 2) <= 0.09  # an off-centre mark shows rotation
        img[mark & m] = 1.0 - np.array(p.color, np.float32)


@lru_cache(maxsize=4096)
def _cached_params(seed: int, index: int, num_classes: int) -> VideoParams:
    return video_params(seed, index, num_classes)
