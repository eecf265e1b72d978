#!/usr/bin/env bash
# Runs every Kiln test on this machine: setup (idempotent), a -Werror build of everything (CUDA code included,
# compiled for sm_90), the real-model reference data, then ctest: unit and op tests, ONNX conformance, real models
# against onnxruntime-node, tool and error-path tests. GPU tests are skipped, and listed, when no GPU is present.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
start=$SECONDS
step() { echo "== $* ($((SECONDS - start))s)"; }

step "setup"
scripts/setup.sh
step "configure + build (build/)"
cmake -S . -B build -G Ninja -DKILN_WERROR=ON -DKILN_REQUIRE_CUDA=ON >.cache/logs/cmake.log 2>&1 || { cat .cache/logs/cmake.log; exit 1; }
ninja -C build
step "real-model reference data (.cache/models)"
tests/models/prepare_models.sh
step "tests"
set +e
ctest --test-dir build --output-on-failure -j2 2>&1 | tee .cache/logs/ctest.log
rc=${PIPESTATUS[0]}
set -e
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "GPU tests skipped: no NVIDIA GPU on this machine (all CUDA code was compiled and linked for sm_90):"
  build/tests/kiln_cuda_tests --gtest_list_tests | awk '/^[^ ]/{suite=$1} /^  /{print "  skipped: " suite $1}'
fi
total=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2/p' .cache/logs/ctest.log)
failed=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\1/p' .cache/logs/ctest.log)
skipped=$(grep -c '(Skipped)' .cache/logs/ctest.log || true)
step "done"
echo "ctest: $(( ${total:-0} - ${failed:-0} - skipped )) passed, ${failed:-0} failed, ${skipped} skipped"
exit "$rc"
