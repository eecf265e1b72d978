#include "backends/cpu/data_movement.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "backends/cpu/broadcast.h"

namespace kiln::cpu {

namespace {

//! An element of a fixed-size dtype as raw bytes: copies like a word and aliases any storage type.
template <size_t N>
struct Bytes {
    unsigned char b[N];
};

//! Calls fn.template operator()<S>() with the storage type S of `type`.
template <typename Fn>
void dispatchStorage(DataType type, Fn&& fn) {
    if (type == DataType::kString) return fn.template operator()<std::string>();
    switch (dataTypeSize(type)) {
        case 1: return fn.template operator()<Bytes<1>>();
        case 2: return fn.template operator()<Bytes<2>>();
        case 4: return fn.template operator()<Bytes<4>>();
        case 8: return fn.template operator()<Bytes<8>>();
        default: return;  // requireCopyable rejects everything else before a kernel gets here
    }
}

template <typename S>
void gatherTyped(const S* src, int64_t base, const DimOffsets& offsets, S* dst, const S& fill) {
    const size_t rank = offsets.size();
    if (rank == 0) {
        dst[0] = src[base];
        return;
    }
    int64_t total = 1;
    for (const auto& o : offsets) total *= static_cast<int64_t>(o.size());
    if (total == 0) return;

    const std::vector<int64_t>& inner = offsets[rank - 1];
    const auto innerCount = static_cast<int64_t>(inner.size());
    bool contiguous = inner[0] != kFillOffset;
    for (int64_t i = 1; contiguous && i < innerCount; ++i) contiguous = inner[static_cast<size_t>(i)] == inner[0] + i;

    std::vector<size_t> coord(rank - 1, 0);
    const int64_t rows = total / innerCount;
    for (int64_t row = 0; row < rows; ++row) {
        int64_t start = base;
        bool filled = false;
        for (size_t d = 0; d + 1 < rank; ++d) {
            const int64_t v = offsets[d][coord[d]];
            if (v == kFillOffset) {
                filled = true;
                break;
            }
            start += v;
        }
        S* out = dst + row * innerCount;
        if (filled) {
            std::fill(out, out + innerCount, fill);
        } else if (contiguous) {
            std::copy(src + start + inner[0], src + start + inner[0] + innerCount, out);
        } else {
            for (int64_t i = 0; i < innerCount; ++i) {
                const int64_t v = inner[static_cast<size_t>(i)];
                out[i] = v == kFillOffset ? fill : src[start + v];
            }
        }
        for (size_t d = rank - 1; d-- > 0;) {
            if (++coord[d] < offsets[d].size()) break;
            coord[d] = 0;
        }
    }
}

}  // namespace

Status requireCopyable(const Tensor& t, const char* what) {
    if (t.dtype() == DataType::kString) return Status::ok();
    const size_t size = dataTypeSize(t.dtype());
    if (size == 1 || size == 2 || size == 4 || size == 8) return Status::ok();
    return unsupported(std::string(what) + " has unsupported dtype " + dataTypeName(t.dtype()));
}

void copyElements(const Tensor& src, int64_t srcIndex, Tensor& dst, int64_t dstIndex, int64_t count) {
    if (count <= 0) return;
    if (src.dtype() == DataType::kString) {
        std::copy(src.strings() + srcIndex, src.strings() + srcIndex + count, dst.strings() + dstIndex);
        return;
    }
    const size_t size = dataTypeSize(src.dtype());
    std::memcpy(static_cast<char*>(dst.raw()) + static_cast<size_t>(dstIndex) * size,
                static_cast<const char*>(src.raw()) + static_cast<size_t>(srcIndex) * size,
                static_cast<size_t>(count) * size);
}

void gatherByDimOffsets(const Tensor& src, int64_t base, const DimOffsets& offsets, Tensor& dst, const Tensor* fill) {
    dispatchStorage(src.dtype(), [&]<typename S>() {
        S fillValue{};
        if (fill != nullptr && fill->numel() > 0) fillValue = *static_cast<const S*>(fill->raw());
        gatherTyped(static_cast<const S*>(src.raw()), base, offsets, static_cast<S*>(dst.raw()), fillValue);
    });
}

DimOffsets transposeOffsets(const Shape& srcShape, const std::vector<int64_t>& perm) {
    const std::vector<int64_t> strides = stridesOf(srcShape);
    DimOffsets offsets(perm.size());
    for (size_t d = 0; d < perm.size(); ++d) {
        const auto axis = static_cast<size_t>(perm[d]);
        offsets[d].resize(static_cast<size_t>(srcShape[axis]));
        for (size_t i = 0; i < offsets[d].size(); ++i) offsets[d][i] = static_cast<int64_t>(i) * strides[axis];
    }
    return offsets;
}

Result<Tensor> transposed(const Tensor& t, const std::vector<int64_t>& perm) {
    std::vector<bool> seen(perm.size(), false);
    bool valid = perm.size() == static_cast<size_t>(t.rank());
    for (int64_t p : perm) {
        valid = valid && p >= 0 && p < t.rank() && !seen[static_cast<size_t>(p)];
        if (valid) seen[static_cast<size_t>(p)] = true;
    }
    if (!valid) return invalidArgument("perm " + shapeToString(perm) + " does not permute the dims of " + t.describe());
    KILN_RETURN_IF_ERROR(requireCopyable(t, "input"));
    Shape shape;
    for (int64_t p : perm) shape.push_back(t.dim(p));
    KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(t.dtype(), std::move(shape)));
    gatherByDimOffsets(t, 0, transposeOffsets(t.shape(), perm), out);
    return out;
}

Status checkIndexVector(const Tensor& t, const char* what) {
    if (t.dtype() != DataType::kInt64 && t.dtype() != DataType::kInt32) {
        return invalidArgument(std::string("input '") + what + "' must be int32 or int64, got " + t.describe());
    }
    if (t.rank() > 1) return invalidArgument(std::string("input '") + what + "' must be 1-D, got " + t.describe());
    return Status::ok();
}

Result<std::vector<int64_t>> readIndexVector(const Tensor& t, const char* what) {
    KILN_RETURN_IF_ERROR(checkIndexVector(t, what));
    return t.toInt64Vector();
}

Result<int64_t> readIndexScalar(const Tensor& t, const char* what) {
    if (t.dtype() != DataType::kInt64 && t.dtype() != DataType::kInt32) {
        return invalidArgument(std::string("input '") + what + "' must be int32 or int64, got " + t.describe());
    }
    if (t.numel() != 1) {
        return invalidArgument(std::string("input '") + what + "' must hold one value, got " + t.describe());
    }
    return t.getInt(0);
}

}  // namespace kiln::cpu
