// Naive reference helpers for the elementwise op tests: expected tensors are computed here, element by element
// in double, with broadcasting done by explicit coordinates (independently of the kernels' BroadcastIndexer).
#pragma once

#include <functional>
#include <vector>

#include "ops/op_tester.h"

namespace kiln::testing {

inline const std::vector<DataType> kFloatTypes = {DataType::kFloat32, DataType::kFloat64, DataType::kFloat16,
                                                  DataType::kBFloat16};
inline const std::vector<DataType> kIntTypes = {DataType::kInt8,   DataType::kInt16, DataType::kInt32,
                                                DataType::kInt64,  DataType::kUInt8, DataType::kUInt16,
                                                DataType::kUInt32, DataType::kUInt64};
inline std::vector<DataType> numericTypes() {
    std::vector<DataType> all = kFloatTypes;
    all.insert(all.end(), kIntTypes.begin(), kIntTypes.end());
    return all;
}

//! Stores `v` into element i of t (integers: v must be in range; floats round as the dtype does).
inline void setElement(Tensor& t, int64_t i, double v) {
    switch (t.dtype()) {
        case DataType::kFloat32: t.data<float>()[i] = static_cast<float>(v); break;
        case DataType::kFloat64: t.data<double>()[i] = v; break;
        case DataType::kFloat16: t.data<Half>()[i] = Half(static_cast<float>(v)); break;
        case DataType::kBFloat16: t.data<BFloat16>()[i] = BFloat16(static_cast<float>(v)); break;
        case DataType::kInt8: t.data<int8_t>()[i] = static_cast<int8_t>(v); break;
        case DataType::kInt16: t.data<int16_t>()[i] = static_cast<int16_t>(v); break;
        case DataType::kInt32: t.data<int32_t>()[i] = static_cast<int32_t>(v); break;
        case DataType::kInt64: t.data<int64_t>()[i] = static_cast<int64_t>(v); break;
        case DataType::kUInt8: t.data<uint8_t>()[i] = static_cast<uint8_t>(v); break;
        case DataType::kUInt16: t.data<uint16_t>()[i] = static_cast<uint16_t>(v); break;
        case DataType::kUInt32: t.data<uint32_t>()[i] = static_cast<uint32_t>(v); break;
        case DataType::kUInt64: t.data<uint64_t>()[i] = static_cast<uint64_t>(v); break;
        case DataType::kBool: t.data<bool>()[i] = v != 0; break;
        default: break;
    }
}

inline Tensor tensorOf(DataType type, Shape shape, const std::vector<double>& values) {
    Tensor t(type, std::move(shape));
    for (int64_t i = 0; i < t.numel(); ++i) setElement(t, i, values[static_cast<size_t>(i)]);
    return t;
}

//! want[i] = fn(x[i]) stored as `outType`.
inline Tensor mapRef(const Tensor& x, DataType outType, const std::function<double(double)>& fn) {
    Tensor t(outType, x.shape());
    for (int64_t i = 0; i < x.numel(); ++i) setElement(t, i, fn(x.getDouble(i)));
    return t;
}

//! Flat index into `in` of output coordinate `flat` of `out` under numpy broadcasting (trailing-aligned).
inline int64_t broadcastSource(const Shape& in, const Shape& out, int64_t flat) {
    std::vector<int64_t> coord(out.size());
    for (size_t d = out.size(); d-- > 0;) {
        coord[d] = flat % out[d];
        flat /= out[d];
    }
    int64_t idx = 0;
    const size_t offset = out.size() - in.size();
    for (size_t d = 0; d < in.size(); ++d) idx = idx * in[d] + (in[d] == 1 ? 0 : coord[offset + d]);
    return idx;
}

//! want = fn(a, b) over `outShape` (the broadcast shape, given by the test) stored as `outType`.
inline Tensor zipRef(const Tensor& a, const Tensor& b, const Shape& outShape, DataType outType,
                     const std::function<double(double, double)>& fn) {
    Tensor t(outType, outShape);
    for (int64_t i = 0; i < t.numel(); ++i) {
        setElement(t, i,
                   fn(a.getDouble(broadcastSource(a.shape(), outShape, i)),
                      b.getDouble(broadcastSource(b.shape(), outShape, i))));
    }
    return t;
}

//! Runs a one-output node and returns output 0 (fails the test on error).
inline Tensor runOk(const OpTester& tester) {
    auto out = tester.run();
    EXPECT_TRUE(out.isOk()) << out.status().message();
    if (!out.isOk()) return Tensor();
    return (*out)[0];
}

//! Tolerance per dtype for results computed in float and rounded to the dtype.
inline double relTol(DataType t) {
    switch (t) {
        case DataType::kFloat16: return 2e-3;
        case DataType::kBFloat16: return 1.6e-2;
        case DataType::kFloat32: return 1e-5;
        default: return 1e-12;
    }
}

}  // namespace kiln::testing
