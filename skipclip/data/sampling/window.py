"""The Skip-Clip pretext sampler (section 3.1 of the paper).

From a video of N frames: a random start t such that the whole window fits; the context clip is
the K contiguous frames t .. t+K-1; target clip i (i = 0 .. M-1) starts (i+1)*r frames after the
last context frame and holds d contiguous frames. The window therefore spans K + M*r + d - 1
frames. With probability ``reverse_prob`` the whole video is reversed before sampling (Appendix
B), which is done by mapping indices, so no frame is read twice or past either end.

Policy for videos shorter than the window: they are skipped (never sampled, never read past their
end), counted and reported by :class:`skipclip.data.sampling.pretext.PretextDataset`. Shrinking r instead
would silently change the task the model learns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from skipclip.errors import InvalidInputError


@dataclass(frozen=True)
class PretextWindow:
    """Shape of one pretext sample: K context frames, M targets of d frames, r apart."""

    context_frames: int  # K
    num_targets: int  # M
    sampling_rate: int  # r
    target_length: int = 1  # d

    def __post_init__(self):
        if self.context_frames < 1:
            raise InvalidInputError(f"context_frames (K) must be >= 1, got {self.context_frames}")
        if self.num_targets < 2:
            raise InvalidInputError(f"num_targets (M) must be >= 2, got {self.num_targets}")
        if self.sampling_rate < 1:
            raise InvalidInputError(f"sampling_rate (r) must be >= 1, got {self.sampling_rate}")
        if self.target_length < 1:
            raise InvalidInputError(f"target_length (d) must be >= 1, got {self.target_length}")

    @classmethod
    def from_config(cls, cfg) -> PretextWindow:
        """K, M, r, d of ``cfg.pretext``."""
        p = cfg.pretext
        return cls(p.context_frames, p.num_targets, p.sampling_rate, p.target_length)

    @property
    def length(self) -> int:
        """Frames spanned by one sample: K + M*r + d - 1."""
        return self.context_frames + self.num_targets * self.sampling_rate + self.target_length - 1

    def offsets(self) -> tuple[np.ndarray, np.ndarray]:
        """Frame offsets from the start t: context ``(K,)`` and targets ``(M, d)``, nearest first."""
        k, r, d = self.context_frames, self.sampling_rate, self.target_length
        context = np.arange(k)  # K
        starts = (k - 1) + r * np.arange(1, self.num_targets + 1)  # M, first target r after context
        targets = starts[:, None] + np.arange(d)[None, :]  # M x d
        return context, targets

    def fits(self, num_frames: int) -> bool:
        return num_frames >= self.length

    def sample(self, num_frames: int, rng: np.random.Generator, reverse: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Frame indices of one sample in the original video's numbering.

        Args:
            num_frames: N, the video's frame count.
            rng: random generator for the start t.
            reverse: sample from the reversed video (index j of the reversed video is N-1-j).

        Returns:
            context indices ``(K,)`` and target indices ``(M, d)``, all in [0, N).

        Raises:
            ValueError: the video is shorter than the window.
        """
        if not self.fits(num_frames):
            raise InvalidInputError(
                f"video of {num_frames} frames is shorter than the pretext window K + M*r + d - 1 = {self.length}"
            )
        return self.at(num_frames, int(rng.integers(0, num_frames - self.length + 1)), reverse)

    def at(self, num_frames: int, start: int, reverse: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Frame indices of the sample that starts at ``start`` (counted in the direction of
        sampling: frame ``start`` of the reversed video when ``reverse``), in the original
        video's numbering: context ``(K,)`` and targets ``(M, d)``, nearest first, all in [0, N).

        Raises:
            ValueError: the window starting there does not fit in the video.
        """
        if not 0 <= start <= num_frames - self.length:
            raise InvalidInputError(
                f"a window of {self.length} frames starting at {start} does not fit in a video of {num_frames} frames"
            )
        context, targets = self.offsets()
        context, targets = context + start, targets + start
        if reverse:
            context, targets = num_frames - 1 - context, num_frames - 1 - targets
        return context, targets
