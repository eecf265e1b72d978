#!/usr/bin/env bash
# Builds the model-loader fuzzer (clang++-14, libFuzzer, ASan + UBSan) in build-fuzz/ and runs it.
#
#   tests/fuzz/run_fuzz.sh [SECONDS=60] [extra libFuzzer flags...]
#   KILN_FUZZ_TARGET=engine tests/fuzz/run_fuzz.sh [SECONDS=60] ...   # the engine-file loader instead
#   KILN_FUZZ_TARGET=engine KILN_ENGINE_MUTATIONS=1000 tests/fuzz/run_fuzz.sh   # the 1,000-copy mutation test
#
# Seeds are copied from the ONNX test data at run time into build-fuzz/fuzz-seeds/ (no binaries in git); the
# corpus the fuzzer grows is kept in build-fuzz/fuzz-corpus/ between runs. A crash, sanitizer report, leak or
# timeout stops the run and leaves the input in build-fuzz/fuzz-artifacts/; replay it with
#   build-fuzz/tests/fuzz/fuzz_model_loader build-fuzz/fuzz-artifacts/<file>
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
seconds=${1:-60}
shift $(( $# > 0 ? 1 : 0 ))
build=$root/build-fuzz
data=/usr/share/libonnx-testdata/data

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 -DKILN_FUZZ=ON -DKILN_BUILD_TESTS=OFF >/dev/null

if [[ ${KILN_FUZZ_TARGET:-model} == engine ]]; then
    ninja -C "$build" -j "${KILN_JOBS:-2}" fuzz_engine_loader
    # Seed engines are converted from ONNX node test models by the target itself at start-up.
    mkdir -p "$build/engine-corpus" "$build/fuzz-artifacts"
    KILN_ENGINE_SEEDS="$build/engine-seeds" exec "$build/tests/fuzz/fuzz_engine_loader" "$build/engine-corpus" \
        "$build/engine-seeds" -max_total_time="$seconds" -max_len=262144 -timeout=20 -rss_limit_mb=4096 \
        -malloc_limit_mb=2048 -artifact_prefix="$build/fuzz-artifacts/" -print_final_stats=1 "$@"
fi
ninja -C "$build" -j "${KILN_JOBS:-2}" fuzz_model_loader

# A few small models that between them reach constants, initializers, subgraphs (If, Loop, Scan), sequences,
# strings, legacy opsets that the adapters rewrite, and ONNX functions the importer inlines.
seeds=(
    node/test_add node/test_constant node/test_if node/test_if_seq node/test_loop11 node/test_scan9_sum
    node/test_conv_with_strides_padding node/test_reshape_extended_dims node/test_gather_0 node/test_slice
    node/test_lstm_defaults node/test_split_variable_parts_1d node/test_cast_FLOAT_to_STRING node/test_squeeze
    node/test_dropout_default node/test_resize_upsample_scales_nearest node/test_celu node/test_clip_default_inbounds
    node/test_range_float_type_positive_delta_expanded simple/test_sequence_model1 simple/test_single_relu_model
    pytorch-converted/test_Conv2d pytorch-operator/test_operator_pad
)
mkdir -p "$build/fuzz-seeds" "$build/fuzz-corpus" "$build/fuzz-artifacts"
for s in "${seeds[@]}"; do
    if [[ -f $data/$s/model.onnx ]]; then cp "$data/$s/model.onnx" "$build/fuzz-seeds/${s//\//_}.onnx"; fi
done

# Allocations past 2 GiB count as bugs: every size in a model must be checked against the bytes present first.
exec "$build/tests/fuzz/fuzz_model_loader" "$build/fuzz-corpus" "$build/fuzz-seeds" \
    -max_total_time="$seconds" -max_len=65536 -timeout=20 -rss_limit_mb=4096 -malloc_limit_mb=2048 \
    -artifact_prefix="$build/fuzz-artifacts/" -print_final_stats=1 "$@"
