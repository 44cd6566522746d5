"""Pretext health that can tell learning from noise: pretrain over several seeds and tabulate the
held-out rank accuracy with its 95 % interval at step 0 and at the end, the training sample's,
the pixel and untrained-f baselines, the model minus each baseline on the same windows (paired,
cluster-t interval over videos), the verdict and the online kNN top-1 (docs/pretext-health.md).

    OMP_NUM_THREADS=1 python experiments/pretext_health.py --data DATA --out OUT [--config cpu-real]
        [--seeds 3] [--set KEY=VALUE ...]

DATA is ``synthetic``, a prepared store or a raw video folder. Each seed runs exactly

    skipclip pretrain --config CONFIG --data DATA --seed S --out OUT/seed-S --no-progress [--set ...]

and is skipped when that run finished already (an unfinished one continues with ``--resume``).
Writes OUT/pretext_health.json and OUT/pretext_health.md (per seed, and mean ± sd over seeds)
and prints the table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from real_footage import finished, resume_flag  # noqa: E402

# column -> (label, how to read it from run.json's health record)
COLUMNS = {
    "step0": (
        "step 0 (held-out)",
        lambda h: (h["baselines"].get("step0") or {}).get("rank_acc"),
        lambda h: (h["baselines"].get("step0") or {}).get("rank_acc_ci"),
    ),
    "end": ("end (held-out)", lambda h: h["rank_acc"], lambda h: h["rank_acc_ci"]),
    "train": ("end (train sample)", lambda h: h["train_rank_acc"], lambda h: h["train_rank_acc_ci"]),
    "pixel": (
        "pixels",
        lambda h: (h["baselines"].get("pixel") or {}).get("rank_acc"),
        lambda h: (h["baselines"].get("pixel") or {}).get("rank_acc_ci"),
    ),
    "untrained_f": (
        "untrained f",
        lambda h: (h["baselines"].get("untrained_f") or {}).get("rank_acc"),
        lambda h: (h["baselines"].get("untrained_f") or {}).get("rank_acc_ci"),
    ),
}
for _name, _label in (("step0", "end - step 0"), ("pixel", "end - pixels"), ("untrained_f", "end - untrained f")):
    COLUMNS[f"vs_{_name}"] = (
        _label,
        lambda h, n=_name: ((h.get("vs") or {}).get(n) or {}).get("diff"),
        lambda h, n=_name: ((h.get("vs") or {}).get(n) or {}).get("ci"),
    )


def pretrain(args, seed: int) -> Path:
    run_dir = Path(args.out) / f"seed-{seed}"
    if not finished(run_dir):
        cmd = [
            sys.executable,
            "-m",
            "skipclip",
            "pretrain",
            "--config",
            args.config,
            "--data",
            args.data,
            "--seed",
            str(seed),
            "--out",
            str(run_dir),
            "--no-progress",
            *resume_flag(run_dir),
            *(["--set", *args.set] if args.set else []),
        ]
        print("$ " + " ".join(cmd[1:]), flush=True)
        subprocess.run(cmd, check=True)
    return run_dir


def seed_row(seed: int, run_dir: Path) -> dict:
    info = json.loads((run_dir / "run.json").read_text())
    h = info.get("health")
    if not h:
        sys.exit(
            f"{run_dir}/run.json has no pretext health: a run of an older skipclip, or pretext.health_windows 0; "
            "delete the run folder to pretrain it again"
        )
    row = {
        "seed": seed,
        "steps": info["summary"]["steps"],
        "windows": h["windows"],
        "videos": h["videos"],
        "train_windows": h["train_windows"],
        "knn_top1": h.get("knn_top1"),
        "verdict": h.get("verdict"),
        "bn_stats": (h.get("bn_stats") or {}).get("kind", "running"),
    }
    for key, (_, value, ci) in COLUMNS.items():
        row[key], row[f"{key}_ci"] = value(h), ci(h)
    return row


def spread(rows: list[dict], key: str) -> tuple[float | None, float | None]:
    values = [r[key] for r in rows if r.get(key) is not None]
    if not values:
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def table(rows: list[dict], title: str) -> str:
    def cell(r, key):
        if r.get(key) is None:
            return "-"
        ci = r.get(f"{key}_ci")
        sign = "+" if key.startswith("vs_") else ""
        if ci and None not in ci:
            return f"{r[key]:{sign}.3f} [{ci[0]:{sign}.3f}, {ci[1]:{sign}.3f}]"
        return f"{r[key]:{sign}.3f}"

    keys = [*COLUMNS, "knn_top1"]
    head = ["seed", "steps", "windows (videos)", *(COLUMNS[k][0] for k in COLUMNS), "kNN top-1"]
    lines = [f"### {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append(
            f"| {r['seed']} | {r['steps']} | {r['windows']} ({r['videos']}) | "
            + " | ".join(cell(r, k) for k in keys)
            + " |"
        )
    means = [spread(rows, k) for k in keys]
    lines.append(
        "| mean ± sd | | | " + " | ".join(f"{m:.3f} ± {s:.3f}" if m is not None else "-" for m, s in means) + " |"
    )
    learned = sum(1 for r in rows if (r.get("verdict") or "").startswith("learned"))
    lines += [
        "",
        f"Learned (end above step 0 by its paired interval) in {learned} of {len(rows)} seeds. "
        "Rank accuracy: pairwise accuracy of the targets' order by score (ties count one half), over "
        "many fixed windows of the held-out videos; [95% cluster-t interval over videos]; `end - X`: the "
        "model minus X on the same windows. Step 0, pixels and untrained f are measured on the same "
        f"held-out windows; batch norm: {', '.join(sorted({r['bn_stats'] for r in rows}))} statistics "
        "(docs/pretext-health.md).",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="synthetic, a prepared store or a raw video folder")
    ap.add_argument("--out", required=True)
    ap.add_argument("--config", default="cpu-real")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument(
        "--set",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="configuration overrides for every run, e.g. optim.max_steps=20",
    )
    args = ap.parse_args()
    if args.seeds < 1:
        ap.error(f"--seeds must be >= 1, got {args.seeds}")
    rows = [seed_row(s, pretrain(args, s)) for s in range(args.seeds)]
    out = Path(args.out)
    title = f"Pretext health, {args.data}, {args.config}" + (f" ({' '.join(args.set)})" if args.set else "")
    md = table(rows, title)
    (out / "pretext_health.json").write_text(
        json.dumps(
            {
                "data": args.data,
                "config": args.config,
                "set": args.set,
                "rows": rows,
                "mean_sd": {k: spread(rows, k) for k in [*COLUMNS, "knn_top1"]},
            },
            indent=2,
        )
    )
    (out / "pretext_health.md").write_text(md + "\n")
    print("\n" + md)


if __name__ == "__main__":
    main()
