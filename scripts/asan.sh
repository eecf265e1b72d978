#!/usr/bin/env bash
# Builds the unit tests with AddressSanitizer and UndefinedBehaviorSanitizer in build-asan/ (CPU only: no CUDA) and
# runs the engine-file tests: 1,000 randomly mutated engines loaded from memory (EngineFile.MutatedFilesNeverCrash),
# 1,000 mutated engine files through Builder::buildEngineFile, the damaged-file, reuse, atomic-write, arena and
# API tests.
#
#   scripts/asan.sh                   the default filter below
#   scripts/asan.sh 'EngineFile.*'    another gtest filter
# Environment: KILN_JOBS (default 2) build jobs. Exit status: non-zero on a build failure, a failing test or any
# sanitizer report.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$root/build-asan
filter=${1:-EngineFile.*:EngineFileErrors.*:EngineReuse.*:EngineAtomicWrite.*:ActivationArena.*:DataDependentShapes.*:Api.*:-*RealModels*}

flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -O1 -g"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKILN_REQUIRE_CUDA=OFF \
    -DCMAKE_CUDA_COMPILER= -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
    >/dev/null
ninja -C "$build" -j "${KILN_JOBS:-2}" kiln_tests

export OPENBLAS_NUM_THREADS=1
export ASAN_OPTIONS="detect_leaks=1 abort_on_error=1 ${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1 ${UBSAN_OPTIONS:-}"
exec "$build/tests/kiln_tests" --gtest_filter="$filter"
