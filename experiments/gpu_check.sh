#!/usr/bin/env bash
# Skip-Clip pretraining speed on one CUDA GPU at the paper's shapes (issue 5): a 16x224x224 context
# clip and M=8 target frames (plus their rotated copies) per video, r3d18_hara g and ResNet-18 f at
# width 64, bf16 autocast, channels_last(_3d) weights and inputs, the batch copied from pinned memory
# with non_blocking. Prints MFU against the bf16 matmul rate measured in the same run.
# Goal on an H100/H200: MFU >= 0.40.
#
#   1. eager, at the largest batch that fits: tries 256, 192, 128, 96, 64, 32 videos (an
#      out-of-memory exits with status 3 and the next size is tried);
#   2. the same batch with --compile (both encoders through torch.compile), if time is left;
#   3. experiments/paper_memory.py on the GPU: memory per sample (fp32, bf16), the largest batch per
#      24/40/80 GB card, GPUs for the global batch of 128, FLOPs per sample and the 600-epoch
#      projection, as the README's table measured on CPU (under a minute).
#
# Needs torch, torchvision, lightning and PyYAML; no PyAV (nothing on this path decodes video) and
# no network. Runs from a source checkout, no install needed. Under 8 minutes in all.
# Usage: bash experiments/gpu_check.sh [OUT_DIR]   -> OUT_DIR/gpu_eager.json, gpu_compiled.json, paper_memory.json

set -u
cd "$(dirname "$0")/.."
OUT="${1:-${OUT:-/tmp/skipclip-gpu-check}}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTORCH_CUDA_ALLOC_CONF="${PYTORCH_CUDA_ALLOC_CONF:-expandable_segments:True}"
DEADLINE=$((SECONDS + 450))  # 7.5 minutes for the runs, the rest for start-up and the summary

nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader 2>/dev/null || true
"$PY" - <<'EOF' || exit 1
import sys
import torch
import skipclip.bench.train, skipclip.method.model  # the benchmark's whole import path
assert "av" not in sys.modules, "the benchmark path imports PyAV"
assert torch.cuda.is_available(), "torch sees no CUDA device"
print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}")
EOF

bench() {  # bench TIMEOUT_S BATCH JSON [extra flags...]
  local limit=$1 batch=$2 json=$3
  shift 3
  timeout --signal=INT "$limit" "$PY" -m skipclip.bench.train --config paper --accelerator cuda \
    --batch-size "$batch" --repeats 5 --warmup 2 --json "$json" "$@"
}

rm -f "$OUT/gpu_eager.json" "$OUT/gpu_compiled.json" "$OUT/paper_memory.json"
echo "== memory per sample at the paper's shapes"
timeout 120 "$PY" experiments/paper_memory.py --device cuda --json "$OUT/paper_memory.json" \
  || echo "paper_memory.py did not finish (exit $?)"
batch=""
for b in 256 192 128 96 64 32; do
  left=$((DEADLINE - SECONDS))
  [ "$left" -ge 60 ] || break
  echo "== eager, batch $b"
  bench $((left < 200 ? left : 200)) "$b" "$OUT/gpu_eager.json"
  rc=$?
  if [ "$rc" -eq 0 ]; then batch=$b; break; fi
  if [ "$rc" -ne 3 ]; then echo "benchmark failed (exit $rc) at batch $b"; exit "$rc"; fi
done
if [ -z "$batch" ]; then echo "no batch size ran to the end"; exit 1; fi

left=$((DEADLINE - SECONDS))
if [ "$left" -ge 120 ]; then
  echo "== compiled, batch $batch"
  bench "$left" "$batch" "$OUT/gpu_compiled.json" --compile \
    || echo "the compiled run did not finish (exit $?); the eager result stands"
else
  echo "== compiled run skipped: ${left}s left"
fi

"$PY" - "$OUT" <<'EOF'
import json, pathlib, sys
for name in ("gpu_eager.json", "gpu_compiled.json"):
    path = pathlib.Path(sys.argv[1]) / name
    if path.exists():
        r = json.loads(path.read_text())
        print(f"{name}: {r['device']}, batch {r['batch_size']}: MFU {r['mfu']:.3f} (goal >= 0.40) against "
              f"bf16 matmul {r['matmul_gflops'] / 1e3:.0f} TFLOP/s; bare encoders {r['bare_encoders_mfu']:.3f}; "
              f"overhead {r['overhead_ratio']:.3f}; {r['peak_mem_mb_per_sample']:.0f} MB/video")
EOF
