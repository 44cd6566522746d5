"""The demo's report: its rows (each protocol and initialisation over seeds, the supervised
bound), Skip-Clip's gain over random initialisation against the spread, and the printed table."""

from __future__ import annotations

from skipclip.eval.report import mean_std

HEALTH_ROWS = (
    ("pixel", "pixels"),
    ("untrained_f", "untrained f"),
    ("untrained", "untrained g, f"),
    ("pretrained", "pretrained g, f"),
)


def result_rows(probe: dict, tuned: dict, sup: dict, budget) -> list[dict]:
    """The report's rows: each protocol and initialisation over seeds, and the supervised bound."""
    results = []
    for protocol, runs in (("linear_probe", probe), ("finetune", tuned)):
        for init in ("random", "skipclip"):
            t1, t1s = mean_std([r["top1"] for r in runs[init]])
            t5, t5s = mean_std([r["top5"] for r in runs[init]])
            results.append(
                {
                    "init": init,
                    "protocol": protocol,
                    "labelled_videos_per_class": budget.shots,
                    "top1": t1,
                    "top1_std": t1s,
                    "top5": t5,
                    "top5_std": t5s,
                    "seeds": len(runs[init]),
                    "per_seed": runs[init],
                }
            )
    results.append(
        {
            "init": "supervised",
            "protocol": "supervised (all labels, upper bound)",
            "labelled_videos_per_class": budget.videos_per_class,
            "top1": sup["top1"],
            "top1_std": 0.0,
            "top5": sup["top5"],
            "top5_std": 0.0,
            "seeds": 1,
        }
    )
    return results


def versus(results: list[dict], protocol: str) -> dict:
    """Skip-Clip's top-1 gain over random initialisation under ``protocol``, against the larger spread."""
    rnd, skc = (
        next(r for r in results if r["init"] == i and r["protocol"] == protocol) for i in ("random", "skipclip")
    )
    gain, spread = skc["top1"] - rnd["top1"], max(skc["top1_std"], rnd["top1_std"])
    return {"top1_gain": gain, "larger_spread": spread, "beats_random_by_more_than_spread": bool(gain > spread)}


def print_report(report: dict) -> None:
    h = report["pretext_health"]
    first = h["pretrained"]
    print(
        f"\nPretext health on {first['windows']} windows of {first['videos']} held-out videos (targets ranked "
        "against the context; 95% interval over videos, cluster-t):"
    )
    print(
        f"  {'ranker':16s} {'rank acc':>9s} {'95% interval':>16s} {'Kendall tau':>12s} {'pos-neg gap':>12s} "
        f"{'windows':>8s}"
    )
    for key, name in HEALTH_ROWS:
        m = h[key]
        gap = f"{m['pos_neg_gap']:12.3f}" if m["pos_neg_gap"] is not None else f"{'-':>12s}"
        lo, hi = m["rank_acc_ci"]
        print(
            f"  {name:16s} {m['rank_acc']:9.3f} {f'[{lo:.3f}, {hi:.3f}]':>16s} {m['kendall_tau']:12.3f} {gap} "
            f"{m['windows']:8d}"
        )
    if "verdict" in h:
        print(f"  pretrained against untrained (step 0), same windows: {h['verdict']}")
    print(
        f"\nAction recognition on {report['data']['test_videos']} held-out test videos "
        f"({len(report['data']['classes'])} classes, chance {100 * report['chance_top1']:.1f} %):"
    )
    top5 = any(r["top5"] is not None for r in report["results"])
    print(
        f"  {'init':12s} {'protocol':38s} {'labels/class':>12s} {'top-1 (%)':>13s}"
        + (f" {'top-5 (%)':>13s}" if top5 else "")
    )
    for r in report["results"]:
        print(
            f"  {r['init']:12s} {r['protocol']:38s} {r['labelled_videos_per_class']:12d} "
            f"{100 * r['top1']:7.1f} ± {100 * r['top1_std']:3.1f}"
            + (f" {100 * r['top5']:7.1f} ± {100 * r['top5_std']:3.1f}" if top5 else "")
        )
    print()
    for key, protocol in (("skipclip_vs_random", "linear probe"), ("skipclip_vs_random_finetune", "fine-tuning")):
        c = report[key]
        verdict = "beats" if c["beats_random_by_more_than_spread"] else "does NOT beat"
        print(
            f"{protocol:>12s}: Skip-Clip {verdict} random initialisation by more than the spread: "
            f"top-1 gain {100 * c['top1_gain']:+.1f} points vs spread (std over seeds) "
            f"{100 * c['larger_spread']:.1f}"
        )
    print(f"wall time {report['timings']['total_s']:.0f} s")
