"""`skipclip demo`: pretrain on the built-in synthetic videos and show what it buys."""

HELP = "pretrain on built-in synthetic videos and compare against random initialisation"
DESCRIPTION = (
    "The main job, end to end on the built-in synthetic videos, on CPU: pretrain Skip-Clip, report "
    "the pretext health of the pretrained encoders against untrained ones on held-out videos, then "
    "train a linear classifier on frozen context-encoder features (pretrained vs random "
    "initialisation) from few labelled videos over 3 seeds, with a supervised upper bound. Prints "
    "a table and writes OUT/report.json and OUT/loss_curves.png. 5 to 7 minutes on 2 cores; "
    "--quick about 2."
)


def add_arguments(p):
    p.add_argument("--out", default="demo-out", help="folder for report.json, loss_curves.png and the run")
    p.add_argument("--quick", action="store_true", help="a smaller, faster run (about 2 minutes)")
    p.add_argument("--seed", type=int, default=0, help="seed of data, pretraining and probes")
    p.add_argument("--force", action="store_true", help="replace a report and run already in --out")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument(
        "--precision",
        choices=["auto", "32-true", "bf16-mixed"],
        default=None,
        help="precision of every training in the demo (default: the cpu preset's, auto: bf16 where this "
        "CPU runs it measurably faster, else fp32)",
    )


def run(args) -> int:
    from skipclip.recipes.demo import run_demo
    from skipclip.utils.quiet import quiet_lightning

    quiet_lightning()

    run_demo(
        args.out,
        quick=args.quick,
        seed=args.seed,
        progress=not args.no_progress,
        force=args.force,
        precision=args.precision,
    )
    return 0
