"""Skip-Clip against random initialisation on real footage, at a preset's defaults, over seeds:
for each seed s, pretrain with seed s and evaluate that checkpoint with seed s (fine-tuning and
linear probe, kNN), and evaluate random initialisation with seed s (its own random weights). The
Skip-Clip spread therefore includes the pretraining seed. Also prints the pretext health over
pretraining (held-out rank accuracy over many windows, docs/pretext-health.md, and the online kNN
top-1 where the data has labels).

    OMP_NUM_THREADS=1 python experiments/real_footage.py --data STORE --out OUT [--seeds 3]

Runs exactly these commands (each skipped when its output already exists, an unfinished pretraining
run resumed, so an interrupted benchmark is finished, or a finished one re-tabled, by running it again):

    skipclip pretrain --config cpu-real --data DATA --seed S --out OUT/pretrain-S
    skipclip evaluate --config cpu-real --data DATA --ckpt random --seed S \\
        --protocols finetune,linear_probe,knn --json OUT/random-S.json
    skipclip evaluate --config cpu-real --data DATA --ckpt OUT/pretrain-S/checkpoints/last.ckpt --seed S \\
        --protocols finetune,linear_probe,knn --json OUT/skipclip-S.json

Writes OUT/summary.json and prints the tables.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROTOCOLS = ("finetune", "linear_probe", "knn")


def run(cmd: list[str], done: Path, wall: dict, key: str) -> None:
    if done.exists():
        return
    start = time.time()
    print("$ skipclip " + " ".join(cmd), flush=True)
    subprocess.run([sys.executable, "-m", "skipclip.cli", *cmd], check=True)
    wall[key] = round(time.time() - start)


def finished(run_dir: Path) -> bool:
    """The pretraining run in ``run_dir`` ran to its end (``last.ckpt`` alone may be an epoch's)."""
    info = run_dir / "run.json"
    return info.exists() and json.loads(info.read_text()).get("status") == "finished"


def resume_flag(run_dir: Path) -> list[str]:
    """``--resume`` for a run that was started and not finished."""
    return ["--resume"] if (run_dir / "run.json").exists() else []


def health_curve(metrics_csv: Path) -> list[dict]:
    """The held-out health at each validation: rank accuracy over the health windows (the one
    window per video of ``val/rank_acc`` for runs without them), the gap, the online kNN top-1."""
    rows = []
    with open(metrics_csv) as f:
        for r in csv.DictReader(f):
            acc = r.get("health/rank_acc") or r.get("val/rank_acc")
            if acc:
                rows.append(
                    {
                        "step": int(r["step"]),
                        "rank_acc": float(acc),
                        "gap": float(r["val/pos_neg_gap"]) if r.get("val/pos_neg_gap") else float("nan"),
                        "knn_top1": float(r["knn/top1"]) if r.get("knn/top1") else None,
                    }
                )
    return rows


def baselines(runs: list[Path]) -> dict[str, float]:
    """The mean over the runs of each health baseline's held-out rank accuracy (run.json's
    ``health.baselines``: pixels, untrained f, step 0), for the runs that measured them."""
    found: dict[str, list[float]] = {}
    for run_dir in runs:
        health = json.loads((run_dir / "run.json").read_text()).get("health") or {}
        for name, summary in (health.get("baselines") or {}).items():
            if summary and summary.get("rank_acc") is not None:
                found.setdefault(name, []).append(summary["rank_acc"])
    return {name: statistics.mean(values) for name, values in found.items()}


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--config", default="cpu-real")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--only", choices=("random", "skipclip"), help="run one initialisation's side only")
    ap.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="overrides for pretraining only (e.g. optim.lr=3e-4); the evaluations keep the preset",
    )
    args = ap.parse_args()

    out = Path(args.out)
    common = ["--config", args.config, "--data", args.data, "--no-progress"]
    ev = ["--protocols", ",".join(PROTOCOLS)]
    wall: dict[str, int] = {}
    for s in range(args.seeds):
        ckpt = out / f"pretrain-{s}" / "checkpoints" / "last.ckpt"
        if args.only != "skipclip":
            run(
                [
                    "evaluate",
                    *common,
                    "--seed",
                    str(s),
                    "--ckpt",
                    "random",
                    *ev,
                    "--out",
                    str(out / f"random-{s}"),
                    "--force",
                    "--json",
                    str(out / f"random-{s}.json"),
                ],
                out / f"random-{s}.json",
                wall,
                f"random-{s}",
            )
        if args.only != "random":
            pre = out / f"pretrain-{s}"
            if not finished(pre):
                over = ["--set", *args.set] if args.set else []
                run(
                    ["pretrain", *common, "--seed", str(s), "--out", str(pre), *resume_flag(pre), *over],
                    pre / "none",
                    wall,
                    f"pretrain-{s}",
                )
            run(
                [
                    "evaluate",
                    *common,
                    "--seed",
                    str(s),
                    "--ckpt",
                    str(ckpt),
                    *ev,
                    "--out",
                    str(out / f"skipclip-{s}"),
                    "--force",
                    "--json",
                    str(out / f"skipclip-{s}.json"),
                ],
                out / f"skipclip-{s}.json",
                wall,
                f"skipclip-{s}",
            )
    if args.only:
        return

    summary = {
        "data": args.data,
        "config": args.config,
        "pretrain_set": args.set,
        "seeds": args.seeds,
        "wall_s": wall,
        "rows": [],
    }
    print(f"\n{args.data} ({args.config} defaults, seeds 0..{args.seeds - 1}); wall s this run: {wall}")
    print(
        f"{'init':9s} {'protocol':13s} {'video top-1':>15s}  {'per seed':18s} {'clip top-1':>10s}  selected step (of)"
    )
    for init in ("random", "skipclip"):
        reps = [json.loads((out / f"{init}-{s}.json").read_text()) for s in range(args.seeds)]
        for protocol in PROTOCOLS:
            rows = [next(r for r in rep["results"] if r["protocol"] == protocol) for rep in reps]
            top1 = [r["top1"] for r in rows]
            m, sd = mean_std(top1)
            clip = [r["clip_top1"] for r in rows if r.get("clip_top1") is not None]
            steps = [r.get("best_step") for r in rows]
            row = {
                "init": init,
                "protocol": protocol,
                "top1": m,
                "top1_std": sd,
                "per_seed": top1,
                "clip_top1": mean_std(clip) if clip else None,
                "best_step": steps,
                "steps": rows[0].get("steps"),
                "test_videos": rows[0].get("test_videos"),
            }
            summary["rows"].append(row)
            clip_s = f"{row['clip_top1'][0]:.3f}" if clip else "-"
            sel = (", ".join(str(x) for x in steps) + f" ({row['steps']})") if steps[0] is not None else ""
            print(
                f"{init:9s} {protocol:13s} {m:7.3f} ± {sd:.3f}  {', '.join(f'{t:.2f}' for t in top1):18s} "
                f"{clip_s:>10s}  {sel}"
            )
    print("\npretext health on held-out videos over pretraining (seeds in columns: rank acc / gap)")
    curves = [health_curve(out / f"pretrain-{s}" / "logs" / "metrics.csv") for s in range(args.seeds)]
    summary["health"] = curves
    summary["baselines"] = baselines([out / f"pretrain-{s}" for s in range(args.seeds)])
    print(
        "baselines on the same held-out windows, mean over seeds: "
        + ", ".join(f"{k} {v:.3f}" for k, v in summary["baselines"].items())
    )
    for i, r in enumerate(curves[0]):
        cells = [f"{c[i]['rank_acc']:.3f} / {c[i]['gap']:.3f}" for c in curves if i < len(c)]
        print(f"{r['step']:5d}  " + "   ".join(cells))
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"figure: {plot(summary, out / 'summary.png')}")


def plot(summary: dict, png: Path) -> Path:
    """Held-out rank accuracy and gap over pretraining per seed; video top-1 per seed and init."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    for s, curve in enumerate(summary["health"]):
        steps = [r["step"] for r in curve]
        axes[0].plot(steps, [r["rank_acc"] for r in curve], "o-", ms=3, label=f"seed {s}")
        axes[1].plot(steps, [r["gap"] for r in curve], "o-", ms=3, label=f"seed {s}")
    axes[0].axhline(0.5, color="grey", ls=":", label="chance")
    styles = {"pixel": ("tab:red", "pixels"), "untrained_f": ("tab:purple", "untrained f"), "step0": ("grey", "step 0")}
    for name, value in (summary.get("baselines") or {}).items():
        color, label = styles.get(name, ("black", name))
        axes[0].axhline(value, color=color, ls="--", lw=1, label=f"{label} (mean)")
    axes[0].set_title("held-out rank accuracy")
    axes[1].set_title("held-out positive - negative score")
    for ax in axes[:2]:
        ax.set_xlabel("pretraining step")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    ax = axes[2]
    for i, row in enumerate(summary["rows"]):
        ax.plot([i] * len(row["per_seed"]), row["per_seed"], "o", alpha=0.6)
        ax.errorbar(i + 0.15, row["top1"], yerr=row["top1_std"], fmt="s", color="black", ms=4, capsize=3)
    ax.set_xticks(range(len(summary["rows"])), [f"{r['init']}\n{r['protocol']}" for r in summary["rows"]], fontsize=7)
    ax.set_title("test video top-1 (dots: seeds; square: mean ± sd)")
    ax.grid(alpha=0.3)
    extra = f", pretraining {' '.join(summary['pretrain_set'])}" if summary.get("pretrain_set") else ""
    fig.suptitle(f"{Path(summary['data']).name} ({summary['config']}{extra})")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return png


if __name__ == "__main__":
    main()
