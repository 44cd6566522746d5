"""`skipclip features`: the context encoder's features of every video of a data set, to a file."""

HELP = "write the context encoder's features of every video (and window) with labels, names and split to a file"
DESCRIPTION = (
    "Load the context encoder g of --ckpt (a pretraining last.ckpt, a fine-tuned best.ckpt, an exported "
    ".safetensors, an export folder or a run folder) and write one feature vector per video of --data "
    "(every split: train, val, test) to --out: the mean over the video's non-overlapping windows of g's "
    "globally pooled output, each window centre-cropped, as the linear probe, retrieval and kNN see them. "
    "With --per-window, every window's vector too. The file holds features (V, C), labels, names, split, "
    "classes and meta (the encoder and its preprocessing); .npz for NumPy (np.load(path)), .safetensors "
    "(strings in its metadata) when the suffix says so. skipclip.features(encoder, clip) in Python gives "
    "the same vector for one video."
)


def add_arguments(p):
    from skipclip.commands.flags import add_set_argument
    from skipclip.commands.prepare import add_layout_arguments

    p.add_argument(
        "--ckpt",
        required=True,
        help="RUN/checkpoints/last.ckpt, a fine-tuned best.ckpt, an exported context_encoder.safetensors, "
        "an export folder or a run folder",
    )
    p.add_argument(
        "--data",
        required=True,
        help="'synthetic', a prepared store or a video folder (any layout of docs/data-layouts.md)",
    )
    p.add_argument("--out", required=True, metavar="FILE", help="features file: FILE.npz or FILE.safetensors")
    p.add_argument("--per-window", action="store_true", help="also write every window's feature vector")
    p.add_argument(
        "--num-workers",
        type=_workers,
        metavar="N",
        help="processes decoding videos, one video each at a time (default: the cores; 0: none besides "
        "this one); a raw video folder is decoded once, front to back, per video",
    )
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress (on stderr: a bar on a terminal, a line every 30 s in a file)",
    )
    add_layout_arguments(p, with_defaults=False)
    add_set_argument(p)


def _workers(text: str) -> int:
    import argparse

    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def run(args) -> int:
    from skipclip.commands.next_step import data_flags, quote, say_next
    from skipclip.commands.prepare import LAYOUT_OVERRIDES
    from skipclip.config import parse_sets
    from skipclip.recipes.features import run_features

    overrides = {key: getattr(args, flag, None) for flag, key in LAYOUT_OVERRIDES.items()}
    fs = run_features(
        args.ckpt,
        args.data,
        args.out,
        per_window=args.per_window,
        force=args.force,
        progress=not args.no_progress,
        overrides=overrides,
        sets=parse_sets(args.set),
        num_workers=args.num_workers,
    )
    counts = {s: fs.split.count(s) for s in dict.fromkeys(fs.split)}
    print(
        f"{len(fs.names)} videos x {fs.features.shape[1]} features ("
        + ", ".join(f"{s} {n}" for s, n in counts.items())
        + f"); {fs.meta['preprocess']['describe']}"
    )
    if fs.window_features is not None:
        print(f"{len(fs.window_features)} windows (--per-window)")
    if fs.failed:
        print(f"left out {len(fs.failed)} unreadable videos, e.g. " + "; ".join(list(fs.failed)[:3]))
    load = (
        f"python -c \"import numpy as np; f = np.load('{args.out}'); print(f['features'].shape, f['names'][:3])\""
        if str(args.out).endswith(".npz")
        else f"python -c \"from safetensors.torch import load_file; print(load_file('{args.out}')['features'].shape)\""
    )
    say_next(
        f"wrote {args.out}",
        load,
        f"skipclip evaluate --ckpt {quote(args.ckpt)} --data {quote(args.data)}{data_flags(args)}",
    )
    return 0
