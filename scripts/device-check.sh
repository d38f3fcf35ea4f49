#!/usr/bin/env bash
# The one prepared run on a lent GPU machine (its python3 holds torch; what the package needs beyond it travels as
# wheels in .whl/, pure Python): the CUDA tests, `bench --device cuda`, then full-scale experiments side by side, on
# the GPU and on the machine's spare cores, until DEADLINE seconds after the start. Everything lands in one archive,
# $OUT/device.tar.gz (the machine gives back a few files only); an experiment cut off by the deadline leaves its
# finished runs but no summary, and is not committed.
#   GPU_EXPERIMENTS / CPU_EXPERIMENTS: "name:jobs ..." run concurrently on the GPU, one after another on the CPU.
set -u
START=$(date +%s)
DEADLINE=${DEADLINE:-540}
DEVICE=${DEVICE:-cuda}
PY=${PY:-python3}
GPU_EXPERIMENTS=${GPU_EXPERIMENTS:-"parity-minimal:7 counting-attention:6"}
CPU_EXPERIMENTS=${CPU_EXPERIMENTS:-"symmetry-learning-curves:3 selection-length:3 selection-dynamics:3 symmetry-kernel:3 parity-ffnn:3 symmetry-bias:3 parity-online:3 parity-construction:3"}
W=${OUT:?}/device
mkdir -p "$W/full"
elapsed() { echo $(($(date +%s) - START)); }
log() { echo "$(elapsed)s $*" | tee -a "$W/times.txt"; }

if [ "$PY" = python3 ] && compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD PYTHONUNBUFFERED=1
# The carried transformers needs a matching tokenizers; where the machine's own is too old, fall back to its own.
if ! "$PY" -c "import transformer_lens.model_bridge, interp.models" 2>"$W/import.log"; then
  rm -rf /tmp/site/transformers* /tmp/site/huggingface_hub* /tmp/site/httpx2* /tmp/site/httpcore2*
  "$PY" -c "import transformer_lens.model_bridge, interp.models" 2>>"$W/import.log" || { log "imports fail"; }
fi
{ nvidia-smi; lscpu | head -20; "$PY" -c "import torch, transformers, transformer_lens; print(torch.__version__, transformers.__version__)"; } \
  >"$W/machine.txt" 2>&1
log "setup done"

"$PY" -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/test_experiments.py -k "cuda" >"$W/cuda-tests.log" 2>&1
log "cuda tests rc=$? $(tail -1 "$W/cuda-tests.log")"
if [ "$DEVICE" = cuda ]; then
  "$PY" -m interp.bench --device cuda --out "$W/bench-cuda.json" >"$W/bench.log" 2>&1
  log "bench rc=$?"
fi

run() {  # name jobs device
  local left=$((DEADLINE - $(elapsed)))
  [ "$left" -gt 10 ] || { log "$1 not started"; return; }
  timeout "$left" "$PY" -m interp experiment run "$1" --jobs "$2" --device "$3" --out "$W/full/$1" --quiet \
    >"$W/$1.log" 2>&1
  log "$1 ($3, --jobs $2) rc=$?"
}
for spec in $GPU_EXPERIMENTS; do run "${spec%%:*}" "${spec##*:}" "$DEVICE" & done
(for spec in $CPU_EXPERIMENTS; do run "${spec%%:*}" "${spec##*:}" cpu; done) &
wait
log "done"
tar czf "$OUT/device.tar.gz" -C "$OUT" device && rm -rf "$W"
