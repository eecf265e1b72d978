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
export KILN_BENCH_KEEP_ENGINES=1
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
  "$KILN" inspect "$engine" --profile --iterations 20 --json >"$WORK/profiles/$name.json" 2>/dev/null
  {
    echo "== $name"
    python3 - "$WORK/profiles/$name.json" "$TOP" <<'PY'
import json, sys
from collections import defaultdict
layers = json.load(open(sys.argv[1])).get("layers", [])
total = sum(l.get("averageMs", 0) for l in layers)
byOp = defaultdict(lambda: [0, 0.0])
for l in layers:
    byOp[l["op"]][0] += 1
    byOp[l["op"]][1] += l.get("averageMs", 0)
print(f"total {total:.4f} ms per run, {len(layers)} layers; by op: " + ", ".join(
    f"{op} {n}x {ms:.3f} ms" for op, (n, ms) in sorted(byOp.items(), key=lambda kv: -kv[1][1])))
for l in sorted(layers, key=lambda l: -l.get("averageMs", 0))[: int(sys.argv[2])]:
    print(f"  {l.get('averageMs', 0):8.4f} ms {l.get('percentage', 0):5.1f}%  {l['op']:<18} {l.get('precision', ''):<5} "
          f"{l['name'][:48]:<48} {l.get('outputShape', '')}")
PY
  } >>"$dest/profiles.txt"
done
tar -C "$WORK" -cJf "$dest/profiles.tar.xz" profiles
exit $rc
