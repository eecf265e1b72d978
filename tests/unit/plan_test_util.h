// Helpers shared by the engine-file and memory-plan tests: test-data inputs, bitwise output comparison.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "frontend/onnx/tensor_proto.h"
#include "kiln/tensor.h"

namespace kiln::testing {

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
