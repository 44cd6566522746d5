"""Loss curves from a run's CSV log (Lightning's CSVLogger ``metrics.csv``)."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt

from skipclip.method.pretext_metrics import RankSummary


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


BASELINE_STYLE = {"pixel": "tab:gray", "untrained_f": "tab:olive", "step0": "tab:red"}


def draw_health(ax, s: dict, baselines: Mapping[str, RankSummary] | None) -> bool:
    """The pretext-health panel: held-out rank accuracy over many windows with its interval band,
    the training sample's, and each of the run's pretext-health ``baselines`` as a horizontal line
    with its interval band. Returns whether there was anything to draw."""
    drawn = False
    if "health/rank_acc" in s:
        steps, values = zip(*s["health/rank_acc"])
        ax.plot(steps, values, "o-", color="tab:blue", label="held-out", markersize=3, linewidth=1.2)
        if "health/rank_acc_lo" in s and "health/rank_acc_hi" in s:
            lo, hi = dict(s["health/rank_acc_lo"]), dict(s["health/rank_acc_hi"])
            band = [(x, lo[x], hi[x]) for x in steps if x in lo and x in hi]
            if band:
                x, low, high = zip(*band)
                ax.fill_between(x, low, high, color="tab:blue", alpha=0.2, linewidth=0)
        drawn = True
    if "health/train_rank_acc" in s:
        steps, values = zip(*s["health/train_rank_acc"])
        ax.plot(steps, values, "s--", color="tab:orange", label="train sample", markersize=3, linewidth=1.0)
        drawn = True
    for name, b in (baselines or {}).items():
        color = BASELINE_STYLE.get(name, "black")
        ax.axhline(b.rank_acc, color=color, linestyle=":", linewidth=1.2, label=f"{name} (baseline)")
        lo, hi = b.rank_acc_ci
        if lo is not None and hi is not None:
            ax.axhspan(lo, hi, color=color, alpha=0.12, linewidth=0)
        drawn = True
    if "knn/top1" in s:
        steps, values = zip(*s["knn/top1"])
        ax.plot(steps, values, "^-", color="tab:purple", label="kNN top-1 (held-out)", markersize=3, linewidth=1.0)
        drawn = True
    return drawn


def plot_pretraining_curves(
    csv_path: str | Path,
    png_path: str | Path,
    title: str = "Skip-Clip pretraining",
    baselines: Mapping[str, RankSummary] | None = None,
) -> Path:
    """Draw every loss term and the pretext health metrics (train and held-out) to a PNG; with the
    run's pretext health over many windows (``health/*`` columns, and the health ``baselines``,
    :attr:`~skipclip.eval.pretext_health.PretextHealth.baselines`) a fifth panel draws those with
    their 95 % intervals."""

    matplotlib.use("Agg")

    s = read_metrics(csv_path)
    panels = [
        ("losses (train)", [k for k in ("train/loss", "train/rank", "train/contrastive", "train/rotation") if k in s]),
        ("ranking accuracy", [k for k in ("train/rank_acc", "val/rank_acc", "train/rot_acc") if k in s]),
        ("Kendall's tau", [k for k in ("train/kendall_tau", "val/kendall_tau") if k in s]),
        ("positive - negative score", [k for k in ("train/pos_neg_gap", "val/pos_neg_gap") if k in s]),
    ]
    with_health = any(k.startswith(("health/", "knn/")) for k in s) or bool(baselines)
    fig, axes = plt.subplots(1, 4 + with_health, figsize=(16 + 4 * with_health, 3.6))
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
    if with_health:
        ax = axes[-1]
        if draw_health(ax, s, baselines):
            ax.legend(fontsize=7)
        ax.set_title("pretext health: rank acc., many windows")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    png_path = Path(png_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return png_path
