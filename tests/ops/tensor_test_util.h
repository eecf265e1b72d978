// Shared helpers for the shape / data-movement op tests: naive coordinate arithmetic to build expectations.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "ops/op_tester.h"

namespace kiln::testing {

inline const std::vector<DataType>& allCopyableDtypes() {
    static const std::vector<DataType> kTypes = {
        DataType::kFloat32, DataType::kFloat64, DataType::kFloat16, DataType::kBFloat16, DataType::kInt8,
        DataType::kInt16,   DataType::kInt32,   DataType::kInt64,   DataType::kUInt8,    DataType::kUInt16,
        DataType::kUInt32,  DataType::kUInt64,  DataType::kBool};
    return kTypes;
}

//! Distinct-ish values for every dtype (bool alternates), so a misplaced element shows up.
inline Tensor patternTensor(DataType type, Shape shape, uint32_t seed = 7) {
    return randomTensor(type, std::move(shape), seed, 0.0, 100.0);
}

inline std::vector<int64_t> coordsOf(int64_t flat, const Shape& shape) {
    std::vector<int64_t> c(shape.size());
    for (size_t d = shape.size(); d-- > 0;) {
        c[d] = flat % shape[d];
        flat /= shape[d];
    }
    return c;
}

inline int64_t flatOf(const std::vector<int64_t>& coords, const Shape& shape) {
    int64_t flat = 0;
    for (size_t d = 0; d < shape.size(); ++d) flat = flat * shape[d] + coords[d];
    return flat;
}

//! Checks y has x's dtype and `shape`, and y[o] == x[srcIndex(coords of o)] (or `fillValue` where it returns -1).
inline void expectGather(const Tensor& y, const Tensor& x, const Shape& shape,
                         const std::function<int64_t(const std::vector<int64_t>&)>& srcIndex, double fillValue = 0.0) {
    ASSERT_EQ(y.dtype(), x.dtype()) << dataTypeName(y.dtype());
    ASSERT_EQ(y.shape(), shape) << shapeToString(y.shape()) << " vs " << shapeToString(shape);
    for (int64_t o = 0; o < y.numel(); ++o) {
        const int64_t src = srcIndex(coordsOf(o, shape));
        const double want = src < 0 ? fillValue : x.getDouble(src);
        ASSERT_EQ(y.getDouble(o), want) << dataTypeName(x.dtype()) << " element " << o;
    }
}

inline Tensor int64s(const std::vector<int64_t>& v) { return Tensor::fromVector(v, {static_cast<int64_t>(v.size())}); }

inline Tensor stringTensor(const std::vector<std::string>& v, Shape shape) {
    Tensor t(DataType::kString, std::move(shape));
    for (size_t i = 0; i < v.size(); ++i) t.strings()[i] = v[i];
    return t;
}

#define KILN_ASSERT_OK(result) ASSERT_TRUE((result).isOk()) << (result).status().message()

}  // namespace kiln::testing
