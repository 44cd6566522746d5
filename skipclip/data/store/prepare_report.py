"""What a ``skipclip prepare`` run did: :class:`PrepareReport`, and its summary in words."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from skipclip.data.catalog.doctor import wrap_names
from skipclip.data.catalog.paths import printable
from skipclip.data.store.prepared import MANIFEST


@dataclass
class PrepareReport:
    """What a prepare run did. ``ok`` is False when no usable video is left."""

    out: Path
    layout: str
    prepared: int = 0  # decoded in this run
    skipped: int = 0  # already in the store
    failed: dict[str, str] = field(default_factory=dict)  # name -> reason (unreadable)
    missing: dict[str, list[str]] = field(default_factory=dict)  # list file -> listed videos not found
    unlisted: list[str] = field(default_factory=list)
    split_files: list[str] = field(default_factory=list)
    videos: int = 0  # usable videos in the store
    frames: int = 0
    hours: float = 0.0
    bytes: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.videos > 0

    @property
    def gb_per_hour(self) -> float:
        return self.bytes / 1e9 / self.hours if self.hours else 0.0

    def summary(self, max_list: int = 20) -> str:
        lines = [
            f"store {self.out} ({self.layout}): {self.videos} videos, {self.frames} frames, "
            f"{self.hours * 60:.1f} min of video",
            f"  this run: {self.prepared} decoded, {self.skipped} already done, {len(self.failed)} failed, "
            f"{self.seconds:.1f} s",
            f"  size: {self.bytes / 1e6:.1f} MB = {self.gb_per_hour:.2f} GB per hour of video",
        ]
        n_missing = sum(len(v) for v in self.missing.values())
        if n_missing:
            per = ", ".join(f"{len(v)} in {k}" for k, v in self.missing.items())
            lines.append(f"  {n_missing} videos are listed but missing ({per}); carrying on without them:")
            for where, names in self.missing.items():
                lines += wrap_names(names, 5 * max_list, f"{where}:")
        if self.unlisted:
            lines.append(f"  {len(self.unlisted)} video files are listed in no split file and were not prepared:")
            lines += wrap_names(self.unlisted, 5 * max_list)
        if self.failed:
            lines.append(f"  {len(self.failed)} videos could not be used:")
            for name, reason in list(self.failed.items())[:max_list]:
                lines.append(f"    {printable(name)}: {printable(reason)}")
            if len(self.failed) > max_list:
                lines.append(f"    ... and {len(self.failed) - max_list} more (see 'failed' in {self.out / MANIFEST})")
        if self.split_files:
            lines.append(f"  split written to {', '.join(self.split_files)}")
        return "\n".join(lines)
