"""`skipclip evaluate`: every downstream protocol for one checkpoint, in one report."""

HELP = "evaluate a checkpoint: fine-tuning, linear probe, retrieval and kNN in one report"
DESCRIPTION = (
    "Evaluate the context encoder g of a checkpoint on a labelled data set. For a Skip-Clip "
    "pretraining checkpoint: fine-tune a copy (finetune section of the config, --max-epochs), a "
    "linear probe (L-BFGS softmax regression on frozen per-video features), and nearest-neighbour "
    "retrieval (cosine; test videos query training videos; recall at 1/5/10/20/50) and weighted kNN "
    "classification (k=20, cosine, votes exp(cos/0.07), as in Wu et al. 2018). For a checkpoint "
    "from `skipclip finetune`: its classifier is tested as is, and its g is probed and used for "
    "retrieval. Prints a table and always writes OUT/report.json with its protocol card (--out; by "
    "default RUN/evaluation for a checkpoint in RUN/checkpoints/)."
)


def add_arguments(p):
    from skipclip.commands.finetune import add_data_arguments

    p.add_argument(
        "--ckpt",
        required=True,
        help="a Skip-Clip checkpoint, a fine-tuned best.ckpt, an export, a run folder, or 'random' (the "
        "random-initialisation baseline, with --config's model)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="folder for report.json (default: RUN/evaluation beside RUN/checkpoints/, evaluation-random "
        "for --ckpt random)",
    )
    p.add_argument("--force", action="store_true", help="replace a report.json already in --out, and the --json file")
    p.add_argument("--json", metavar="PATH", help="also write the report to this file")
    p.add_argument(
        "--protocols",
        default="finetune,linear_probe,retrieval,knn",
        help="comma-separated subset of finetune, linear_probe, retrieval, knn",
    )
    add_data_arguments(p)
    p.set_defaults(config=None)


def run(args) -> int:
    from skipclip.commands.finetune import OVERRIDES
    from skipclip.commands.prepare import LAYOUT_OVERRIDES
    from skipclip.config import load_config, parse_sets
    from skipclip.eval.report import results_table, write_report
    from skipclip.recipes.evaluate import (
        REPORT,
        check_evaluate_out,
        default_out,
        run_evaluate,
    )
    from skipclip.weights import resolve_weights

    ckpt = args.ckpt if args.ckpt == "random" else str(resolve_weights(args.ckpt))
    out = check_evaluate_out(args.out or default_out(ckpt), args.force)  # before any work
    check_json_out(args.json, args.force)  # before hours of evaluation, not after
    protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
    overrides = {key: getattr(args, flag, None) for flag, key in {**OVERRIDES, **LAYOUT_OVERRIDES}.items()}
    epochs = args.max_epochs if args.max_epochs is not None and args.max_steps is None else None
    sets = parse_sets(args.set)
    config = None if args.config is None else load_config(args.config, overrides, sets=sets)  # else the checkpoint's
    report = run_evaluate(
        config,
        ckpt,
        args.data,
        protocols=protocols,
        overrides=overrides,
        sets=sets,
        progress=not args.no_progress,
        seeds=args.seeds,
        epochs=epochs,
    )
    write_report(out / REPORT, report)  # first: the results are never lost to a failure below
    if args.json:
        write_report(args.json, report)
    from skipclip.data import per_class_table

    print("\n" + per_class_table(report["data"]["per_class"]))
    print("\n" + results_table(report["results"]))
    for r in report["results"]:
        if r["protocol"] == "retrieval":
            print("retrieval recall@k (%): " + ", ".join(f"R@{k} {100 * v:.1f}" for k, v in r["recall"].items()))
        if r["protocol"] == "knn":
            print(f"kNN (k={r['k']}, T={r['temperature']:g}) top-1 {100 * r['top1']:.1f} %")
    for r in report.get("per_seed", report["results"]):
        if r["protocol"] == "finetune" and r.get("best_step") is not None:
            print(
                f"finetune seed {r['seed']}: top-1 {100 * r['top1']:.1f} %, selected epoch {r['best_epoch']} / step "
                f"{r['best_step']} of {r['steps']} (budget {r['budget']})"
            )
    from skipclip.commands.next_step import data_flags, quote, say_next

    say_next(
        f"the report is {out / REPORT}" + (f" (and {args.json})" if args.json else ""),
        *(
            [
                f"skipclip features --ckpt {quote(ckpt)} --data {quote(args.data)}{data_flags(args)} "
                f"--out {quote(out / 'features.npz')}",
                f"skipclip export --ckpt {quote(ckpt)} --out {quote(out.parent / 'export')}",
            ]
            if ckpt != "random"
            else [f"skipclip evaluate --ckpt RUN/checkpoints/last.ckpt --data {quote(args.data)}{data_flags(args)}"]
        ),
    )
    return 0


def check_json_out(path: str | None, force: bool) -> None:
    """Refuse a ``--json`` path that exists (unless ``force``) or that is a folder.

    Raises:
        OutputExistsError: the file exists and ``force`` is not given, or the path is a folder.
    """
    from pathlib import Path

    from skipclip.errors import OutputExistsError
    from skipclip.utils.out_paths import check_out_file

    if path is None:
        return
    check_out_file(path, "--json")
    if Path(path).is_dir():
        raise OutputExistsError(f"--json {path} is a folder; give the path of a file to write")
    if Path(path).exists() and not force:
        raise OutputExistsError(f"--json {path} already exists; pass --force to replace it, or choose another path")
