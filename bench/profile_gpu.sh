#!/usr/bin/env bash
# Per-layer GPU profiles of the benchmark's engines, in one device call: runs the suite (bench/run_gpu.sh, arguments
# passed on) with a kept work folder, then `kiln inspect --profile` on every engine it built. Each profile lists the
# layers by time (CUDA events per layer: docs/cuda.md "Per-layer time"); the top lines of each come back in
# $OUT/profiles.txt, the full tables in $OUT/profiles.tar.xz.
#
#   there: bench/profile_gpu.sh --quick --only bert,unet --no-compile
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${KILN_PROFILE_WORK:-/tmp/kiln-profile-work}"
TOP="${KILN_PROFILE_TOP:-25}"
mkdir -p "$WORK"
"$ROOT/bench/run_gpu.sh" --work-dir "$WORK" "$@"
rc=$?
KILN="${KILN:-$ROOT/.gpu/bundle/bin/kiln}"
export LD_LIBRARY_PATH="$(dirname "$(dirname "$KILN")")/lib:${LD_LIBRARY_PATH:-}"
dest="${OUT:-$WORK}"
mkdir -p "$WORK/profiles"
: >"$dest/profiles.txt"
for engine in "$WORK"/*.engine; do
  [[ -f $engine ]] || continue
  name="$(basename "$engine" .engine)"
  "$KILN" inspect "$engine" --profile --iterations 20 >"$WORK/profiles/$name.txt" 2>&1
  {
    echo "== $name"
    # The layer table sorted by the ms column (the 7th field of each numbered row), slowest first.
    grep -E "^ *[0-9]+ " "$WORK/profiles/$name.txt" | sort -k7 -g -r | head -n "$TOP"
    grep -iE "total|ms per run" "$WORK/profiles/$name.txt" | tail -n 3
  } >>"$dest/profiles.txt"
done
tar -C "$WORK" -cJf "$dest/profiles.tar.xz" profiles
exit $rc
