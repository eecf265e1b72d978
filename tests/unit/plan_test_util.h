// Helpers shared by the engine-file and memory-plan tests: test-data inputs, bitwise output comparison.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "frontend/onnx/tensor_proto.h"
#include "kiln/tensor.h"

namespace kiln::testing {

//! Damages `bytes` the way the mutation tests do: 1 to `maxEdits` edits, each a flipped bit (half of them), a
//! truncation, or a run of 1 to 16 random bytes inserted.
inline void mutateBytes(std::string& bytes, std::mt19937_64& rng, int maxEdits) {
    const int edits = 1 + static_cast<int>(rng() % static_cast<uint64_t>(maxEdits));
    for (int e = 0; e < edits && !bytes.empty(); ++e) {
        const size_t at = rng() % bytes.size();
        switch (rng() % 4) {
            case 0:
            case 1: bytes[at] = static_cast<char>(bytes[at] ^ (1 << (rng() % 8))); break;
            case 2: bytes.resize(at); break;
            default: bytes.insert(at, std::string(1 + rng() % 16, static_cast<char>(rng()))); break;
        }
    }
}

//! input_0.pb, input_1.pb, ... of an ONNX test-data folder, in order.
inline Result<std::vector<Tensor>> readTestInputs(const std::filesystem::path& dataSet) {
    std::vector<Tensor> inputs;
    for (int i = 0;; ++i) {
        const auto file = dataSet / ("input_" + std::to_string(i) + ".pb");
        if (!std::filesystem::exists(file)) break;
        KILN_ASSIGN_OR_RETURN(Tensor t, onnx_frontend::readTensorProtoFile(file.string()));
        inputs.push_back(std::move(t));
    }
    return inputs;
}

//! Empty when `a` and `b` hold the same dtypes, shapes and bytes; else the first difference.
inline std::string bitwiseDiff(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
    if (a.size() != b.size()) return "output count differs";
    for (size_t i = 0; i < a.size(); ++i) {
        const std::string where = "output " + std::to_string(i) + ": ";
        if (a[i].dtype() != b[i].dtype() || a[i].shape() != b[i].shape()) {
            return where + a[i].describe() + " vs " + b[i].describe();
        }
        if (a[i].dtype() == DataType::kString) {
            for (int64_t k = 0; k < a[i].numel(); ++k) {
                if (a[i].strings()[k] != b[i].strings()[k]) return where + "string " + std::to_string(k) + " differs";
            }
        } else if (a[i].byteSize() > 0 && std::memcmp(a[i].raw(), b[i].raw(), a[i].byteSize()) != 0) {
            return where + "bytes differ";
        }
    }
    return {};
}

}  // namespace kiln::testing
