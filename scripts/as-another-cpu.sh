#!/usr/bin/env bash
# `make train analyze`, then the tests about trained models, as on a machine with another CPU.
#
# Training floats differ across CPU kinds (each picks its own vector kernels), so a user's `make train` gives
# other weights than the shipped ones. Here torch is made to pick other kernels than this CPU's best
# (ATen's CPU capability one step down, MKL in its compatible mode), the shipped models are retrained into
# a scratch root ($INTERP_ROOT) and analysed, set beside the shipped ones (scripts/compare-retrained.py, which
# holds them to the README's cross-machine tolerance), and every test marked `trained` runs on them. The
# script fails if the retrain gave the shipped bytes, since then it simulated nothing. KEEP_SCRATCH=1 keeps
# the scratch root for a look afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

scratch=$(mktemp -d)
trap '[ -n "${KEEP_SCRATCH:-}" ] || rm -rf "$scratch"' EXIT
capability=$("$BIN/python" -c "import torch; print(torch.backends.cpu.get_cpu_capability())")
case "$capability" in
    AVX512*) other=avx2 ;;
    DEFAULT) other="" ;;  # no vector kernels to step down from: only MKL's mode changes
    *) other=default ;;
esac
export INTERP_ROOT="$scratch" MKL_CBWR=COMPATIBLE TQDM_MININTERVAL=10  # a progress line each 10 s in logs
if [ -n "$other" ]; then export ATEN_CPU_CAPABILITY="$other"; fi
echo "as another CPU: torch's kernels at ATEN_CPU_CAPABILITY=${other:-unchanged} (this CPU: $capability), MKL_CBWR=$MKL_CBWR"
echo "as another CPU: make train analyze into $scratch"
make --no-print-directory train analyze

# `make train` retrains the RUNS; a model shipped by its own target (the counting paper model) has no twin here.
differ=0 retrained=0
for weights in trained_models/*/*/model.safetensors; do
    [ -f "$scratch/$weights" ] || continue
    retrained=$((retrained + 1))
    cmp -s "$weights" "$scratch/$weights" || differ=$((differ + 1))
done
echo "as another CPU: $differ of $retrained retrained models differ from the shipped bytes"
if [ "$differ" = 0 ]; then
    echo "as another CPU: every retrain gave the shipped bytes, so the other kernels changed nothing here" >&2
    exit 1
fi
"$BIN/python" scripts/compare-retrained.py "$scratch"
# A model shipped by its own target (the counting paper model, `make train-paper`) is not retrained here: the tests
# about trained models see it as shipped.
for config in trained_models/*/*/config.json; do
    run=$(dirname "$config")
    if [ ! -e "$scratch/$run" ]; then
        mkdir -p "$scratch/$(dirname "$run")" && cp -r "$run" "$scratch/$run"
    fi
done
"$BIN/python" -m pytest -m trained
