// Index-producing and scan ops: OneHot, Unique, CumSum.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "backends/cpu/indexing.h"
#include "backends/cpu/op_plans.h"
#include "common/dispatch.h"

namespace kiln::cpu {

namespace {

//! Three-way comparison where NaN equals NaN and sorts after every number (numpy's order).
template <typename C>
int compareValues(C a, C b) {
    if constexpr (std::is_floating_point_v<C>) {
        const bool na = std::isnan(a);
        const bool nb = std::isnan(b);
        if (na || nb) return na == nb ? 0 : (na ? 1 : -1);
    }
    return a < b ? -1 : (b < a ? 1 : 0);
}

}  // namespace

Status kernelOneHot(KernelContext& ctx) {
    KILN_ASSIGN_OR_RETURN(OneHotPlan plan, planOneHot(ctx));
    const Tensor& indices = ctx.input(0);
    const Tensor& values = ctx.input(2);
    const int64_t depth = plan.depth;
    const int64_t axis = plan.axis;
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, values.dtype(), plan.outShape));
    const size_t elem = dataTypeSize(values.dtype());
    const auto* off = static_cast<const char*>(values.raw());
    const char* on = off + elem;
    auto* dst = static_cast<char*>(y->raw());
    for (int64_t i = 0; i < y->numel(); ++i) std::memcpy(dst + static_cast<size_t>(i) * elem, off, elem);
    const int64_t outer = dimProduct(indices.shape(), 0, static_cast<size_t>(axis));
    const int64_t inner = dimProduct(indices.shape(), static_cast<size_t>(axis), indices.shape().size());
    for (int64_t o = 0; o < outer; ++o) {
        for (int64_t in = 0; in < inner; ++in) {
            const double v = indices.getDouble(o * inner + in);
            if (!std::isfinite(v) || v <= -static_cast<double>(depth) - 1 || v >= static_cast<double>(depth)) continue;
            int64_t d = static_cast<int64_t>(v);
            if (d < 0) d += depth;
            if (d < 0 || d >= depth) continue;
            std::memcpy(dst + static_cast<size_t>((o * depth + d) * inner + in) * elem, on, elem);
        }
    }
    return Status::ok();
}

Status kernelUnique(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const Tensor& x = ctx.input(0);
    KILN_RETURN_IF_ERROR(requireFixedSizeDtype(x, "input 0 'X'"));
    const bool sorted = ctx.attrs().getInt("sorted", 1) != 0;
    const auto axisAttr = ctx.attrs().get<int64_t>("axis");
    // View X as [outer, n, inner]: item i is the slice X[:, i, :] (flattened: outer = inner = 1).
    int64_t outer = 1;
    int64_t n = x.numel();
    int64_t inner = 1;
    int64_t axis = 0;
    if (axisAttr) {
        KILN_CHECK_ARG(x.rank() >= 1, "input 0 'X' must have rank >= 1 when attribute 'axis' is set");
        KILN_ASSIGN_OR_RETURN(axis, normalizeAxis(*axisAttr, x.rank()));
        outer = dimProduct(x.shape(), 0, static_cast<size_t>(axis));
        n = x.dim(axis);
        inner = dimProduct(x.shape(), static_cast<size_t>(axis) + 1, x.shape().size());
    }
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::vector<int64_t> groupOf(static_cast<size_t>(n));  // item -> unique group
    std::vector<int64_t> firstOf;                          // group -> first item
    KILN_RETURN_IF_ERROR(dispatchAll(x.dtype(), [&]<typename T>() {
        using C = ComputeT<T>;
        const T* p = x.data<T>();
        auto compareItems = [&](int64_t a, int64_t b) {
            for (int64_t o = 0; o < outer; ++o) {
                for (int64_t in = 0; in < inner; ++in) {
                    const int c = compareValues<C>(static_cast<C>(p[(o * n + a) * inner + in]),
                                                   static_cast<C>(p[(o * n + b) * inner + in]));
                    if (c != 0) return c;
                }
            }
            return 0;
        };
        // Stable sort keeps equal items in input order, so each group's first member is its first occurrence.
        std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return compareItems(a, b) < 0; });
        for (size_t i = 0; i < order.size(); ++i) {
            if (i == 0 || compareItems(order[i - 1], order[i]) != 0) firstOf.push_back(order[i]);
            groupOf[static_cast<size_t>(order[i])] = static_cast<int64_t>(firstOf.size()) - 1;
        }
        return Status::ok();
    }));
    const auto groups = static_cast<int64_t>(firstOf.size());
    // rank[g] = output position of group g (sorted: group order; unsorted: order of first occurrence).
    std::vector<int64_t> rank(firstOf.size());
    std::iota(rank.begin(), rank.end(), 0);
    if (!sorted) {
        std::vector<int64_t> byFirst(firstOf.size());
        std::iota(byFirst.begin(), byFirst.end(), 0);
        std::sort(byFirst.begin(), byFirst.end(), [&](int64_t a, int64_t b) {
            return firstOf[static_cast<size_t>(a)] < firstOf[static_cast<size_t>(b)];
        });
        for (size_t pos = 0; pos < byFirst.size(); ++pos)
            rank[static_cast<size_t>(byFirst[pos])] = static_cast<int64_t>(pos);
    }
    std::vector<int64_t> firstAt(firstOf.size());
    std::vector<int64_t> counts(firstOf.size(), 0);
    for (size_t g = 0; g < firstOf.size(); ++g) firstAt[static_cast<size_t>(rank[g])] = firstOf[g];
    for (int64_t i = 0; i < n; ++i)
        ++counts[static_cast<size_t>(rank[static_cast<size_t>(groupOf[static_cast<size_t>(i)])])];

    Shape yShape{groups};
    if (axisAttr) {
        yShape = x.shape();
        yShape[static_cast<size_t>(axis)] = groups;
    }
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, x.dtype(), yShape));
    const size_t elem = dataTypeSize(x.dtype());
    const auto* src = static_cast<const char*>(x.raw());
    auto* dst = static_cast<char*>(y->raw());
    const auto innerBytes = static_cast<size_t>(inner) * elem;
    for (int64_t o = 0; o < outer; ++o) {
        for (int64_t pos = 0; pos < groups; ++pos) {
            std::memcpy(dst + static_cast<size_t>(o * groups + pos) * innerBytes,
                        src + static_cast<size_t>(o * n + firstAt[static_cast<size_t>(pos)]) * innerBytes, innerBytes);
        }
    }
    if (ctx.wantsOutput(1)) {
        KILN_ASSIGN_OR_RETURN(Tensor * t, ctx.allocateOutput(1, DataType::kInt64, {groups}));
        std::copy(firstAt.begin(), firstAt.end(), t->data<int64_t>());
    }
    if (ctx.wantsOutput(2)) {
        KILN_ASSIGN_OR_RETURN(Tensor * t, ctx.allocateOutput(2, DataType::kInt64, {n}));
        for (int64_t i = 0; i < n; ++i) {
            t->data<int64_t>()[i] = rank[static_cast<size_t>(groupOf[static_cast<size_t>(i)])];
        }
    }
    if (ctx.wantsOutput(3)) {
        KILN_ASSIGN_OR_RETURN(Tensor * t, ctx.allocateOutput(3, DataType::kInt64, {groups}));
        std::copy(counts.begin(), counts.end(), t->data<int64_t>());
    }
    return Status::ok();
}

Status kernelCumSum(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 2));
    const Tensor& x = ctx.input(0);
    KILN_CHECK_ARG(x.rank() >= 1, "input 0 'x' must have rank >= 1, got a scalar");
    KILN_CHECK_ARG(ctx.input(1).dtype() == DataType::kInt32 || ctx.input(1).dtype() == DataType::kInt64,
                   std::string("input 1 'axis' must be int32 or int64, got ") + dataTypeName(ctx.input(1).dtype()));
    KILN_ASSIGN_OR_RETURN(int64_t axisValue, readScalarInt(ctx.input(1), "input 1 'axis'"));
    KILN_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(axisValue, x.rank(), "input 1 'axis'"));
    const bool exclusive = ctx.attrs().getInt("exclusive", 0) != 0;
    const bool reverse = ctx.attrs().getInt("reverse", 0) != 0;
    const int64_t outer = dimProduct(x.shape(), 0, static_cast<size_t>(axis));
    const int64_t n = x.dim(axis);
    const int64_t inner = dimProduct(x.shape(), static_cast<size_t>(axis) + 1, x.shape().size());
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, x.dtype(), x.shape()));
    return dispatchNumeric(x.dtype(), [&]<typename T>() {
        using C = ComputeT<T>;
        const T* in = x.data<T>();
        T* out = y->data<T>();
        for (int64_t o = 0; o < outer; ++o) {
            for (int64_t j = 0; j < inner; ++j) {
                C acc{};
                for (int64_t s = 0; s < n; ++s) {
                    const int64_t i = reverse ? n - 1 - s : s;
                    const int64_t off = (o * n + i) * inner + j;
                    const C v = static_cast<C>(in[off]);
                    if (exclusive) {
                        out[off] = fromCompute<T>(acc);
                        acc = static_cast<C>(acc + v);
                    } else {
                        acc = static_cast<C>(acc + v);
                        out[off] = fromCompute<T>(acc);
                    }
                }
            }
        }
        return Status::ok();
    });
}

}  // namespace kiln::cpu
