#!/usr/bin/env bash
# The checks that need a GPU, in one go, each step's output in its own log under $OUT (default
# gpu-check/): build and install from this checkout, the whole test suite (the cuda variants run
# on the GPU), compute-sanitizer memcheck over the CUDA tests with the caching allocator off,
# the main job on cuda and on cpu, and the GPU training benchmark against PyTorch.
#
#   scripts/gpu_check.sh            on a machine with an NVIDIA GPU, nvcc and PyTorch with CUDA
#
# No network is needed: the build uses the installed scikit-build-core and pybind11
# (--no-build-isolation). A failing step is recorded in $OUT/summary.txt and the rest still run.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-check}
mkdir -p "$OUT"
summary="$OUT/summary.txt"
: > "$summary"

step() {  # step NAME COMMAND...: runs COMMAND, logs it to $OUT/NAME.log, notes its exit status
  local name=$1
  shift
  local start=$SECONDS
  "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  echo "$name: exit $rc ($((SECONDS - start)) s)" | tee -a "$summary"
}

step build python -m pip install --no-build-isolation --no-deps -v .
step info python -c "import tapegrad; tapegrad.show_config()"
step tests python -m pytest -q -p no:cacheprovider
step memcheck env TAPEGRAD_CUDA_NO_CACHE=1 compute-sanitizer --tool memcheck --error-exitcode 1 \
  python -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/test_ops.py -k "cuda and not standin"
step train-cuda python -m tapegrad train --device cuda --no-progress --out "$OUT/run-cuda"
step train-cpu python -m tapegrad train --device cpu --no-progress --out "$OUT/run-cpu"
step bench-mlp python benchmarks/bench_mlp.py --device cuda
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
cat "$summary"
