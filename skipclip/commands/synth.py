"""`skipclip synth`: write the built-in synthetic videos as files in the UCF101 layout."""

HELP = "write the built-in synthetic videos as .avi files in the UCF101 layout"
DESCRIPTION = (
    "Write the built-in synthetic data set as video files laid out like UCF101: "
    "OUT/UCF-101/<Class>/v_<Class>_gNN_cMM.avi and OUT/ucfTrainTestlist/{classInd,trainlist01,testlist01}.txt, "
    "so the real-data path (`skipclip prepare`, `--data DIR`) can be exercised on it."
)


def add_arguments(p):
    p.add_argument("--out", required=True, help="folder to write into")
    p.add_argument("--classes", type=int, default=8, help="number of action classes (2..10)")
    p.add_argument("--videos-per-class", type=int, default=10, help="videos per class")
    p.add_argument("--frames", type=int, default=64, help="frames per video")
    p.add_argument("--size", type=int, default=128, help="frame height and width in pixels")
    p.add_argument("--seed", type=int, default=0, help="data seed")
    p.add_argument("--force", action="store_true", help="overwrite UCF-101/ and ucfTrainTestlist/ already in --out")


def run(args) -> int:
    from skipclip.data import SyntheticSource, write_synthetic_ucf101

    src = SyntheticSource(args.classes, args.videos_per_class, args.frames, args.size, args.seed)
    counts = write_synthetic_ucf101(src, args.out, force=args.force)
    print(
        f"wrote {counts['videos']} videos of {counts['classes']} classes to {args.out}/UCF-101 "
        f"({counts['train']} train / {counts['test']} test in {args.out}/ucfTrainTestlist)"
    )
    return 0
