"""`skipclip reproduce`: the shape of the paper's Tables 1 and 2 on a data set."""

HELP = "reproduce the shape of the paper's Tables 1-2 (initialisations, ablation) over seeds"
DESCRIPTION = (
    "Pretrain three Skip-Clip variants (basic = ranking only; + rotation; + rotation + negatives), "
    "then fine-tune and test g from random initialisation, from inflated 2D weights (the frame "
    "encoder of the full Skip-Clip checkpoint, or --inflate FILE; on the synthetic data there are no "
    "ImageNet weights) and from each variant, over --seeds seeds. Prints Table 1 (random, inflation, "
    "Skip-Clip) and Table 2 (the ablation) as mean ± std and writes OUT/report.json, OUT/tables.txt "
    "and OUT/tables.png. About 25 minutes on 2 CPU cores for the synthetic data; --quick in seconds."
)


def add_arguments(p):
    p.add_argument("--data", default="synthetic", help="'synthetic', a prepared store or a labelled video folder")
    p.add_argument("--out", required=True, help="folder for the pretraining runs, report.json, tables.*")
    from skipclip.commands.flags import add_with_aliases, preset_help

    p.add_argument("--config", default="cpu", help=preset_help())
    p.add_argument("--seeds", type=int, default=3, help="fine-tuning seeds per row (>= 3 for a spread)")
    add_with_aliases(
        p,
        "--max-epochs",
        ["--pretrain-epochs"],
        dest="pretrain_epochs",
        type=int,
        help="pretraining epochs per variant (default: 30, --quick 1)",
    )
    p.add_argument("--finetune-epochs", type=int, help="fine-tuning epochs per run")
    p.add_argument(
        "--videos-per-class",
        type=int,
        help="synthetic videos per class (pretraining; the labelled and test sets scale with it)",
    )
    p.add_argument("--inflate", metavar="FILE", help="a 2D ResNet-18 state dict for the inflation row")
    p.add_argument("--quick", action="store_true", help="tiny data and one epoch each (a smoke test)")
    p.add_argument("--force", action="store_true", help="replace a report and pretraining runs already in --out")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run(args) -> int:
    import dataclasses
    from pathlib import Path

    from skipclip.config import load_config
    from skipclip.recipes.reproduce import DEFAULT, QUICK, reproduce
    from skipclip.utils.quiet import quiet_lightning

    quiet_lightning()

    out = Path(args.out)
    budget = dataclasses.replace(QUICK if args.quick else DEFAULT, seeds=args.seeds)
    if args.pretrain_epochs is not None:
        budget.pretrain_epochs = args.pretrain_epochs
    if args.finetune_epochs is not None:
        budget.finetune_epochs = args.finetune_epochs
    if args.videos_per_class is not None:
        budget.videos_per_class = args.videos_per_class
    if args.data != "synthetic":
        budget.videos_per_class = None
    cfg = load_config(args.config)
    reproduce(cfg, args.data, out, budget=budget, inflate=args.inflate, progress=not args.no_progress, force=args.force)
    return 0
