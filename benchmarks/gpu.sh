#!/usr/bin/env bash
# One prepared run on a lent GPU machine (H100): the cuda tests, the three benchmarks at GPU
# sizes, the device's copy bandwidth and the roofline fraction of our elementwise step.
# Everything goes under $OUT (default: benchmarks/results/gpu). Finishes in < 12 minutes: each
# part has its own time limit, and a part that fails or times out does not stop the others.
# Run from the repository root:  PYTHONPATH=. bash benchmarks/gpu.sh
# Peers (k-diffusion, torchsde) are used when importable; put their pure-Python packages in a
# folder named by PEERS_PATH to add them. Without them the peer parts are skipped, and say so.
# DEVICE=cpu QUICK=1 checks the wiring on a machine without a GPU (tiny sizes).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
OUT=${OUT:-benchmarks/results/gpu}
mkdir -p "$OUT"
export PYTHONPATH=".${PEERS_PATH:+:$PEERS_PATH}${PYTHONPATH:+:$PYTHONPATH}"
DEVICE=${DEVICE:-cuda}
if [ "${QUICK:-0}" = 1 ]; then
  OVERHEAD_ARGS="--quick --roofline"; THROUGHPUT_ARGS="--quick"; QUALITY_ARGS="--quick"
else
  # k-diffusion's default noise for the DPM++ SDE samplers is a torchsde Brownian tree kept on
  # the CPU (~0.4 s per call at 4096 x 64 here), hence few NFE and rounds.
  OVERHEAD_ARGS="--nfe 13 --repeats 3 --roofline --roofline-batch 16384 --roofline-dim 1024"
  THROUGHPUT_ARGS="--paths 65536 --repeats 3"
  QUALITY_ARGS="--n 20000 --n-high-dim 10000"
fi
LOG="$OUT/gpu_run.log"
: > "$LOG"
START=$(date +%s)

part() {  # part NAME SECONDS COMMAND...
  local name=$1 limit=$2; shift 2
  echo "=== $name (limit ${limit}s) ===" | tee -a "$LOG"
  local t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" >>"$LOG" 2>&1
  local rc=$?
  echo "=== $name: exit $rc after $(( $(date +%s) - t0 ))s ===" | tee -a "$LOG"
  echo "$name $rc" >> "$OUT/exit_codes.txt"
}
: > "$OUT/exit_codes.txt"

"$PY" - <<'PYEOF' 2>&1 | tee "$OUT/device.txt"
import torch, importlib.util
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print("device", p.name, "memory GiB", round(p.total_memory / 2**30, 1), "SMs", p.multi_processor_count)
for m in ("k_diffusion", "torchsde", "torchdiffeq"):
    print(m, "present" if importlib.util.find_spec(m) else "ABSENT (peer parts skipped)")
PYEOF

# pytest exits 5 when no test carries the mark; that is not a failure here.
part "pytest -m cuda" 60 bash -c "'$PY' -m pytest -q -m cuda -p no:cacheprovider; rc=\$?; [ \$rc -eq 5 ] && rc=0; exit \$rc"
part "overhead (d=64, batch 4096) + roofline (2^24 elements)" 110 \
  "$PY" -m benchmarks.overhead --device "$DEVICE" $OVERHEAD_ARGS --out "$OUT"
part "throughput (65536 paths)" 80 \
  "$PY" -m benchmarks.throughput --device "$DEVICE" $THROUGHPUT_ARGS --out "$OUT"
part "quality (n=20000 / 10000 in 16-D)" 200 \
  "$PY" -m benchmarks.quality --device "$DEVICE" $QUALITY_ARGS --out "$OUT"

if [ "${QUICK:-0}" = 1 ]; then
  WEAK_ARGS="--quick --paths 256 --path-block 64 --problems gmm --schedules edm"
  SCALING_ARGS="--paths 256 --steps 4,8,16"
else
  # The sharded weak Monte Carlo study at GPU size: one worker (one GPU, Dask resource GPU=1),
  # 65536 paths in blocks of 8192 on the 16-D mixture; records in $OUT/weak_mixture_gpu.json.
  WEAK_ARGS="--paths 65536 --path-block 8192 --problems gmm16 --schedules edm"
  SCALING_ARGS="--paths 16384 --workers 1"
fi
part "sharded weak mixture study (Dask, one worker per GPU)" 150 \
  "$PY" -m benchmarks.weak_mixture --device "$DEVICE" --workers 1 --no-progress $WEAK_ARGS \
  --out "$OUT/weak_mixture_gpu.json"
part "cluster scaling of the weak study" 60 \
  "$PY" -m benchmarks.cluster_scaling --device "$DEVICE" $SCALING_ARGS --out "$OUT/cluster_scaling_cuda.json"

echo "total $(( $(date +%s) - START ))s; outputs:" | tee -a "$LOG"
ls -l "$OUT" | tee -a "$LOG"
