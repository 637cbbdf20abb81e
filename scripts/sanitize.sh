#!/usr/bin/env bash
# Builds tapegrad._C with AddressSanitizer + UndefinedBehaviorSanitizer (the CMake option
# TAPEGRAD_SANITIZE: -fsanitize=address,undefined -fno-sanitize-recover=all, -O1 -g) into its own
# virtual environment, .venv-sanitize, and runs the tests against it. Any report fails the run.
#
#   scripts/sanitize.sh                  the whole suite (about 5 minutes on 2 cores, after a
#                                        6-minute build)
#   scripts/sanitize.sh tests/test_x.py  pytest arguments instead
#
# Assumes GCC (the compiler CMake picks by default on Linux), whose runtimes are libasan and
# libubsan.
set -euo pipefail
cd "$(dirname "$0")/.."

rm -rf .venv-sanitize
python3 -m venv .venv-sanitize
. .venv-sanitize/bin/activate
python -m pip install --quiet --upgrade pip
# Its own build folder, so that a normal build's CMake cache never picks up the option.
python -m pip install --quiet -C cmake.define.TAPEGRAD_SANITIZE=ON \
  -C "build-dir=build/sanitize-{wheel_tag}" ".[test]"
# No torch here: the parity tests skip; they check numbers, which the normal run covers.

# Reports go to files: a report ends the process, and pytest's capture of the dying process's
# stderr would be lost with it. Test subprocesses inherit all of this and report there too.
logs=$(mktemp -d)
# detect_leaks=0: CPython does not free everything at exit (interned strings, static types,
# module state), by design, and LeakSanitizer would report all of it.
# allocator_may_return_null=1: tests that ask for impossible sizes expect MemoryError, as they
# get without ASan, not an ASan abort.
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:allocator_may_return_null=1:log_path=$logs/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$logs/ubsan"
# Python objects through malloc as well, so that ASan sees them too.
export PYTHONMALLOC=malloc
# Python, numpy and the rest are not instrumented, so the ASan runtime must be loaded before
# anything else (LD_PRELOAD), and libstdc++ with it: python does not link libstdc++, and ASan
# must find the real __cxa_throw when it starts, or the first C++ exception aborts. Only for
# the test run (and the processes it starts), not for this script's own commands.
cxx=${CXX:-c++}
preload="$($cxx -print-file-name=libasan.so) $($cxx -print-file-name=libstdc++.so)"

# The build must really be the sanitized one (an option CMake ignored would pass silently).
LD_PRELOAD="$preload" python -c 'import tapegrad; f = tapegrad._C.cpu.build_info()["cxx_flags"]; assert "-fsanitize=address" in f, f'

status=0
LD_PRELOAD="$preload" python -m pytest -q -p no:cacheprovider "${@:-tests}" || status=$?
if compgen -G "$logs/*" > /dev/null; then
  cat "$logs"/*
  echo "sanitize: the reports above" >&2
  status=1
fi
rm -rf "$logs"
exit $status
