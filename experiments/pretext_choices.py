"""Measure the choices the paper leaves open (margins, how the rotation task is fed) on the
built-in synthetic videos: pretrain each variant with the same budget and seed, then report the
held-out pretext health and the few-shot linear probe of the demo (3 probe seeds).

    python experiments/pretext_choices.py --epochs 25 --out /tmp/choices

Prints a table and writes OUT/choices.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

VARIANTS = {
    "margins 0.1/0.1, rotated copies (default)": {},
    "margins 0.05/0.05": {"pretext.rank_margin": 0.05, "pretext.neg_margin": 0.05},
    "margins 0.3/0.3": {"pretext.rank_margin": 0.3, "pretext.neg_margin": 0.3},
    # "ranking on rotated targets" (pretext.rotation_input: targets) was measured here and lost
    # (docs/paper-fidelity.md); removed in 0.2
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--videos-per-class", type=int, default=80)
    ap.add_argument("--shots", type=int, default=10)
    ap.add_argument("--out", default="pretext-choices")
    ap.add_argument("--only", nargs="*", help="variant names to run (default: all)")
    args = ap.parse_args()

    import lightning as L

    from skipclip.config import load_config
    from skipclip.data import HealthDataset
    from skipclip.data.open import synthetic_sources
    from skipclip.data.sampling.window import PretextWindow
    from skipclip.data.sources.base import InMemorySource
    from skipclip.eval.features import CachedBatches, video_features
    from skipclip.eval.linear_probe import fit_linear_probe, topk_accuracy
    from skipclip.eval.pretext_health import measure_model
    from skipclip.recipes.demo import _few_shot
    from skipclip.recipes.pretrain import pretrain

    out = Path(args.out)
    rows = []
    for name, overrides in VARIANTS.items():
        if args.only and name not in args.only:
            continue
        cfg = load_config(
            "cpu",
            {"optim.max_epochs": args.epochs, "data.synthetic_videos_per_class": args.videos_per_class, **overrides},
        )
        L.seed_everything(0, verbose=False)
        t0 = time.time()
        module, _, _ = pretrain(
            cfg, "synthetic", out / name.replace(" ", "_").replace("/", "-"), force=True, progress=False
        )
        wall = time.time() - t0
        model = module.model
        src = {k: InMemorySource(v) for k, v in synthetic_sources(cfg).items() if k in ("val", "labelled", "test")}
        k, crop = cfg.pretext.context_frames, cfg.data.crop_size
        # the held-out windows of docs/pretext-health.md
        windows = CachedBatches(HealthDataset(src["val"], PretextWindow.from_config(cfg), crop))
        health = measure_model(model, windows, "cpu").to_dict()
        (xl, yl), (xt, yt) = (video_features(model.context_encoder, src[s], k, crop) for s in ("labelled", "test"))
        accs = [
            topk_accuracy(fit_linear_probe(xl[p], yl[p], len(src["test"].classes), seed=s)(xt), yt)
            for s in range(3)
            for p in [_few_shot(yl, args.shots, s)]
        ]
        rows.append(
            {
                "variant": name,
                "overrides": overrides,
                "probe_top1": float(np.mean(accs)),
                "probe_top1_std": float(np.std(accs, ddof=1)),
                "val_rank_acc": health["rank_acc"],
                "val_kendall_tau": health["kendall_tau"],
                "val_pos_neg_gap": health["pos_neg_gap"],
                "pretrain_s": wall,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "choices.json").write_text(json.dumps(rows, indent=2))
    print(f"\n{'variant':45s} {'probe top-1':>15s} {'rank acc':>9s} {'tau':>6s} {'gap':>6s}")
    for r in rows:
        print(
            f"{r['variant']:45s} {r['probe_top1']:7.3f} ± {r['probe_top1_std']:.3f} {r['val_rank_acc']:9.3f} "
            f"{r['val_kendall_tau']:6.3f} {r['val_pos_neg_gap']:6.3f}"
        )


if __name__ == "__main__":
    torch.set_num_threads(max(1, torch.get_num_threads()))
    main()
