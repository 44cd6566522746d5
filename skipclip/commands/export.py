"""`skipclip export`: the encoders of a run as safetensors weight files plus a JSON card."""

HELP = "write the context encoder (and frame encoder) as safetensors + a JSON card, for use elsewhere"
DESCRIPTION = (
    "Write the context encoder g of a Skip-Clip checkpoint (or of a fine-tuned best.ckpt) to "
    "OUT/context_encoder.safetensors, and with --frame-encoder the frame encoder f to "
    "OUT/frame_encoder.safetensors, with OUT/card.json: architecture, width, expected input (frames, "
    "size, channel order, mean/std), pretext settings, epochs and steps, the skipclip version, the run's "
    "configuration and how to load the weights. Tensor names are torchvision's (r3d_18 / r2plus1d_18 / "
    "resnet18 without fc). Load one back with skipclip.load_encoder(path); finetune --ckpt and --inflate accept them."
)


def add_arguments(p):
    p.add_argument("--ckpt", required=True, help="RUN/checkpoints/last.ckpt (pretraining) or a fine-tuned best.ckpt")
    p.add_argument("--out", required=True, help="folder for the .safetensors files and card.json")
    p.add_argument("--frame-encoder", action="store_true", help="also export the frame encoder f")
    p.add_argument("--force", action="store_true", help="overwrite an export already in --out")


def run(args) -> int:
    from skipclip.weights.export import export_encoders

    card = export_encoders(args.ckpt, args.out, frame=args.frame_encoder, force=args.force)
    g = card["context_encoder"]
    print(
        f"wrote {args.out}/{g['file']} ({g['arch']}, width {g['width']})"
        + (f" and {card['frame_encoder']['file']}" if "frame_encoder" in card else "")
        + " and card.json"
    )
    print(f"without skipclip: {g['how_to_load']}")
    from skipclip.commands.next_step import say_next

    say_next(
        f"the export is in {args.out}",
        'python -c "import skipclip; g = skipclip.load_encoder('
        f"'{args.out}'); print(skipclip.features(g, 'VIDEO.mp4').shape)\"  # VIDEO.mp4: one of your videos",
    )
    return 0
