"""The pretext choices on real footage: negatives (the mean of Eq. 2 against the hardest; the
same video's far frames as extra negatives; none), margins, learning rate and resolution, each a
pretraining run of the `cpu-real` preset with one value changed, the same seed and budget, then
the pretext health on the held-out videos and the linear probe of the context encoder.

    OMP_NUM_THREADS=1 python experiments/real_choices.py --data STORE --out OUT [--seed 0] [--only NAME ...]

Each variant runs exactly:

    skipclip pretrain --config cpu-real --data DATA --seed S --out OUT/NAME --set KEY=VALUE ...
    skipclip evaluate --config cpu-real --data DATA --seed S --ckpt OUT/NAME/checkpoints/last.ckpt \\
        --protocols linear_probe --json OUT/NAME.json --set KEY=VALUE ...

and is skipped when its outputs exist (an interrupted benchmark resumes, an unfinished pretraining
run with `--resume`; `--reuse-default RUN` takes the default variant from an existing pretraining
run of the same preset and seed, e.g. one of experiments/real_footage.py). Writes OUT/choices.json
and prints the table.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from real_footage import finished, resume_flag  # noqa: E402

VARIANTS: dict[str, list[str]] = {
    "default": [],  # cpu-real: Eq. 2 mean, margins 0.1/0.1, lr 1e-3, 48 px
    # neg_reduce=hardest and far_negatives=8 were measured here and lost (docs/results.md); removed in 0.2
    "no negatives": ["pretext.negatives=false"],
    "margins 0.3/0.3": ["pretext.rank_margin=0.3", "pretext.neg_margin=0.3"],
    "margins 0.03/0.03": ["pretext.rank_margin=0.03", "pretext.neg_margin=0.03"],
    "lr 3e-4": ["optim.lr=3.0e-4"],
    "lr 3e-3": ["optim.lr=3.0e-3"],
    "64 px": ["data.crop_size=64", "data.short_side=72"],
    "450 steps": ["optim.max_steps=450"],  # 3x the budget (the schedule's nominal epochs stretch with it)
}


def run_seconds(run_dir: Path) -> int | None:
    """Wall seconds of a finished run, from its run.json's start and end."""
    from datetime import datetime

    info = json.loads((run_dir / "run.json").read_text())
    try:
        fmt = "%Y-%m-%dT%H:%M:%S%z"
        return round((datetime.strptime(info["ended"], fmt) - datetime.strptime(info["started"], fmt)).total_seconds())
    except (KeyError, ValueError):
        return None


def last_health(metrics_csv: Path) -> dict:
    rows = [r for r in csv.DictReader(metrics_csv.read_text().splitlines()) if r.get("val/rank_acc")]
    first, last = rows[0], rows[-1]
    out = {
        "step": int(last["step"]),
        "rank_acc": float(last["val/rank_acc"]),
        "tau": float(last["val/kendall_tau"]),
        "gap": float(last["val/pos_neg_gap"]),
        "gap_first": float(first["val/pos_neg_gap"]),
        "best_rank_acc": max(float(r["val/rank_acc"]) for r in rows),
        # the last 5 validations: one validation of a few held-out videos swings by +-0.15
        "rank_acc_last5": sum(float(r["val/rank_acc"]) for r in rows[-5:]) / len(rows[-5:]),
        "tau_last5": sum(float(r["val/kendall_tau"]) for r in rows[-5:]) / len(rows[-5:]),
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--config", default="cpu-real")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="*", choices=list(VARIANTS), help="variants to run (default: all)")
    ap.add_argument("--reuse-default", metavar="RUN", help="a finished pretraining run of the preset and seed")
    args = ap.parse_args()

    if args.reuse_default and not finished(Path(args.reuse_default)):
        sys.exit(
            f"--reuse-default {args.reuse_default}: not a finished pretraining run (its run.json must say "
            '"status": "finished"); leave the option out to pretrain the default variant here'
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.reuse_default and not (out / "default").exists():
        os.symlink(Path(args.reuse_default).resolve(), out / "default")
    common = ["--config", args.config, "--data", args.data, "--seed", str(args.seed), "--no-progress"]
    rows = []
    for name, sets in VARIANTS.items():
        if args.only and name not in args.only:
            continue
        slug = name.replace(" ", "_").replace("/", "-")
        run_dir, report = out / slug, out / f"{slug}.json"
        over = ["--set", *sets] if sets else []
        ckpt = run_dir / "checkpoints" / "last.ckpt"
        wall = None
        if not finished(run_dir):
            t0 = time.time()
            print(f"$ skipclip pretrain ... --out {run_dir} {' '.join(over)}", flush=True)
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "skipclip.cli",
                    "pretrain",
                    *common,
                    "--out",
                    str(run_dir),
                    *resume_flag(run_dir),
                    *over,
                ],
                check=True,
            )
            wall = round(time.time() - t0)
        if not report.exists():
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "skipclip.cli",
                    "evaluate",
                    *common,
                    "--ckpt",
                    str(ckpt),
                    "--protocols",
                    "linear_probe",
                    "--out",
                    str(report.with_suffix("")),
                    "--force",
                    "--json",
                    str(report),
                    *over,
                ],
                check=True,
            )
        probe = json.loads(report.read_text())["results"][0]
        rows.append(
            {
                "variant": name,
                "set": sets,
                "probe_top1": probe["top1"],
                "test_videos": probe["test_videos"],
                "pretrain_wall_s": wall or run_seconds(run_dir),
                **last_health(run_dir / "logs" / "metrics.csv"),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    (out / "choices.json").write_text(json.dumps(rows, indent=2))
    print(f"\n{args.data}, {args.config}, seed {args.seed}; held-out pretext health at the last validation")
    print(
        f"{'variant':20s} {'rank acc':>8s} {'last 5':>6s} {'tau':>6s} {'last 5':>6s} {'gap':>13s} "
        f"{'probe top-1':>11s} {'pretrain s':>10s}"
    )
    for r in rows:
        print(
            f"{r['variant']:20s} {r['rank_acc']:8.3f} {r['rank_acc_last5']:6.3f} {r['tau']:6.3f} "
            f"{r['tau_last5']:6.3f} {r['gap_first']:.3f}->{r['gap']:.3f} {r['probe_top1']:11.3f} "
            f"{r['pretrain_wall_s'] or '-':>10}"
        )


if __name__ == "__main__":
    main()
