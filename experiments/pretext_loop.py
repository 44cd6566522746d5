"""Quick, one-seed exploration of the pretext's terms: a bare training loop (plain Adam, no
Lightning, no checkpoints) on a data set at ``cpu-real``'s settings, to see within a minute or two
whether a variant lowers the ranking term on fresh training windows and lifts held-out health.

    OMP_NUM_THREADS=1 python experiments/pretext_loop.py --data STORE [--steps 150] [--lr 1e-3]
        [--listwise] [--set KEY=VALUE ...]

Prints every 25 steps the mean ranking term (Eq. 1) and in-batch rank accuracy, then the held-out
and training-sample health of pretext-health.md (the same windows ``skipclip pretrain`` measures),
and the model at step 0 on them. ``--listwise`` replaces Eq. 1 by a Plackett-Luce loss over each
window's targets (each target against all later ones in a softmax at temperature 0.1); it is an
exploration here, not a setting. Windows change every epoch as in pretraining (the data set's
``set_epoch``), so the in-batch accuracy is on windows not seen before.

Measured figures (docs/results.md) come from ``experiments/pretext_health.py``, which runs the real
``skipclip pretrain`` over 3 seeds; this loop reproduces its 150-step end point within the noise
(kinetics-tiny seed 0: 0.559 here, 0.563 there) and only says where to look.
"""

from __future__ import annotations

import argparse
import time

import torch

from skipclip.config import load_config
from skipclip.config.load import parse_sets
from skipclip.data import open_data
from skipclip.eval import pretext_health as ph
from skipclip.eval.health_callback import PretextHealthMonitor
from skipclip.method import SkipClipModel, build_skipclip
from skipclip.recipes.pretext_data import make_loader, pretext_datasets


class ListwiseSkipClip(SkipClipModel):
    """Skip-Clip with Plackett-Luce (:func:`listwise_ranking_loss`) in place of Eq. 1."""

    def ranking_loss(self, pos: torch.Tensor) -> torch.Tensor:
        return listwise_ranking_loss(pos, self.rank_margin)


def listwise_ranking_loss(pos: torch.Tensor, margin: float, temperature: float = 0.1) -> torch.Tensor:
    """Plackett-Luce over the targets, nearest first: ``sum_i -log softmax_{j >= i}(s_j / T)[i]``
    per window, averaged (``margin`` unused: same signature as :meth:`SkipClipModel.ranking_loss`)."""
    s = pos / temperature  # B x M
    m = s.shape[1]
    later = torch.ones(m, m, dtype=torch.bool, device=s.device).triu()  # [i, j]: j >= i
    lse = torch.logsumexp(s[:, None, :].masked_fill(~later, float("-inf")), dim=2)  # B x M
    return (lse - s)[:, :-1].sum(1).mean()


def batches(train, loader):
    """Training batches forever, each epoch with its own windows."""
    epoch = 0
    while True:
        train.set_epoch(epoch)
        loader.sampler.set_epoch(epoch)
        yield from loader
        epoch += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--lr", type=float, default=None, help="default: the preset's optim.lr")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--listwise", action="store_true", help="Plackett-Luce instead of Eq. 1 (exploration)")
    ap.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = load_config("cpu-real", {"trainer.seed": args.seed}, sets=parse_sets(args.set))
    torch.manual_seed(args.seed)
    splits = open_data(args.data, cfg)
    train, _ = pretext_datasets(cfg, args.data, splits)
    model = build_skipclip(cfg)
    if args.listwise:  # the same encoders and settings, its ranking term replaced (SkipClipModel.ranking_loss)
        model = ListwiseSkipClip(
            model.context_encoder,
            model.frame_encoder,
            model.rotation_head,
            rank_margin=model.rank_margin,
            neg_margin=model.neg_margin,
            negatives=model.negatives,
            channels_last=model.channels_last,
            contrastive=model.contrastive,
            temperature=model.temperature,
        )
    monitor = PretextHealthMonitor.from_config(cfg, splits, model)
    cpu = torch.device("cpu")

    def health() -> str:
        held, tr = (ph.measure_model(model, w, cpu).rank_acc for w in (monitor.held_out, monitor.train))
        return f"held-out {held:.3f}  training sample {tr:.3f}"

    print(
        f"step 0: {health()}  (untrained f on held-out: "
        f"{ph.measure(ph.frame_ranker(model.frame_encoder.eval()), monitor.held_out, cpu).rank_acc:.3f})",
        flush=True,
    )
    opt = torch.optim.Adam(model.parameters(), lr=args.lr or cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    loader = make_loader(train, cfg, shuffle=True, drop_last=True)
    start, window = time.time(), []
    for step, batch in zip(range(1, args.steps + 1), batches(train, loader)):
        model.train()
        terms, metrics = model(batch)
        opt.zero_grad()
        sum(terms.values()).backward()
        opt.step()
        window.append((float(terms["rank"].detach()), float(metrics["rank_acc"])))
        if step % 25 == 0:
            rank, acc = (sum(v) / len(window) for v in zip(*window))
            others = " ".join(f"{k} {float(v.detach()):.3f}" for k, v in terms.items() if k != "rank")
            print(
                f"step {step:4d}: rank term {rank:.3f}  in-batch rank acc {acc:.3f}  {others}  "
                f"({time.time() - start:.0f} s)",
                flush=True,
            )
            window = []
    print(f"step {args.steps}: {health()}")


if __name__ == "__main__":
    main()
