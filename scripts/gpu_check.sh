#!/usr/bin/env bash
# The checks that need a GPU, each step's output in its own log under $OUT (default gpu-check/),
# its exit status in $OUT/summary.txt. Name the steps to run (default: all, in this order), so
# that a check can be split over several short runs:
#
#   build      build and install from this checkout (pip), then `tapegrad.show_config()`
#   tests      the whole test suite (the cuda variants run on the GPU)
#   memcheck   compute-sanitizer memcheck over the CUDA tests, caching allocator off
#   racecheck  compute-sanitizer racecheck over the cuda variants of the reduce, softmax and
#              GEMM tests (shared-memory races)
#   graphs     graph mode on the GPU: the compile tests with CUDA graphs, again without them
#              (TAPEGRAD_CUDA_GRAPHS=0), and under compute-sanitizer memcheck
#   train      the main job on cuda and on cpu
#   bench      the GPU training benchmark against PyTorch
#   wheel      a wheel for other machines (TAPEGRAD_CUDA=ON, the default architecture list),
#              installed into a fresh environment and run on the GPU from there, with the
#              libraries it loads listed (cuBLASLt found at run time, nothing CUDA linked)
#
#   scripts/gpu_check.sh [--dry-run] [STEP...]   on a machine with an NVIDIA GPU, nvcc and
#                                                PyTorch with CUDA; --dry-run lists what would run
#
# No network is needed: the build uses the installed scikit-build-core and pybind11
# (--no-build-isolation). A failing step is recorded and the rest still run. A machine that
# refuses compute-sanitizer (not installed, or "not supported" / no permission before any test
# ran) is recorded as "sanitizer unavailable", which is not a failure.
set -uo pipefail
cd "$(dirname "$0")/.."

ALL_STEPS=(build tests memcheck racecheck graphs train bench wheel)
usage() {
  echo "usage: scripts/gpu_check.sh [--dry-run] [STEP...]; steps: ${ALL_STEPS[*]} (none: all)"
}

dry_run=0
steps=()
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry_run=1 ;;
    -h|--help) usage; exit 0 ;;
    build|tests|memcheck|racecheck|graphs|train|bench|wheel) steps+=("$arg") ;;
    *) echo "gpu_check.sh: unknown step '$arg'" >&2; usage >&2; exit 2 ;;
  esac
done
[ ${#steps[@]} -eq 0 ] && steps=("${ALL_STEPS[@]}")

OUT=${OUT:-gpu-check}
summary="$OUT/summary.txt"
if [ "$dry_run" = 0 ]; then
  mkdir -p "$OUT"
  : > "$summary"
fi

run() {  # run NAME COMMAND...: runs COMMAND, logs it to $OUT/NAME.log, notes its exit status
  local name=$1
  shift
  if [ "$dry_run" = 1 ]; then
    echo "$name: $*"
    return 0
  fi
  local start=$SECONDS
  "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  echo "$name: exit $rc ($((SECONDS - start)) s)" | tee -a "$summary"
}

sanitize() {  # sanitize NAME COMMAND...: as run, but a machine that refuses the sanitizer is
  local name=$1  # noted as "sanitizer unavailable", not as a failure
  shift
  if [ "$dry_run" = 1 ]; then
    echo "$name: $*"
    return 0
  fi
  if ! command -v compute-sanitizer > /dev/null; then
    echo "$name: sanitizer unavailable (compute-sanitizer not found)" | tee -a "$summary"
    return 0
  fi
  local start=$SECONDS log="$OUT/$name.log"
  "$@" > "$log" 2>&1
  local rc=$?
  # Refused before any test ran: no pytest summary line, and the sanitizer's own complaint.
  if [ $rc != 0 ] && ! grep -Eq '[0-9]+ (passed|failed|error)' "$log" \
      && grep -Eiq 'not supported|permission|ERR_NVGPUCTRPERM|insufficient privileges|unable to' "$log"; then
    echo "$name: sanitizer unavailable (exit $rc, see $name.log)" | tee -a "$summary"
  else
    echo "$name: exit $rc ($((SECONDS - start)) s)" | tee -a "$summary"
  fi
}

wheel_run() (  # wheel_run WHEELHOUSE VENV: the wheel in a fresh environment, a GEMM on the GPU
  set -e  # (a subshell: neither this nor the cd reaches the other steps)
  python -m venv --system-site-packages "$2"
  . "$2/bin/activate"
  python -m pip install --no-deps --force-reinstall "$1"/tapegrad-*.whl
  cd /tmp
  python -c 'import tapegrad as tg; tg.show_config(); x = tg.randn(512, 512, device="cuda"); print("gemm", (x @ x).sum().item())'
  readelf -d "$(python -c 'import tapegrad._C as c; print(c.__file__)')" | grep NEEDED
)

RACE_TESTS="cuda and not standin and (sum or mean or prod or amax or amin or max or min or argm \
or var or std or norm or logsumexp or softmax or cross_entropy or matmul or linear or gemm)"

for s in "${steps[@]}"; do
  case "$s" in
    build)
      run build python -m pip install --no-build-isolation --no-deps -v .
      run info python -c "import tapegrad; tapegrad.show_config()" ;;
    tests)
      run tests python -m pytest -q -p no:cacheprovider ;;
    memcheck)
      sanitize memcheck env TAPEGRAD_CUDA_NO_CACHE=1 compute-sanitizer --tool memcheck --error-exitcode 1 \
        python -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/test_ops.py -k "cuda and not standin" ;;
    racecheck)
      sanitize racecheck compute-sanitizer --tool racecheck --error-exitcode 1 \
        python -m pytest -q -p no:cacheprovider tests/test_ops.py tests/test_gemm_edges.py \
        tests/test_kernels_reduce.py tests/test_kernels_softmax.py tests/test_kernels_matmul.py -k "$RACE_TESTS" ;;
    graphs)
      run graphs python -m pytest -q -p no:cacheprovider tests/test_compile.py -k "cuda and not standin"
      run graphs-off env TAPEGRAD_CUDA_GRAPHS=0 python -m pytest -q -p no:cacheprovider \
        tests/test_compile.py -k "cuda and not standin"
      sanitize graphs-memcheck env TAPEGRAD_CUDA_NO_CACHE=1 compute-sanitizer --tool memcheck \
        --error-exitcode 1 python -m pytest -q -p no:cacheprovider tests/test_compile.py \
        -k "cuda and not standin" ;;
    train)
      run train-cuda python -m tapegrad train --device cuda --no-progress --out "$OUT/run-cuda"
      run train-cpu python -m tapegrad train --device cpu --no-progress --out "$OUT/run-cpu" ;;
    bench)
      run bench-mlp python benchmarks/bench_mlp.py --device cuda ;;
    wheel)
      run wheel-build env TAPEGRAD_CUDA=ON python -m pip wheel --no-build-isolation --no-deps \
        -w "$OUT/wheelhouse" .
      run wheel-run wheel_run "$OUT/wheelhouse" "$OUT/wheel-venv" ;;
  esac
done
if [ "$dry_run" = 0 ]; then
  nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
  cat "$summary"
fi
