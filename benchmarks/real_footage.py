"""Skip-Clip against random initialisation on real footage, at a preset's defaults: pretrain, then
the fine-tuning and linear-probe protocols over seeds from both initialisations, and the pretext
health (held-out rank accuracy, Kendall's tau, positive-negative gap) over pretraining.

    OMP_NUM_THREADS=1 python benchmarks/real_footage.py --data /tmp/ktiny-store --out /tmp/real-ktiny

Runs exactly these commands (each skipped when its output already exists, so a run can be
finished or re-tabled later):

    skipclip pretrain --config cpu-real --data DATA --out OUT/pretrain
    skipclip evaluate --config cpu-real --data DATA --ckpt random --seeds 3 \\
        --protocols finetune,linear_probe --json OUT/random.json
    skipclip evaluate --config cpu-real --data DATA --ckpt OUT/pretrain/checkpoints/last.ckpt --seeds 3 \\
        --protocols finetune,linear_probe --json OUT/skipclip.json

One pretraining seed (pretraining is the expensive part on CPU); the evaluation seeds vary the
fine-tuning and, for random initialisation, the initial weights. Prints two tables.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path


def run(cmd: list[str], done: Path) -> float:
    if done.exists():
        return float("nan")
    start = time.time()
    print("$ skipclip " + " ".join(cmd), flush=True)
    subprocess.run([sys.executable, "-m", "skipclip.cli", *cmd], check=True)
    return time.time() - start


def health_curve(metrics_csv: Path) -> list[dict]:
    rows = []
    with open(metrics_csv) as f:
        for r in csv.DictReader(f):
            if r.get("val/rank_acc"):
                rows.append({"step": int(r["step"]), "rank_acc": float(r["val/rank_acc"]),
                             "tau": float(r["val/kendall_tau"]), "gap": float(r["val/pos_neg_gap"])})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--config", default="cpu-real")
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()

    out = Path(args.out)
    ckpt = out / "pretrain" / "checkpoints" / "last.ckpt"
    common = ["--config", args.config, "--data", args.data, "--no-progress"]
    ev = ["--seeds", str(args.seeds), "--protocols", "finetune,linear_probe"]
    wall = {"pretrain": run(["pretrain", *common, "--out", str(out / "pretrain")], ckpt),
            "random": run(["evaluate", *common, "--ckpt", "random", *ev, "--json", str(out / "random.json")],
                          out / "random.json"),
            "skipclip": run(["evaluate", *common, "--ckpt", str(ckpt), *ev, "--json", str(out / "skipclip.json")],
                            out / "skipclip.json")}
    print(f"\n{args.data} ({args.config} defaults, {args.seeds} evaluation seeds); wall s: "
          + ", ".join(f"{k} {v:.0f}" for k, v in wall.items()))
    print(f"{'init':10s} {'protocol':13s} {'video top-1':>15s}  per seed        selected step (of)")
    for init in ("random", "skipclip"):
        rep = json.loads((out / f"{init}.json").read_text())
        for row in rep["results"]:
            singles = [r for r in rep.get("per_seed", rep["results"]) if r["protocol"] == row["protocol"]]
            steps = ", ".join(f"{r['best_step']}" for r in singles if r.get("best_step") is not None)
            total = f" ({singles[0]['steps']})" if steps else ""
            per_seed = ", ".join(f"{r['top1']:.2f}" for r in singles)
            print(f"{init:10s} {row['protocol']:13s} {row['top1']:7.3f} ± {row.get('top1_std', 0):.3f}  "
                  f"{per_seed:14s}  {steps}{total}")
    curve = health_curve(out / "pretrain" / "logs" / "metrics.csv")
    print(f"\npretext health on held-out videos over pretraining\n{'step':>5s} {'rank acc':>9s} {'tau':>6s} {'gap':>6s}")
    for r in curve:
        print(f"{r['step']:5d} {r['rank_acc']:9.3f} {r['tau']:6.3f} {r['gap']:6.3f}")


if __name__ == "__main__":
    main()
