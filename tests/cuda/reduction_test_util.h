// Helpers shared by the reduction, normalization and pooling CUDA op tests.
#pragma once

#include <cmath>
#include <initializer_list>
#include <limits>
#include <vector>

#include "cuda/cuda_op_tester.h"

namespace kiln::testing {

inline const std::vector<DataType>& floatTypes() {
    static const std::vector<DataType> kTypes = {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16,
                                                 DataType::kFloat64};
    return kTypes;
}

inline const std::vector<DataType>& integerTypes() {
    static const std::vector<DataType> kTypes = {DataType::kInt8,   DataType::kInt16, DataType::kInt32,
                                                 DataType::kInt64,  DataType::kUInt8, DataType::kUInt16,
                                                 DataType::kUInt32, DataType::kUInt64};
    return kTypes;
}

//! Writes `value` into element i of a float tensor of any float dtype.
inline void setFloat(Tensor& t, int64_t i, double value) {
    switch (t.dtype()) {
        case DataType::kFloat32: t.data<float>()[i] = static_cast<float>(value); break;
        case DataType::kFloat64: t.data<double>()[i] = value; break;
        case DataType::kFloat16: t.data<Half>()[i] = Half(static_cast<float>(value)); break;
        case DataType::kBFloat16: t.data<BFloat16>()[i] = BFloat16(static_cast<float>(value)); break;
        default: FAIL() << "setFloat on " << dataTypeName(t.dtype());
    }
}

//! Whole numbers in [lo, hi] stored as `type` (unsigned types take |value|): many ties for arg and sort ops.
inline Tensor integerValued(DataType type, const Shape& shape, uint32_t seed, int lo = -2, int hi = 2) {
    if (!isFloatingPoint(type)) return randomTensor(type, shape, seed, lo, hi);
    const Tensor ints = randomTensor(DataType::kInt32, shape, seed, lo, hi);
    Tensor t(type, shape);
    for (int64_t i = 0; i < t.numel(); ++i) setFloat(t, i, ints.getDouble(i));
    return t;
}

//! `t` with NaN at the given flat positions.
inline Tensor withNaN(Tensor t, std::initializer_list<int64_t> at) {
    for (int64_t i : at) setFloat(t, i, std::numeric_limits<double>::quiet_NaN());
    return t;
}

//! float32 sums over ~1000 elements: the GPU adds in float in tree order, the CPU in double; the difference is
//! about log2(n) * eps(float) * sum|x|, up to ~1e-5 absolute for inputs in [-1, 1] (results near 0 need atol).
constexpr Tolerance kLongSumTolerance{1e-5, 2e-5};

}  // namespace kiln::testing
