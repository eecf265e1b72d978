#!/usr/bin/env bash
# Style checks (the format check runs in CI as the ctest test lint.format; clang-tidy is run by hand):
#   1. clang-format --dry-run -Werror over every C++/CUDA file in src/ include/ tools/ tests/ (.clang-format);
#   2. clang-tidy (.clang-tidy) over a few files, or those given, using build/compile_commands.json.
#
#   scripts/lint.sh                 format check of the tree + clang-tidy on the default files
#   scripts/lint.sh --all           clang-tidy on every .cpp under src/ and tools/ as well (slow: ~5 s a file)
#   scripts/lint.sh FILE...         clang-tidy on these files
#   scripts/lint.sh --format-only   skip clang-tidy
# Environment: BUILD_DIR (default build), CLANG_FORMAT (clang-format-14), CLANG_TIDY (clang-tidy-14).
# Exit status: 0 when both are clean, 1 otherwise. Fix formatting with `git clang-format` (changed lines) or
# `clang-format -i FILE`.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=${BUILD_DIR:-build}
clang_format=${CLANG_FORMAT:-clang-format-14}
clang_tidy=${CLANG_TIDY:-clang-tidy-14}
command -v "$clang_format" >/dev/null || clang_format=clang-format
command -v "$clang_tidy" >/dev/null || clang_tidy=clang-tidy

tidy_files=(src/frontend/onnx/importer.cpp src/frontend/onnx/tensor_proto.cpp src/ir/graph.cpp src/common/tensor.cpp
            src/backends/cpu/executor.cpp tools/kiln/main.cpp)
run_tidy=1
case "${1:-}" in
    --all) mapfile -t tidy_files < <(git ls-files 'src/*.cpp' 'tools/*.cpp') ;;
    --format-only) run_tidy=0 ;;
    "") ;;
    *) tidy_files=("$@") ;;
esac

status=0

mapfile -t format_files < <(git ls-files 'src/*.cpp' 'src/*.h' 'src/*.cu' 'src/*.cuh' 'include/*.h' 'tools/*.cpp' \
                                         'tools/*.h' 'tests/*.cpp' 'tests/*.h' 'examples/*.cpp' 'examples/*.h' \
                                         'python/*.cpp' 'python/*.h')
report=$(mktemp)
trap 'rm -f "$report"' EXIT

echo "clang-format: checking ${#format_files[@]} files"
if "$clang_format" --dry-run -Werror "${format_files[@]}" 2>"$report"; then
    echo "clang-format: clean"
else
    status=1
    # One "file:line:col: error: code should be clang-formatted" per place that differs.
    grep -oE '^[^ :]+:[0-9]+:[0-9]+: error' "$report" | cut -d: -f1 | sort | uniq -c | sort -rn |
        awk '{printf "  %5d  %s\n", $1, $2}'
    echo "clang-format: $(grep -oE '^[^ :]+:[0-9]+:[0-9]+: error' "$report" | cut -d: -f1 | sort -u | wc -l) of" \
         "${#format_files[@]} files need formatting (count = places that differ)"
fi

if (( run_tidy )); then
    if [[ ! -f $build/compile_commands.json ]]; then
        echo "clang-tidy: $build/compile_commands.json is missing; configure with cmake -B $build first" >&2
        exit 1
    fi
    echo "clang-tidy: checking ${#tidy_files[@]} files"
    # The build's GCC-only warning flags are unknown to clang.
    "$clang_tidy" -p "$build" --quiet --extra-arg=-Wno-unknown-warning-option "${tidy_files[@]}" >"$report" 2>/dev/null
    if grep -qE '(warning|error):' "$report"; then
        status=1
        grep -E -A2 '(warning|error):' "$report"
        echo "clang-tidy: $(grep -cE '(warning|error):' "$report") findings"
    else
        echo "clang-tidy: clean"
    fi
fi
exit $status
