#!/usr/bin/env bash
# Packs Kiln binaries built here for the GPU machine (Ubuntu 24.04, CUDA 13): copies them into .gpu/bin and the
# non-system shared libraries they need (protobuf, libonnx, OpenBLAS, ...) into .gpu/lib. Run them there with
# LD_LIBRARY_PATH=.gpu/lib. glibc, libstdc++, the CUDA driver, cuDNN and cuBLAS(Lt) stay the target's own.
#
#   scripts/gpu_bundle.sh build/tests/kiln_cuda_tests build/kiln-conformance
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/.gpu"
[[ $# -gt 0 ]] || { echo "usage: $0 BINARY..." >&2; exit 2; }
rm -rf "$OUT"
mkdir -p "$OUT/bin" "$OUT/lib"
system='^(linux-vdso|libc\.so|libm\.so|libdl\.so|librt\.so|libpthread\.so|ld-linux|libgcc_s\.so|libstdc\+\+\.so|libcuda\.so|libcudnn|libcublas|libcudart)'
for bin in "$@"; do
  [[ -x "$bin" ]] || { echo "gpu_bundle: error: '$bin' is not an executable" >&2; exit 1; }
  cp "$bin" "$OUT/bin/"
  strip --strip-debug "$OUT/bin/$(basename "$bin")"
  ldd "$bin" | awk '$3 ~ /^\// {print $1, $3}' | while read -r name path; do
    [[ "$name" =~ $system ]] && continue
    cp -L "$path" "$OUT/lib/$name"
  done
done
echo "gpu_bundle: $(ls "$OUT/bin" | wc -l) binaries, $(ls "$OUT/lib" | wc -l) libraries, $(du -sh "$OUT" | cut -f1) in $OUT"
