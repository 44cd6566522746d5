"""Cut the six KTH videos of ../shared/data/real-clips/kth into ~2 s clips laid out as UCF101, so
the real-footage measurements can run on short clips of three action classes.

    python experiments/kth_short_clips.py --kth ../shared/data/real-clips/kth --out /tmp/kth-2s

Each video gives consecutive 2 s segments. `--split time` (default): the first two thirds of a
video's segments are training clips, the rest test clips; train and test clips share people and
scenes, never frames. `--split video`: whole videos are held out, so no test clip shares a
recording with a training clip: boxing is trained on person01 and person03 and tested on person04,
handclapping trained on scenario d1 and tested on d2 (person01 both; KTH ships one jogging video
here, so jogging is left out and 2 classes remain). Groups of three consecutive segments keep
neighbours together when the validation split is drawn.

    python experiments/kth_short_clips.py --split video --out /tmp/kth-2s-video
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kth", default="../shared/data/real-clips/kth")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--split", choices=("time", "video"), default="time")
    args = ap.parse_args()

    from skipclip.data.video.pyav import decode
    from skipclip.data.video.writer import write_video

    out = Path(args.out)
    (out / "ucfTrainTestlist").mkdir(parents=True, exist_ok=True)
    videos = sorted(p for p in Path(args.kth).iterdir() if p.suffix in (".avi", ".mp4"))
    held_out = {"person04_boxing_d1_uncomp", "person01_handclapping_d2_uncomp"}  # --split video
    if args.split == "video":
        videos = [p for p in videos if "_jogging_" not in p.name]
    classes = sorted({p.name.split("_")[1].capitalize() for p in videos})
    train, test = [], []
    for v, path in enumerate(videos):
        cls = path.name.split("_")[1].capitalize()
        frames, info = decode(path)
        n = int(round(args.seconds * (info.fps or 25)))
        segments = len(frames) // n
        for s in range(segments):
            name = f"{cls}/v_{cls}_g{v * 10 + s // 3:02d}_c{s % 3 + 1:02d}.avi"
            (out / "UCF-101" / cls).mkdir(parents=True, exist_ok=True)
            write_video(out / "UCF-101" / name, frames[s * n : (s + 1) * n], fps=info.fps or 25)
            is_test = path.stem in held_out if args.split == "video" else s >= 2 * segments // 3
            (test if is_test else train).append((name, classes.index(cls) + 1))
        print(f"{path.name}: {segments} clips of {n} frames")
    lists = out / "ucfTrainTestlist"
    (lists / "classInd.txt").write_text("".join(f"{i + 1} {c}\n" for i, c in enumerate(classes)))
    (lists / "trainlist01.txt").write_text("".join(f"{n} {label}\n" for n, label in train))
    (lists / "testlist01.txt").write_text("".join(f"{n}\n" for n, _ in test))
    print(f"{len(train)} training and {len(test)} test clips of {len(classes)} classes in {out}")


if __name__ == "__main__":
    main()
