"""`skipclip evaluate`: every downstream protocol for one checkpoint, in one report."""

HELP = "evaluate a checkpoint: fine-tuning, linear probe and retrieval in one report"
DESCRIPTION = (
    "Evaluate the context encoder g of a checkpoint on a labelled data set. For a Skip-Clip "
    "pretraining checkpoint: fine-tune a copy (finetune section of the config, --max-epochs), a "
    "linear probe on frozen video features, and nearest-neighbour retrieval (cosine; test videos "
    "query training videos; recall at 1/5/10/20/50). For a checkpoint from `skipclip finetune`: its "
    "classifier is tested as is, and its g is probed and used for retrieval. Prints a table; --json "
    "writes the report with its protocol card."
)


def add_arguments(p):
    from .finetune import add_data_arguments

    p.add_argument("--ckpt", required=True, help="a Skip-Clip checkpoint or a fine-tuned best.ckpt")
    p.add_argument("--json", metavar="PATH", help="write the report here (atomically)")
    p.add_argument("--protocols", default="finetune,linear,retrieval",
                   help="comma-separated subset of finetune, linear, retrieval")
    add_data_arguments(p)
    p.set_defaults(config=None)


def run(args) -> int:
    from ..config import apply_overrides, config_from_dict, validate
    from ..downstream import (build_classifier, checkpoint_config, checkpoint_kind, downstream_sources, evaluate,
                              load_checked, load_encoder, read_checkpoint, _state_dict)
    from ..eval.report import results_table, write_report
    from .finetune import OVERRIDES, config_from_args

    protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
    obj = read_checkpoint(args.ckpt)
    kind = checkpoint_kind(obj)
    if kind not in ("skipclip", "classifier"):
        hint = "; evaluate inflated 2D weights with `skipclip finetune --inflate FILE`" if kind == "resnet2d" else ""
        raise ValueError(f"{args.ckpt} is neither a Skip-Clip checkpoint nor a fine-tuned classifier{hint}")
    if args.config:
        cfg = config_from_args(args)
    else:  # the checkpoint's own settings, then the command line's
        raw = checkpoint_config(obj)
        cfg = config_from_dict(raw, f"{args.ckpt} config") if raw else config_from_args(
            type(args)(**{**vars(args), "config": "cpu"}))
        apply_overrides(cfg, {key: getattr(args, flag, None) for flag, key in OVERRIDES.items()})
        validate(cfg)
    encoder, info = load_encoder(cfg, args.ckpt, seed=cfg.trainer.seed)
    validate(apply_overrides(cfg, {"model.context_arch": info["arch"], "model.width": info["width"]}))
    train_src, val_src, test_src = downstream_sources(args.data, cfg)
    classifier = None
    if kind == "classifier":
        state = _state_dict(obj)
        n_ckpt = int(state["head.fc.weight"].shape[0])
        if n_ckpt != len(train_src.classes):
            raise ValueError(f"{args.ckpt} classifies {n_ckpt} classes but --data {args.data} has "
                             f"{len(train_src.classes)}; evaluate it on the data set it was fine-tuned on")
        classifier = build_classifier(cfg, encoder, n_ckpt)
        load_checked(classifier, state, str(args.ckpt))
        encoder = classifier.encoder
    report = evaluate(cfg, encoder, train_src, val_src, test_src, init=info["init"], protocols=protocols,
                      classifier=classifier, seed=cfg.trainer.seed, progress=not args.no_progress)
    report.update(checkpoint=str(args.ckpt), config=cfg.to_dict())
    print("\n" + results_table(report["results"]))
    for r in report["results"]:
        if r["protocol"] == "retrieval":
            print("retrieval recall@k (%): " + ", ".join(f"R@{k} {100 * v:.1f}" for k, v in r["recall"].items()))
    if args.json:
        write_report(args.json, report)
        print(f"wrote {args.json}")
    return 0
