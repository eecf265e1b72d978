// TopK: the k largest (or smallest) elements along an axis and their indices.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "backends/cpu/indexing.h"
#include "common/dispatch.h"

namespace kiln::cpu {

Status kernelTopK(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 2));
    const Tensor& x = ctx.input(0);
    KILN_CHECK_ARG(x.rank() >= 1, "input 0 'X' must have rank >= 1, got a scalar");
    KILN_CHECK_ARG(ctx.input(1).dtype() == DataType::kInt64,
                   std::string("input 1 'K' must be int64, got ") + dataTypeName(ctx.input(1).dtype()));
    KILN_ASSIGN_OR_RETURN(int64_t k, readScalarInt(ctx.input(1), "input 1 'K'"));
    KILN_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(ctx.attrs().getInt("axis", -1), x.rank()));
    const bool largest = ctx.attrs().getInt("largest", 1) != 0;
    const int64_t n = x.dim(axis);
    KILN_CHECK_ARG(k >= 0 && k <= n, "input 1 'K' = " + std::to_string(k) + " must be in [0, " + std::to_string(n) +
                                         "] (axis " + std::to_string(axis) + " of shape " + shapeToString(x.shape()) +
                                         ")");
    Shape outShape = x.shape();
    outShape[static_cast<size_t>(axis)] = k;
    KILN_ASSIGN_OR_RETURN(Tensor * values, ctx.allocateOutput(0, x.dtype(), outShape));
    Tensor unusedIndices;
    Tensor* indices = &unusedIndices;
    if (ctx.wantsOutput(1)) {
        KILN_ASSIGN_OR_RETURN(indices, ctx.allocateOutput(1, DataType::kInt64, outShape));
    } else {
        KILN_ASSIGN_OR_RETURN(unusedIndices, Tensor::allocate(DataType::kInt64, outShape));
    }
    const int64_t outer = dimProduct(x.shape(), 0, static_cast<size_t>(axis));
    const int64_t inner = dimProduct(x.shape(), static_cast<size_t>(axis) + 1, x.shape().size());
    // Results are always sorted (sorted=0 leaves the order unspecified); ties keep the smaller index first.
    return dispatchNumeric(x.dtype(), [&]<typename T>() {
        using C = ComputeT<T>;
        const T* in = x.data<T>();
        T* outV = values->data<T>();
        int64_t* outI = indices->data<int64_t>();
        std::vector<int64_t> order(static_cast<size_t>(n));
        std::vector<C> line(static_cast<size_t>(n));
        // NaN ranks above every number (as numpy and onnxruntime order it).
        auto before = [&](int64_t a, int64_t b) {
            const C va = line[static_cast<size_t>(a)];
            const C vb = line[static_cast<size_t>(b)];
            bool aNan = false;
            bool bNan = false;
            if constexpr (std::is_floating_point_v<C>) {
                aNan = std::isnan(va);
                bNan = std::isnan(vb);
            }
            if (aNan || bNan) {
                if (aNan && bNan) return a < b;
                return largest ? aNan : bNan;
            }
            if (va != vb) return largest ? va > vb : va < vb;
            return a < b;
        };
        for (int64_t o = 0; o < outer; ++o) {
            for (int64_t j = 0; j < inner; ++j) {
                for (int64_t i = 0; i < n; ++i)
                    line[static_cast<size_t>(i)] = static_cast<C>(in[(o * n + i) * inner + j]);
                std::iota(order.begin(), order.end(), 0);
                std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
                for (int64_t i = 0; i < k; ++i) {
                    const int64_t src = order[static_cast<size_t>(i)];
                    const int64_t dst = (o * k + i) * inner + j;
                    outV[dst] = in[(o * n + src) * inner + j];
                    outI[dst] = src;
                }
            }
        }
        return Status::ok();
    });
}

}  // namespace kiln::cpu
