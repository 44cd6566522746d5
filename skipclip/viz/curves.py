"""Loss curves from a run's CSV log (Lightning's CSVLogger ``metrics.csv``)."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt


def read_metrics(csv_path: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Series ``name -> [(step, value), ...]`` from a Lightning ``metrics.csv``."""
    series: dict[str, list[tuple[int, float]]] = {}
    with open(csv_path, newline="") as fh:
        for row in csv.DictReader(fh):
            step = int(float(row.get("step") or 0))
            for key, value in row.items():
                if key in ("step", "epoch") or value in ("", None):
                    continue
                series.setdefault(key, []).append((step, float(value)))
    return series


def plot_pretraining_curves(csv_path: str | Path, png_path: str | Path, title: str = "Skip-Clip pretraining") -> Path:
    """Draw every loss term and the pretext health metrics (train and held-out) to a PNG."""

    matplotlib.use("Agg")

    s = read_metrics(csv_path)
    panels = [
        ("losses (train)", [k for k in ("train/loss", "train/rank", "train/contrastive", "train/rotation") if k in s]),
        ("ranking accuracy", [k for k in ("train/rank_acc", "val/rank_acc", "train/rot_acc") if k in s]),
        ("Kendall's tau", [k for k in ("train/kendall_tau", "val/kendall_tau") if k in s]),
        ("positive - negative score",
         [k for k in ("train/pos_neg_gap", "val/pos_neg_gap", "train/far_gap", "val/far_gap") if k in s]),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    for ax, (name, keys) in zip(axes, panels):
        for key in keys:
            steps, values = zip(*s[key])
            style = "o-" if key.startswith("val/") else "-"
            ax.plot(steps, values, style, label=key, markersize=3, linewidth=1.2)
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if keys:
            ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    png_path = Path(png_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return png_path
