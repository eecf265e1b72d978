// Inputs for the CUDA data-movement, indexing and resize tests: random tensors of every dtype, in-range index
// tensors (device-side index checks only report errors after the run, so runtime indices stay in range), and
// distinct indices for scatters without reduction (ONNX leaves duplicate writes undefined).
#pragma once

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "common/dispatch.h"
#include "cuda/cuda_op_tester.h"
#include "ops/tensor_test_util.h"

namespace kiln::testing {

//! Every dtype the device kernels move.
inline const std::vector<DataType>& moveTypes() { return allCopyableDtypes(); }

//! Fresh random values of any dtype: floats in [-1, 1], integers in [-100, 100] (magnitudes for unsigned).
inline Tensor anyTensor(DataType type, Shape shape) {
    const bool isFloat = isFloatingPoint(type);
    return randomTensor(type, std::move(shape), seed(), isFloat ? -1.0 : -100.0, isFloat ? 1.0 : 100.0);
}

//! Integer values in [lo, hi] stored as `type` (exact in every dtype, so sums do not depend on their order).
inline Tensor integerValued(DataType type, Shape shape, int64_t lo, int64_t hi) {
    const Tensor ints = randomTensor(DataType::kInt64, shape, seed(), static_cast<double>(lo), static_cast<double>(hi));
    Tensor out(type, std::move(shape));
    (void)dispatchAll(type, [&]<typename T>() {
        for (int64_t i = 0; i < out.numel(); ++i) {
            const double v = ints.getDouble(i);
            out.data<T>()[i] = fromDouble<T>(std::is_signed_v<T> || isFloatingPoint(type) ? v : std::fabs(v));
        }
        return Status::ok();
    });
    return out;
}

//! Indices in [-dim, dim - 1] (negative ones wrap) of int32 or int64.
inline Tensor indexTensor(DataType type, Shape shape, int64_t dim) {
    return randomTensor(type, std::move(shape), seed(), static_cast<double>(-dim), static_cast<double>(dim - 1));
}

//! Converts an int64 vector to an index tensor of `type` (int32 or int64) with `shape`.
inline Tensor indicesOf(const std::vector<int64_t>& values, DataType type, Shape shape) {
    Tensor t(type, std::move(shape));
    for (size_t i = 0; i < values.size(); ++i) {
        if (type == DataType::kInt64) {
            t.data<int64_t>()[i] = values[i];
        } else {
            t.data<int32_t>()[i] = static_cast<int32_t>(values[i]);
        }
    }
    return t;
}

//! `count` distinct values of [0, dim), each written as itself or as its negative alias (v - dim).
inline std::vector<int64_t> distinctIndices(int64_t count, int64_t dim, std::mt19937& rng) {
    std::vector<int64_t> all(static_cast<size_t>(dim));
    std::iota(all.begin(), all.end(), 0);
    std::shuffle(all.begin(), all.end(), rng);
    all.resize(static_cast<size_t>(count));
    for (int64_t& v : all) {
        if (rng() % 2 == 0) v -= dim;
    }
    return all;
}

}  // namespace kiln::testing
