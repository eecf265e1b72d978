#!/usr/bin/env bash
# Packs Kiln binaries built here for the GPU machine (Ubuntu 24.04, CUDA 13): copies them into .gpu/bin and the
# non-system shared libraries they need (protobuf, libonnx, OpenBLAS, ...) into .gpu/lib. Run them there with
# LD_LIBRARY_PATH=.gpu/lib. glibc, libstdc++, the CUDA driver, cuDNN and cuBLAS(Lt) stay the target's own.
#
#   scripts/gpu_bundle.sh build/tests/kiln_cuda_tests build/kiln-conformance
#   scripts/gpu_bundle.sh --check     # what scripts/gpu_check.sh needs: the test binaries, kiln, the ONNX conformance
#                                     # data and the small real models, compressed (.gpu/*.tar.xz, < 64 MiB)
#   scripts/gpu_bundle.sh --bench     # kiln alone, compressed (.gpu/bundle.tar.xz): what bench/run_gpu.sh needs
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/.gpu"
[[ $# -gt 0 ]] || { echo "usage: $0 --check | --bench | BINARY..." >&2; exit 2; }
check=0
pack=0  # compress bin/ and lib/ into bundle.tar.xz: uncompressed, kiln and its libraries exceed what a call carries
if [[ "$1" == "--check" ]]; then
  check=1
  pack=1
  set -- "$ROOT/build/tests/kiln_cuda_tests" "$ROOT/build/kiln-conformance" "$ROOT/build/kiln"
elif [[ "$1" == "--bench" ]]; then
  pack=1
  set -- "$ROOT/build/kiln"
fi
rm -rf "$OUT"
mkdir -p "$OUT/bin" "$OUT/lib"
system='^(linux-vdso|libc\.so|libm\.so|libdl\.so|librt\.so|libpthread\.so|ld-linux|libgcc_s\.so|libstdc\+\+\.so|libcuda\.so|libcudnn|libcublas|libcudart)'
for bin in "$@"; do
  [[ -x "$bin" ]] || { echo "gpu_bundle: error: '$bin' is not an executable (build it first)" >&2; exit 1; }
  cp "$bin" "$OUT/bin/"
  strip --strip-debug "$OUT/bin/$(basename "$bin")"
  ldd "$bin" | awk '$3 ~ /^\// {print $1, $3}' | while read -r name path; do
    [[ "$name" =~ $system ]] && continue
    cp -L "$path" "$OUT/lib/$name"
  done
done
if [[ $pack == 1 ]]; then
  tar -C "$OUT" -cf - bin lib | xz -9 -T2 >"$OUT/bundle.tar.xz"
  rm -rf "$OUT/bin" "$OUT/lib"
fi
if [[ $check == 1 ]]; then
  # The data archives change only with the data: kept in .cache/gpu and reused.
  cache="$ROOT/.cache/gpu"
  mkdir -p "$cache"
  [[ -f "$cache/onnx-testdata.tar.xz" ]] || tar -C /usr/share/libonnx-testdata/data -cf - node pytorch-converted \
    pytorch-operator simple | xz -9 -T2 >"$cache/onnx-testdata.tar.xz"
  models=()
  for m in ppocrv4_det ppocrv4_rec ppocr_cls unet_small bert_tiny; do
    [[ -d "$ROOT/.cache/models/$m" ]] && models+=("$m")
  done
  [[ -f "$cache/models.tar.xz" || ${#models[@]} -eq 0 ]] ||
    tar -C "$ROOT/.cache/models" -cf - "${models[@]}" | xz -T2 >"$cache/models.tar.xz"
  cp "$cache"/*.tar.xz "$OUT/"
  # The accuracy guard's calibration sets (tests/models/prepare_calibration.py): small, packed fresh each time.
  calib=()
  for m in "${models[@]}"; do
    for c in "$ROOT/.cache/models/$m"/calib_set_*; do
      [[ -d $c ]] && calib+=("$m/$(basename "$c")")
    done
  done
  [[ ${#calib[@]} -eq 0 ]] || tar -C "$ROOT/.cache/models" -cf - "${calib[@]}" | xz -T2 >"$OUT/calib.tar.xz"
  cp "$ROOT/tests/conformance/"expectations*.txt "$OUT/"
fi
echo "gpu_bundle: $(du -sh "$OUT" | cut -f1) in $OUT"
