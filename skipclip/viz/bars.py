"""Bar charts of the reproduced tables: mean top-1 per row with the standard deviation over seeds
as error bars and every seed as a dot."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt

from skipclip.errors import InvalidInputError


def plot_tables(tables: Sequence[dict], png_path: str | Path, chance: float | None = None) -> Path:
    """One panel per table; ``tables`` as :func:`skipclip.reproduce.reproduce` builds them
    (``{"title", "rows": [{"name", "mean", "std", "values"}]}``). Writes the PNG atomically.

    Raises:
        ValueError: no tables, or a table without rows.
    """

    matplotlib.use("Agg")

    if not tables or any(not t["rows"] for t in tables):
        raise InvalidInputError("need at least one table with at least one row to draw")
    fig, axes = plt.subplots(1, len(tables), figsize=(5.5 * len(tables), 4.6), squeeze=False)
    for ax, table in zip(axes[0], tables):
        rows = table["rows"]
        xs = range(len(rows))
        means = [100 * r["mean"] for r in rows]
        stds = [100 * r["std"] for r in rows]
        ax.bar(xs, means, yerr=stds, capsize=6, color=[f"C{i}" for i in xs], alpha=0.8)
        for x, r in zip(xs, rows):
            ax.scatter([x] * len(r["values"]), [100 * v for v in r["values"]], color="k", s=12, zorder=3)
            ax.text(x, 100 * r["mean"] + 100 * r["std"] + 1, f"{100 * r['mean']:.1f}", ha="center", fontsize=9)
        if chance is not None:
            ax.axhline(100 * chance, color="gray", ls="--", lw=1, label=f"chance {100 * chance:.1f}%")
            ax.legend(loc="lower right", fontsize=8)
        ax.set_xticks(list(xs))
        ax.set_xticklabels([r["name"].replace(" + ", "\n+ ").replace(" (", "\n(") for r in rows], fontsize=8)
        ax.set_ylabel("top-1 video accuracy (%)")
        ax.set_ylim(0, min(100, max(m + s for m, s in zip(means, stds)) + 12))
        ax.set_title(
            table["title"].split(". ", 1)[0] + f" (n={rows[0].get('seeds', len(rows[0]['values']))} seeds)", fontsize=10
        )
    fig.tight_layout()
    return save_figure(fig, png_path)


def save_figure(fig, png_path: str | Path) -> Path:
    """Save a figure to a temporary file next to ``png_path`` and rename it over (never half-written)."""

    png_path = Path(png_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = png_path.with_name(f".{png_path.name}.tmp.png")
    try:
        fig.savefig(tmp, dpi=110, pil_kwargs={"compress_level": 1})  # fast zlib: bigger file, a fraction of the time
        os.replace(tmp, png_path)
    finally:
        plt.close(fig)
        if tmp.exists():
            tmp.unlink()
    return png_path


__all__ = ["plot_tables"]
