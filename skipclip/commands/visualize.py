"""`skipclip visualize`: Figure 3, per-cell context-target similarity as heat maps."""

from skipclip.errors import OutputExistsError

HELP = "draw the context clip and target frames with per-cell similarity heat maps (Figure 3)"
DESCRIPTION = (
    "For one pretext sample of a video (by default the window where the frames change most; --start "
    "chooses another), draw the context clip and its target "
    "frames, each overlaid with the cosine similarity between the context map g(c) and the target "
    "map f(x) at every aligned cell, titled with the target's score (the mean over cells, Eq. 3), "
    "to a PNG. --video takes a video file or synthetic:N (test video N of the built-in set)."
)


def add_arguments(p):
    p.add_argument(
        "--ckpt",
        required=True,
        help="what skipclip.load_encoder takes, with both encoders: a pretraining RUN/checkpoints/last.ckpt, "
        "a run folder, or an export made with --frame-encoder (its folder or context_encoder.safetensors)",
    )
    p.add_argument("--video", required=True, help="a video file, or synthetic:N")
    p.add_argument("--out", required=True, help="PNG to write")
    p.add_argument("--force", action="store_true", help="overwrite an existing PNG at --out")
    p.add_argument(
        "--start",
        type=int,
        help="first context frame (default: the window, of 16 evenly spaced candidates, "
        "with the largest mean absolute change between consecutive frames)",
    )


def run(args) -> int:
    from pathlib import Path

    from skipclip.viz.similarity import draw_similarity

    if Path(args.out).exists() and not args.force:
        raise OutputExistsError(
            f"--out {args.out} already exists; pass --force to overwrite it, or choose another path"
        )
    info = draw_similarity(args.ckpt, args.video, args.out, start=args.start)
    scores = ", ".join(f"{s:.3f}" for s in info["scores"])
    print(
        f"{info['video']}: window at frame {info['start']} ({info['chosen_by']}), context frames "
        f"{info['context_frames'][0]}..{info['context_frames'][-1]}, targets at {info['target_frames']}"
    )
    print(f"scores (nearest first): {scores}")
    print(f"wrote {info['png']}")
    return 0
