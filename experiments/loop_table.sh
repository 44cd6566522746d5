#!/usr/bin/env bash
# The training loop against its steps, side by side: `skipclip bench train` before, between and
# after; default `cpu-real` runs of two checkouts interleaved; then the variants of the issue's
# table on the first. Each row: fit (wall_s), monitoring (monitor_s), loop (fit - monitoring), the
# 1-minute load average, held-out health. Run it alone on the machine.
#
#   bash experiments/loop_table.sh STORE NEW_CHECKOUT [OLD_CHECKOUT] [PAIRS]
set -euo pipefail
store=$1; new=$(cd "$2" && pwd); old=${3:+$(cd "$3" && pwd)}; pairs=${4:-2}
work=$(mktemp -d)
bench() {
    (cd "$new" && PYTHONPATH="$new" python -m skipclip bench train --config cpu-real) |
        awk -v l="$(cut -d' ' -f1 /proc/loadavg)" '/Skip-Clip step/ {print "bench", $3, "ms a step, load", l}'
}
row() {  # row NAME CHECKOUT [--set ...]
    local name=$1 src=$2; shift 2
    (cd "$src" && PYTHONPATH="$src" python -m skipclip pretrain --config cpu-real --data "$store" \
        --out "$work/$name" --seed 0 --no-progress "$@" >"$work/$name.log" 2>&1)
    python - "$work/$name" "$name" <<'PY'
import json, os, sys
s = json.load(open(os.path.join(sys.argv[1], "run.json")))["summary"]
held = [l.split()[1] for l in open(sys.argv[1] + ".log") if l.strip().startswith("held-out ")]
print(f"{sys.argv[2]:26s} fit {s['wall_s']:5.1f}  monitoring {s['monitor_s']:4.1f}  "
      f"loop {s['wall_s'] - s['monitor_s']:5.1f}  load {os.getloadavg()[0]:.1f}  health {held[0] if held else '?'}")
PY
}
date -u; bench
for i in $(seq "$pairs"); do
    if [ -n "$old" ] && [ $((i % 2)) = 0 ]; then row "old-$i" "$old"; fi
    row "new-$i" "$new"
    if [ -n "$old" ] && [ $((i % 2)) = 1 ]; then row "old-$i" "$old"; fi
    bench
done
row no-knn "$new" --set trainer.knn_every=0
row no-knn-val150 "$new" --set trainer.knn_every=0 optim.val_every_steps=150
row no-knn-val150-bf16 "$new" --set trainer.knn_every=0 optim.val_every_steps=150 trainer.precision=bf16-mixed
row bf16 "$new" --set trainer.precision=bf16-mixed
bench; date -u
rm -rf "$work"
