// Helpers of the elementwise CUDA op tests: dtype lists, inputs with the values that break conversions and
// rounding (NaN, infinities, halves, integer extremes), and the exact comparison used where the GPU must match the
// CPU reference bit for bit.
#pragma once

#include <cmath>
#include <limits>
#include <vector>

#include "cuda/cuda_op_tester.h"
#include "ops/elementwise_test_util.h"

namespace kiln::testing {

inline const std::vector<DataType> kSignedIntTypes = {DataType::kInt8, DataType::kInt16, DataType::kInt32,
                                                      DataType::kInt64};
inline const std::vector<DataType> kUnsignedIntTypes = {DataType::kUInt8, DataType::kUInt16, DataType::kUInt32,
                                                        DataType::kUInt64};
inline std::vector<DataType> allTypes() {
    std::vector<DataType> all = numericTypes();
    all.push_back(DataType::kBool);
    return all;
}

//! Integers and bool must match exactly; so must float ops that are one correctly rounded IEEE operation.
inline constexpr Tolerance kExact{0, 0};

//! The tests' element counts: 1031 = 1024 + 7 leaves a tail after every vector width and block.
inline const Shape kTail = {1031};
inline const Shape kOdd = {5, 6, 7};

//! Random values of `type` in [lo, hi] (unsigned types take |v|); bool: about half true.
inline Tensor randomOf(DataType type, const Shape& shape, double lo = -3.0, double hi = 3.0) {
    return randomTensor(type, shape, seed(), lo, hi);
}

namespace detail {
template <typename T>
void fillIntegerSpecials(Tensor& t) {
    using L = std::numeric_limits<T>;
    const std::vector<T> values = {T(0), T(1), L::max(), L::min(), T(L::max() - 1), T(L::min() + 1), T(7), T(100)};
    for (int64_t i = 0; i < t.numel(); ++i) {
        t.data<T>()[i] = values[static_cast<size_t>(i) % values.size()];
        if constexpr (std::is_signed_v<T>) {
            if (i % values.size() == 6) t.data<T>()[i] = T(-7);
        }
    }
}
}  // namespace detail

//! A tensor of the values conversions and rounding get wrong: for floats NaN, ±inf, ±0, halves (ties for Round
//! and the float16/bfloat16 conversions), subnormals, the float16 overflow edge (65520), values beyond int32/int64
//! and float32; for integers 0, ±1, ±7, the extremes and their neighbours.
inline Tensor specialValues(DataType type, int64_t count = 64) {
    Tensor t(type, {count});
    const double inf = std::numeric_limits<double>::infinity();
    const std::vector<double> floats = {std::nan(""), inf,           -inf,         0.0,       -0.0,   0.5,     -0.5,
                                        1.5,          2.5,           -2.5,         1e-40,     -1e-45, 65504.0, 65520.0,
                                        -65536.0,     3.0e9,         -3.0e9,       1e19,      -1e19,  9.3e18,  1.8e19,
                                        3.4e38,       1e300,         -1e300,       0.1,       255.5,  256.0,   -129.0,
                                        1.0 / 3.0,    1.00048828125, 1.0009765625, 33554431.0};
    switch (type) {
        case DataType::kInt8: detail::fillIntegerSpecials<int8_t>(t); break;
        case DataType::kInt16: detail::fillIntegerSpecials<int16_t>(t); break;
        case DataType::kInt32: detail::fillIntegerSpecials<int32_t>(t); break;
        case DataType::kInt64: detail::fillIntegerSpecials<int64_t>(t); break;
        case DataType::kUInt8: detail::fillIntegerSpecials<uint8_t>(t); break;
        case DataType::kUInt16: detail::fillIntegerSpecials<uint16_t>(t); break;
        case DataType::kUInt32: detail::fillIntegerSpecials<uint32_t>(t); break;
        case DataType::kUInt64: detail::fillIntegerSpecials<uint64_t>(t); break;
        case DataType::kBool:
            for (int64_t i = 0; i < count; ++i) t.data<bool>()[i] = i % 3 == 0;
            break;
        default:
            for (int64_t i = 0; i < count; ++i) setElement(t, i, floats[static_cast<size_t>(i) % floats.size()]);
            break;
    }
    return t;
}

}  // namespace kiln::testing
