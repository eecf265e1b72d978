#!/usr/bin/env bash
# Kiln's main job, end to end, from a fresh clone on Debian 12: cut the astronaut out of her photo with the ISNet
# segmentation model run on Kiln's CPU backend.
#
#   scripts/demo.sh
#
# Steps, each timed: install what is missing (scripts/setup.sh), configure and build only kiln-isnet-cutout in
# build/, prepare the ISNet model alone (tests/models/prepare_models.sh isnet_fp16), save scikit-image's astronaut
# photo as .cache/demo/astronaut.png, run the cut-out. Writes out/astronaut_cutout.png (RGBA, background
# transparent) and out/astronaut_mask.png. Safe to run again: finished steps are skipped or quick.
# Environment: KILN_JOBS caps build parallelism; KILN_MODELS_DIR moves the model cache (as for prepare_models.sh).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LOG_DIR=.cache/logs
PHOTO=.cache/demo/astronaut.png
MODEL="${KILN_MODELS_DIR:-.cache/models}/isnet_fp16/model.onnx"
TOOL=build/kiln-isnet-cutout
CUTOUT=out/astronaut_cutout.png
MASK=out/astronaut_mask.png
# Debian's scikit-image and Pillow are installed for the system interpreter only.
PYTHON=/usr/bin/python3

die() { echo "demo: error: $*" >&2; exit 1; }
now() { date +%s.%N; }
seconds() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# One line per finished step: name, seconds since `since`, what it made.
stepDone() { printf 'demo: %-10s %7s s  %s\n' "$1" "$(seconds "$2")" "$3"; }

start=$(now)

t=$(now)
scripts/setup.sh || die "scripts/setup.sh failed (see its message above)"
mkdir -p "$LOG_DIR"
stepDone setup "$t" "Debian and npm packages"

t=$(now)
generator=()
[[ -f build/CMakeCache.txt ]] || generator=(-G Ninja)  # an existing build/ keeps the generator it was made with
cmake -S . -B build "${generator[@]}" >"$LOG_DIR/demo-configure.log" 2>&1 \
  || die "cmake configure failed, see $LOG_DIR/demo-configure.log"
stepDone configure "$t" "build/ ($(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' build/CMakeCache.txt))"

t=$(now)
cmake --build build --target kiln-isnet-cutout ${KILN_JOBS:+--parallel "$KILN_JOBS"} \
  >"$LOG_DIR/demo-build.log" 2>&1 || die "build failed, see $LOG_DIR/demo-build.log"
stepDone build "$t" "$TOOL"

t=$(now)
tests/models/prepare_models.sh isnet_fp16 >"$LOG_DIR/demo-model.log" 2>&1 \
  || die "preparing the ISNet model failed, see $LOG_DIR/demo-model.log and $LOG_DIR/prepare_models.log"
[[ -f "$MODEL" ]] || die "$MODEL missing after tests/models/prepare_models.sh isnet_fp16"
stepDone model "$t" "$MODEL ($(sed -n 's/^models: isnet_fp16 *//p' "$LOG_DIR/demo-model.log" | tr -s ' '))"

t=$(now)
if [[ ! -f "$PHOTO" ]]; then
  mkdir -p "$(dirname "$PHOTO")"
  # Written under a temporary name and renamed, so an interrupted run leaves no half-written photo.
  "$PYTHON" -c 'import sys; from PIL import Image; from skimage import data
Image.fromarray(data.astronaut()).save(sys.argv[1], format="PNG")' "$PHOTO.tmp" \
    || die "cannot save scikit-image's astronaut photo (is python3-skimage installed? run scripts/setup.sh)"
  mv "$PHOTO.tmp" "$PHOTO"
fi
stepDone photo "$t" "$PHOTO (scikit-image's astronaut, NASA photo of Eileen Collins)"

t=$(now)
echo "demo: cut-out: $TOOL --model $MODEL --image $PHOTO --out $CUTOUT --mask $MASK"
"$TOOL" --model "$MODEL" --image "$PHOTO" --out "$CUTOUT" --mask "$MASK" 2>&1 | sed -u 's/^/  /' \
  || die "the cut-out failed (see the error above)"
stepDone cut-out "$t" "on the CPU"

echo "demo: wrote $CUTOUT (the astronaut on a transparent background) and $MASK"
printf 'demo: %-10s %7s s\n' total "$(seconds "$start")"
