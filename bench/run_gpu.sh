#!/usr/bin/env bash
# The benchmark suite on the GPU machine, in one call (bench/README.md). Finds kiln, then runs bench/suite.py with
# the machine's python3 (the one with PyTorch); arguments go to suite.py (--quick, --only resnet50, --budget S ...).
#
# kiln comes from, in this order: $KILN; .gpu/bundle/bin (scripts/gpu_bundle.sh --check, unpacked here from
# .gpu/bundle.tar.xz when needed); .gpu/bin (scripts/gpu_bundle.sh build/kiln); build/kiln. The bundles' libraries
# (.gpu/.../lib) go on LD_LIBRARY_PATH. With $OUT set (the device tool), the console log, the JSON, the table and
# the logs come back there.
#
#   here:  scripts/gpu_bundle.sh build/kiln            # .gpu/bin/kiln + .gpu/lib, carried with the device tool
#   there: bench/run_gpu.sh [--quick] [suite.py options]
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 3
G="$ROOT/.gpu"
if [[ -z "${KILN:-}" ]]; then
  if [[ -f "$G/bundle.tar.xz" && ! -x "$G/bundle/bin/kiln" ]]; then
    mkdir -p "$G/bundle" && tar -C "$G/bundle" -xJf "$G/bundle.tar.xz" || exit 3
  fi
  for dir in "$G/bundle" "$G" "$ROOT/build"; do
    if [[ -x "$dir/bin/kiln" ]]; then KILN="$dir/bin/kiln"; break; fi
    if [[ -x "$dir/kiln" ]]; then KILN="$dir/kiln"; break; fi
  done
fi
if [[ -z "${KILN:-}" ]]; then
  echo "run_gpu: error: no kiln: set KILN, or carry .gpu from scripts/gpu_bundle.sh build/kiln" >&2
  exit 3
fi
lib="$(dirname "$(dirname "$KILN")")/lib"
[[ -d "$lib" ]] && export LD_LIBRARY_PATH="$lib:${LD_LIBRARY_PATH:-}"
export KILN PYTHONUNBUFFERED=1
# The binary must load here (a bundle built against other system libraries fails at this line, not mid-run).
if ! "$KILN" --help >/dev/null 2>&1; then
  echo "run_gpu: error: $KILN does not run here:" >&2
  "$KILN" --help 2>&1 | head -n 3 >&2
  ldd "$KILN" 2>&1 | grep "not found" >&2
  exit 3
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu \
  --format=csv,noheader
PY="${PYTHON:-python3}"
if [[ -n "${OUT:-}" ]]; then
  mkdir -p "$OUT"
  "$PY" "$ROOT/bench/suite.py" --kiln "$KILN" "$@" 2>&1 | tee "$OUT/bench_console.log"
  exit "${PIPESTATUS[0]}"
fi
exec "$PY" "$ROOT/bench/suite.py" --kiln "$KILN" "$@"
