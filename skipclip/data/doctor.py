"""``skipclip doctor``: what a data set (raw folder or prepared store) holds, and what is wrong."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .source import VideoReadError
from .index import group_split
from .layouts import EXPECTED, load_index
from .paths import printable
from .store import MANIFEST, load_manifest, manifest_entries


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

    @property
    def problems(self) -> int:
        return len(self.missing) + len(self.unreadable) + len(self.leaks)

    def text(self, max_list: int = 20) -> str:
        out = [f"{printable(str(self.data))} ({self.kind}, layout {self.layout}), fold {self.fold}, {len(self.classes)} classes"]
        for split in ("train", "val", "test", "unused"):
            if split in self.counts:
                out.append(f"  {split:>6}: {self.counts[split]:6d} videos")
        if self.expected:
            train, test = self.expected
            got = (self.counts.get("train", 0) + self.counts.get("val", 0), self.counts.get("test", 0))
            verdict = "matches" if got == self.expected else "DIFFERS from"
            out.append(f"  train+val {got[0]} / test {got[1]} {verdict} the official {self.layout} split "
                       f"{self.fold}: {train} / {test}")
            want_classes = EXPECTED[self.layout]["classes"]
            if len(self.classes) != want_classes:
                out.append(f"  {len(self.classes)} classes, the official release has {want_classes}")
        if self.per_class:
            out.append("  per class (train/val/test):")
            for c in self.classes[:max_list]:
                row = "/".join(str(self.per_class.get(s, Counter())[c]) for s in ("train", "val", "test"))
                out.append(f"    {printable(c):<28} {row}")
            if len(self.classes) > max_list:
                out.append(f"    ... {len(self.classes) - max_list} more classes")
        for title, items in (
            ("listed in the split files but missing", self.missing),
            ("present but listed in no split file", self.unlisted),
            ("unreadable", [f"{k}: {v}" for k, v in self.unreadable.items()]),
            (f"shorter than the pretext window ({self.min_frames} frames)", [f"{n} ({k} frames)" for n, k in self.too_short]),
            ("groups in both train and val (leak)", self.leaks),
        ):
            if items:
                out.append(f"  {len(items)} {title}:")
                out += [f"    {printable(x)}" for x in items[:max_list]]
                if len(items) > max_list:
                    out.append(f"    ... and {len(items) - max_list} more")
        out.append("  no problems found" if not self.problems else f"  {self.problems} problems found")
        return "\n".join(out)


def examine(data: str | Path, fold: int = 1, min_frames: int = 0, val_fraction: float = 0.1, seed: int = 0,
            splits: str | Path | None = None, layout: str | None = None) -> DoctorReport:
    """Count a data set per split and class and list what is wrong.

    Frame counts come from the manifest for a store, and from demuxing each file for a raw folder.

    Raises:
        SplitError: the split files are missing or malformed.
        FileNotFoundError: ``data`` does not exist.
    """
    data = Path(data)
    if (data / MANIFEST).is_file():
        manifest = load_manifest(data)
        entries = manifest_entries(manifest)
        report = DoctorReport(data, "store", manifest.get("layout", "?"), fold, list(manifest.get("classes", [])))
        frames = {v["name"]: v["frames"] for v in manifest["videos"]}
        for f in manifest.get("failed", []):
            if "not found" in f["reason"]:
                report.missing.append(f["name"])
            else:
                report.unreadable[f["name"]] = f["reason"]
    else:
        from .video_io import probe

        index = load_index(data, splits, layout)
        entries = index.entries
        report = DoctorReport(data, "raw", index.layout, fold, index.classes)
        report.missing = index.missing()
        report.unlisted = index.unlisted()
        absent = set(report.missing)
        frames = {}
        for e in entries:
            if e.path in absent:
                continue
            try:
                frames[e.path] = probe(index.root / e.path)[0].frames
            except VideoReadError as exc:
                report.unreadable[e.path] = exc.reason
    if report.layout in EXPECTED and fold in EXPECTED[report.layout]:
        report.expected = EXPECTED[report.layout][fold]
    roles = [e.role(fold) for e in entries]
    trainval = [i for i, r in enumerate(roles) if r == "train"]
    train, val = group_split(entries, trainval, val_fraction, seed)
    split_of = dict.fromkeys(train, "train") | dict.fromkeys(val, "val")
    for i, e in enumerate(entries):
        split = split_of.get(i, roles[i])
        report.counts[split] = report.counts.get(split, 0) + 1
        if e.label >= 0:
            report.per_class.setdefault(split, Counter())[report.classes[e.label]] += 1
    report.leaks = sorted({entries[i].group for i in train} & {entries[i].group for i in val})
    report.min_frames = min_frames
    report.too_short = [(e.path, frames[e.path]) for e in entries if e.path in frames and frames[e.path] < min_frames]
    return report
