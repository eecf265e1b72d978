#!/usr/bin/env bash
# Builds the unit tests with ThreadSanitizer in build-tsan/ (CPU only: no CUDA) and runs the concurrency tests:
# one Engine shared by 8 threads, each with its own ExecutionContext, 1,000 inferences each.
#
#   scripts/tsan.sh                   the default filter below
#   scripts/tsan.sh 'Api.*:Engine*'   another gtest filter
# Environment: KILN_JOBS (default 2) build jobs. Exit status: non-zero on a build failure, a failing test or any
# ThreadSanitizer report (halt_on_error).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$root/build-tsan
filter=${1:-Api.ManyThreadsShareOneEngine:ActivationArena.*:EngineReuse.*:DataDependentShapes.*:-*RealModels*}

# -O1 -g: TSan's recommended settings; CMAKE_CUDA_COMPILER empty: the CUDA backend is not built.
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKILN_REQUIRE_CUDA=OFF \
    -DCMAKE_CUDA_COMPILER= -DCMAKE_CXX_FLAGS="-fsanitize=thread -O1 -g" \
    -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread >/dev/null
ninja -C "$build" -j "${KILN_JOBS:-2}" kiln_tests

# OpenBLAS is not instrumented: its own worker threads synchronize in ways TSan cannot see, so run it on the
# calling thread. Kiln's threads are the test's.
export OPENBLAS_NUM_THREADS=1
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
exec "$build/tests/kiln_tests" --gtest_filter="$filter"
