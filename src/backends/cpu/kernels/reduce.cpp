// Reductions: ReduceSum/Mean/Max/Min/Prod/L1/L2/LogSum/LogSumExp/SumSquare, ArgMax, ArgMin.
//
// Floating-point reductions accumulate in double (float16/bfloat16/float32 inputs included) and round once;
// integer sums and products wrap in 64-bit two's complement, as numpy does, then narrow to the input type.
#include <cmath>
#include <limits>
#include <string>

#include "backends/cpu/reduce_plan.h"

namespace kiln::cpu {

namespace {

enum class ReduceKind { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kLogSum, kLogSumExp, kSumSquare };

//! The axes to reduce: input 1 when present, else the `axes` attribute (reduceAxes in reduce_plan.h).
Result<std::vector<int64_t>> reduceAxes(const KernelContext& ctx) {
    return cpu::reduceAxes(ctx.hasInput(1) ? &ctx.input(1) : nullptr, ctx.attrs());
}

//! Wrapping integer arithmetic (signed overflow through uint64 is defined); plain arithmetic for double.
template <typename A>
A wrapAdd(A a, A b) {
    if constexpr (std::is_integral_v<A>) return static_cast<A>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
    else return a + b;
}
template <typename A>
A wrapMul(A a, A b) {
    if constexpr (std::is_integral_v<A>) return static_cast<A>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
    else return a * b;
}

template <typename A>
A absValue(A v) {
    if constexpr (std::is_unsigned_v<A>) return v;
    else if constexpr (std::is_integral_v<A>) return v < 0 ? static_cast<A>(0 - static_cast<uint64_t>(v)) : v;
    else return std::fabs(v);
}

template <typename T>
T storeAccum(AccumT<T> v) {
    if constexpr (std::is_integral_v<AccumT<T>>) return static_cast<T>(v);
    else return castFromDouble<T>(v);
}

template <typename T>
Status runReduce(const Tensor& x, Tensor& y, const ReducePlan& plan, ReduceKind kind) {
    using C = ComputeT<T>;
    using A = AccumT<T>;
    const T* in = x.data<T>();
    T* out = y.data<T>();
    const auto outCount = static_cast<int64_t>(plan.outerOffsets.size());
    const int64_t n = plan.reduceCount();
    const int64_t* inner = plan.innerOffsets.data();
    constexpr bool kIsFloat = std::is_floating_point_v<C>;

    auto sumOf = [&](const T* base, auto map) {
        A acc = A(0);
        for (int64_t r = 0; r < n; ++r) acc = wrapAdd(acc, map(static_cast<A>(static_cast<C>(base[inner[r]]))));
        return acc;
    };
    auto identity = [](A v) { return v; };
    auto square = [](A v) { return wrapMul(v, v); };
    auto absolute = [](A v) { return absValue(v); };

    for (int64_t o = 0; o < outCount; ++o) {
        const T* base = in + plan.outerOffsets[static_cast<size_t>(o)];
        T& dst = out[o];
        switch (kind) {
            case ReduceKind::kSum: dst = storeAccum<T>(sumOf(base, identity)); break;
            case ReduceKind::kSumSquare: dst = storeAccum<T>(sumOf(base, square)); break;
            case ReduceKind::kL1: dst = storeAccum<T>(sumOf(base, absolute)); break;
            case ReduceKind::kMean: {
                const A s = sumOf(base, identity);
                if constexpr (kIsFloat) {
                    dst = castFromDouble<T>(s / static_cast<double>(n));  // 0/0 = NaN for an empty reduction
                } else {
                    dst = n == 0 ? T(0) : static_cast<T>(s / static_cast<A>(n));
                }
                break;
            }
            case ReduceKind::kL2: dst = castFromDouble<T>(std::sqrt(static_cast<double>(sumOf(base, square)))); break;
            case ReduceKind::kLogSum:
                dst = castFromDouble<T>(std::log(static_cast<double>(sumOf(base, identity))));
                break;
            case ReduceKind::kProd: {
                A acc = A(1);
                for (int64_t r = 0; r < n; ++r) acc = wrapMul(acc, static_cast<A>(static_cast<C>(base[inner[r]])));
                dst = storeAccum<T>(acc);
                break;
            }
            case ReduceKind::kMax:
            case ReduceKind::kMin: {
                const bool isMax = kind == ReduceKind::kMax;
                // Identity of an empty reduction: -inf/+inf for floats (ONNX's reference), the type's limits else.
                C best = kIsFloat ? (isMax ? -std::numeric_limits<C>::infinity() : std::numeric_limits<C>::infinity())
                                  : (isMax ? std::numeric_limits<C>::lowest() : std::numeric_limits<C>::max());
                for (int64_t r = 0; r < n; ++r) {
                    const C v = static_cast<C>(base[inner[r]]);
                    if (v != v) {  // NaN propagates, as in numpy
                        best = v;
                        break;
                    }
                    if (isMax ? v > best : v < best) best = v;
                }
                dst = fromCompute<T>(best);
                break;
            }
            case ReduceKind::kLogSumExp: {
                double mx = -std::numeric_limits<double>::infinity();
                for (int64_t r = 0; r < n; ++r) mx = std::fmax(mx, static_cast<double>(static_cast<C>(base[inner[r]])));
                if (std::isinf(mx)) {  // empty, all -inf, or a +inf present: the max is the answer
                    dst = castFromDouble<T>(mx);
                    break;
                }
                double s = 0.0;
                for (int64_t r = 0; r < n; ++r) s += std::exp(static_cast<double>(static_cast<C>(base[inner[r]])) - mx);
                dst = castFromDouble<T>(mx + std::log(s));
                break;
            }
        }
    }
    return Status::ok();
}

Status reduceKernel(KernelContext& ctx, ReduceKind kind) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 2));
    const Tensor& x = ctx.input(0);
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axes, reduceAxes(ctx));
    const bool keepdims = ctx.attrs().getInt("keepdims", 1) != 0;
    if (axes.empty() && ctx.attrs().getInt("noop_with_empty_axes", 0) != 0) {
        ctx.outputs[0] = x;  // the spec's no-op: the input passes through unchanged
        return Status::ok();
    }
    std::vector<bool> flags(static_cast<size_t>(x.rank()), true);
    if (!axes.empty()) {
        KILN_ASSIGN_OR_RETURN(flags, axesToFlags(axes, x.rank()));
    }
    KILN_ASSIGN_OR_RETURN(ReducePlan plan, makeReducePlan(x.shape(), flags, keepdims));
    return dispatchNumeric(x.dtype(), [&]<typename T>() {
        KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, x.dtype(), plan.outShape));
        return runReduce<T>(x, *y, plan, kind);
    });
}

Status argKernel(KernelContext& ctx, bool isMax) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const Tensor& x = ctx.input(0);
    const bool keepdims = ctx.attrs().getInt("keepdims", 1) != 0;
    const bool selectLast = ctx.attrs().getInt("select_last_index", 0) != 0;
    // A scalar is treated as a 1-element vector along axis 0.
    const Shape shape = x.rank() == 0 ? Shape{1} : x.shape();
    KILN_ASSIGN_OR_RETURN(int64_t axis,
                          normalizeAxis(ctx.attrs().getInt("axis", 0), static_cast<int64_t>(shape.size())));
    const auto rank = static_cast<int64_t>(shape.size());
    if (shape[static_cast<size_t>(axis)] == 0 && dimProduct(shape, 0, axis) * dimProduct(shape, axis + 1, rank) != 0) {
        return invalidArgument(std::string("cannot take the arg") + (isMax ? "max" : "min") + " over axis " +
                               std::to_string(axis) + " of size 0 (input shape " + shapeToString(x.shape()) + ")");
    }
    std::vector<bool> flags(shape.size(), false);
    flags[static_cast<size_t>(axis)] = true;
    KILN_ASSIGN_OR_RETURN(ReducePlan plan, makeReducePlan(shape, flags, keepdims));
    return dispatchNumeric(x.dtype(), [&]<typename T>() {
        using C = ComputeT<T>;
        KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, DataType::kInt64, plan.outShape));
        const T* in = x.data<T>();
        int64_t* out = y->data<int64_t>();
        const int64_t n = plan.reduceCount();
        for (size_t o = 0; o < plan.outerOffsets.size(); ++o) {
            const T* base = in + plan.outerOffsets[o];
            int64_t bestIdx = 0;
            C best = static_cast<C>(base[0]);
            for (int64_t r = 1; r < n && best == best; ++r) {
                const C v = static_cast<C>(base[plan.innerOffsets[static_cast<size_t>(r)]]);
                // NaN wins (numpy's argmax/argmin return the first NaN); ties go to the first or last index.
                const bool better = v != v || (isMax ? v > best : v < best) || (selectLast && v == best);
                if (better) {
                    best = v;
                    bestIdx = r;
                }
            }
            out[o] = bestIdx;
        }
        return Status::ok();
    });
}

}  // namespace

Status kernelReduceSum(KernelContext& ctx) { return reduceKernel(ctx, ReduceKind::kSum); }
Status kernelReduceMean(KernelContext& ctx) { return reduceKernel(ctx, ReduceKind::kMean); }
Status kernelReduceMax(KernelContext& ctx) { return reduceKernel(ctx, ReduceKind::kMax); }
Status kernelReduceMin(KernelContext& ctx) { return reduceKernel(ctx, ReduceKind::kMin); }
Status kernelReduceProd(KernelContext& ctx) { return reduceKernel(ctx, ReduceKind::kProd); }
Status kernelReduceL1(KernelContext& ctx) { return reduceKernel(ctx, ReduceKind::kL1); }
Status kernelReduceL2(KernelContext& ctx) { return reduceKernel(ctx, ReduceKind::kL2); }
Status kernelReduceLogSum(KernelContext& ctx) { return reduceKernel(ctx, ReduceKind::kLogSum); }
Status kernelReduceLogSumExp(KernelContext& ctx) { return reduceKernel(ctx, ReduceKind::kLogSumExp); }
Status kernelReduceSumSquare(KernelContext& ctx) { return reduceKernel(ctx, ReduceKind::kSumSquare); }
Status kernelArgMax(KernelContext& ctx) { return argKernel(ctx, true); }
Status kernelArgMin(KernelContext& ctx) { return argKernel(ctx, false); }

}  // namespace kiln::cpu
