"""``skipclip doctor``: what a data set (raw folder or prepared store) holds, and what is wrong."""

from __future__ import annotations

import textwrap
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from skipclip.data.catalog.carve import CoverageWarning
from skipclip.data.catalog.index import split_of
from skipclip.data.catalog.layouts import EXPECTED, load_index
from skipclip.data.catalog.name_pattern import suggest_label_pattern
from skipclip.data.catalog.paths import printable
from skipclip.data.sources.base import VideoReadError
from skipclip.data.store.prepared import MANIFEST, load_manifest, manifest_entries
from skipclip.data.video.pyav import probe
from skipclip.utils.progress import track


def wrap_names(names: list[str], limit: int, title: str = "") -> list[str]:
    """``names`` comma-separated and wrapped into indented lines, at most ``limit`` names."""

    text = ", ".join(names[:limit]) + (f", ... and {len(names) - limit} more" if len(names) > limit else "")
    return textwrap.wrap(
        f"{title} {text}".strip(), width=100, initial_indent="    ", subsequent_indent="      ", break_on_hyphens=False
    )


@dataclass
class DoctorReport:
    """Counts and problems of one fold of a data set."""

    data: Path
    kind: str  # "store" or "raw"
    layout: str
    fold: int
    classes: list[str]
    counts: dict[str, int] = field(default_factory=dict)  # split -> videos
    per_class: dict[str, Counter] = field(default_factory=dict)  # split -> class -> videos
    expected: tuple[int, int] | None = None  # official (train, test)
    missing: list[str] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)
    too_short: list[tuple[str, int]] = field(default_factory=list)
    min_frames: int = 0
    leaks: list[str] = field(default_factory=list)  # groups in both train and val
    missing_by_list: dict[str, list[str]] = field(default_factory=dict)
    coverage: list[str] = field(default_factory=list)  # warnings: classes validation cannot hold by group
    label_hint: str | None = None  # a --label-pattern the file names of an unlabelled folder suggest
    videos: int = 0  # videos present (listed or found)

    @property
    def blocking(self) -> list[str]:
        """Why no run can use the data set (empty: it can be used, warnings or not)."""
        readable = self.videos - len(self.unreadable)
        if self.videos == 0:
            return ["no video found"]
        if readable <= 0:
            return [f"none of the {self.videos} videos can be read"]
        if self.min_frames and len(self.too_short) >= readable:
            return [f"no readable video is at least the pretext window ({self.min_frames} frames) long"]
        return []

    @property
    def warnings(self) -> int:
        """Things a run carries on past (it leaves those videos out), listed in the report."""
        # groups straddling train and val because the user's fallback holds out single videos
        # of classes the groups cannot cover are warned about once, in the coverage warning
        leaks = 0 if any("held out single videos" in w for w in self.coverage) else len(self.leaks)
        return (
            len(self.missing)
            + len(self.unlisted)
            + len(self.unreadable)
            + len(self.too_short)
            + leaks
            + len(self.coverage)
            + (self.label_hint is not None)
        )

    @property
    def problems(self) -> int:
        """Listed-but-missing, unreadable and leaking videos (``--strict`` fails on any warning)."""
        leaks = 0 if any("held out single videos" in w for w in self.coverage) else len(self.leaks)
        return len(self.missing) + len(self.unreadable) + leaks

    def text(self, max_list: int = 20) -> str:
        where = f"{printable(str(self.data))} ({self.kind}, layout {self.layout})"
        out = [f"{where}, fold {self.fold}, {len(self.classes)} classes"]
        out += self._split_lines()
        out += [f"  warning: {w}" for w in self.coverage]
        out += self._class_lines(max_list)
        out += self._problem_lines(max_list)
        if self.label_hint:
            out.append(f"  hint: the file names carry a class; read it with --label-pattern '{self.label_hint}'")
        out.append(self._verdict())
        return "\n".join(out)

    def _split_lines(self) -> list[str]:
        """The videos per split, and how they compare with the official split."""
        out = [
            f"  {split:>6}: {self.counts[split]:6d} videos"
            for split in ("train", "val", "test", "unused")
            if split in self.counts
        ]
        if self.expected:
            train, test = self.expected
            got = (self.counts.get("train", 0) + self.counts.get("val", 0), self.counts.get("test", 0))
            verdict = "matches" if got == self.expected else "DIFFERS from"
            out.append(
                f"  train+val {got[0]} / test {got[1]} {verdict} the official {self.layout} split "
                f"{self.fold}: {train} / {test}"
            )
            want_classes = EXPECTED[self.layout]["classes"]
            if len(self.classes) != want_classes:
                out.append(f"  {len(self.classes)} classes, the official release has {want_classes}")
        return out

    def _class_lines(self, max_list: int) -> list[str]:
        """The videos per class and split."""
        if not self.per_class:
            return []
        out = ["  per class (train/val/test):"]
        for c in self.classes[:max_list]:
            row = "/".join(str(self.per_class.get(s, Counter())[c]) for s in ("train", "val", "test"))
            out.append(f"    {printable(c):<28} {row}")
        if len(self.classes) > max_list:
            out.append(f"    ... {len(self.classes) - max_list} more classes")
        return out

    def _problem_lines(self, max_list: int) -> list[str]:
        """The missing, unlisted, unreadable, too short and leaking videos, each list cut at ``max_list``."""
        out = []
        for where, names in self.missing_by_list.items():
            out.append(f"  {len(names)} listed in {where} but missing:")
            out += wrap_names(names, 5 * max_list)
        if self.unlisted:
            out.append(f"  {len(self.unlisted)} present but listed in no split file:")
            out += wrap_names(self.unlisted, 5 * max_list)
        for title, items in (
            ("unreadable", [f"{k}: {v}" for k, v in self.unreadable.items()]),
            (
                f"shorter than the pretext window ({self.min_frames} frames)",
                [f"{n} ({k} frames)" for n, k in self.too_short],
            ),
            ("groups in both train and val (leak)", self.leaks),
        ):
            if items:
                out.append(f"  {len(items)} {title}:")
                out += [f"    {printable(x)}" for x in items[:max_list]]
                if len(items) > max_list:
                    out.append(f"    ... and {len(items) - max_list} more")
        return out

    def _verdict(self) -> str:
        if self.blocking:
            return "  cannot be used: " + "; ".join(self.blocking)
        if self.warnings:
            return (
                "  usable, with the warnings above (runs go on without the videos they name; --strict "
                "makes warnings an error)"
            )
        return "  usable, no warnings"


def examine(
    data: str | Path,
    fold: int = 1,
    min_frames: int = 0,
    val_fraction: float = 0.1,
    seed: int = 0,
    splits: str | Path | None = None,
    layout: str | None = None,
    *,
    test_fraction: float = 0.2,
    group_pattern: str | None = None,
    fallback: str = "videos",
    label_pattern: str | None = None,
    progress: bool = False,
) -> DoctorReport:
    """Count a data set per split and class and list what is wrong.

    Frame counts come from the manifest for a store, and from demuxing each file for a raw folder
    (``progress``: shown on stderr).
    Validation is carved as a run carves it (per class, by group, ``fallback``); listed-but-missing
    videos are named per list and left out of the counts.

    Raises:
        SplitError: the split files are missing or malformed.
        FileNotFoundError: ``data`` does not exist.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CoverageWarning)
        report = _examine(
            Path(data),
            fold,
            min_frames,
            val_fraction,
            seed,
            splits,
            layout,
            test_fraction,
            group_pattern,
            fallback,
            label_pattern,
            progress,
        )
    report.coverage = list(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, CoverageWarning)))
    return report


def _examine(
    data,
    fold,
    min_frames,
    val_fraction,
    seed,
    splits,
    layout,
    test_fraction,
    group_pattern,
    fallback,
    label_pattern=None,
    progress=False,
):
    data = Path(data)
    if (data / MANIFEST).is_file():
        manifest = load_manifest(data)
        entries = manifest_entries(manifest)
        report = DoctorReport(data, "store", manifest.get("layout", "?"), fold, list(manifest.get("classes", [])))
        frames = {v["name"]: v["frames"] for v in manifest["videos"]}
        for f in manifest.get("failed", []):
            if "not found" in f["reason"]:  # stores of older versions
                report.missing_by_list.setdefault("the split files", []).append(f["name"])
            else:
                report.unreadable[f["name"]] = f["reason"]
        for k, names in manifest.get("missing", {}).items():
            report.missing_by_list.setdefault(k, []).extend(names)
        report.missing = [n for names in report.missing_by_list.values() for n in names]
        report.unlisted = list(manifest.get("unlisted", []))
    else:
        index = load_index(
            data,
            splits,
            layout,
            test_fraction=test_fraction,
            group_pattern=group_pattern,
            fallback=fallback,
            label_pattern=label_pattern,
        )
        entries = index.present()
        report = DoctorReport(data, "raw", index.layout, fold, index.classes)
        if not index.classes and not label_pattern:
            report.label_hint = suggest_label_pattern([e.path for e in entries])
        report.missing_by_list = index.missing_by_list()
        report.missing = index.missing()
        report.unlisted = index.unlisted()
        frames = {}
        for e in track(entries, len(entries), "doctor: reading", "videos", enabled=progress):
            try:
                frames[e.path] = probe(index.root / e.path)[0].frames
            except VideoReadError as exc:
                report.unreadable[e.path] = exc.reason
    if report.layout in EXPECTED and fold in EXPECTED[report.layout]:
        report.expected = EXPECTED[report.layout][fold]
    roles = split_of(entries, fold, val_fraction, seed, fallback, report.classes)
    for i, e in enumerate(entries):
        report.counts[roles[i]] = report.counts.get(roles[i], 0) + 1
        if e.label >= 0:
            report.per_class.setdefault(roles[i], Counter())[report.classes[e.label]] += 1
    in_val = {entries[i].group for i, r in enumerate(roles) if r == "val"}
    report.leaks = sorted({entries[i].group for i, r in enumerate(roles) if r == "train"} & in_val)
    report.min_frames = min_frames
    report.videos = len(entries)
    report.too_short = [(e.path, frames[e.path]) for e in entries if e.path in frames and frames[e.path] < min_frames]
    return report
