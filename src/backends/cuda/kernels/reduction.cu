// Reduce* and ArgMax/ArgMin kernels over a ReduceGeometry.
//
// Two layouts, chosen by where the reduced elements lie in memory:
//  - reduced innermost: a warp (short reductions) or a 256-thread block per output strides along the reduction,
//    reading consecutive elements, then combines with warp shuffles (and shared memory across warps);
//  - kept innermost: a 32x8 block serves 32 neighbouring outputs, each thread column strides down the reduced
//    dims, so a warp reads 32 consecutive elements; the 8 partial results per output meet in shared memory.
// Float16/bfloat16/float32 accumulate in float, float64 in double, integers in wrapping 64-bit arithmetic.
#include "backends/cuda/kernels/reduction.h"
#include "backends/cuda/kernels/reduction_common.cuh"

namespace kiln::cuda {

namespace {

using namespace red;

//! One Reduce* op: identity, per-element map, combine, and the final conversion to T.
template <typename T, ReduceOp K>
struct ReduceFn {
    using Acc = std::conditional_t<K == ReduceOp::kLogSumExp, FloatMath<T>, Wide<T>>;
    using Out = T;
    const Acc* shift = nullptr;  //!< LogSumExp: each output's maximum (from MaxFn's pass).

    __device__ Acc identity() const {
        if constexpr (K == ReduceOp::kProd) {
            return Acc(1);
        } else if constexpr (K == ReduceOp::kMax) {
            if constexpr (kIsIntegral<T>) return Acc(Limits<T>::lowest());
            else return -infinity<Acc>();
        } else if constexpr (K == ReduceOp::kMin) {
            if constexpr (kIsIntegral<T>) return Acc(Limits<T>::max());
            else return infinity<Acc>();
        } else {
            return Acc(0);
        }
    }
    __device__ Acc load(T raw, int64_t o, int64_t /*r*/) const {
        const Acc v = static_cast<Acc>(widen(raw));
        if constexpr (K == ReduceOp::kL1) return absValue(v);
        else if constexpr (K == ReduceOp::kL2 || K == ReduceOp::kSumSquare) return wrapMul(v, v);
        else if constexpr (K == ReduceOp::kLogSumExp) return mathExp(v - shift[o]);
        else return v;
    }
    __device__ Acc combine(Acc a, Acc b) const {
        if constexpr (K == ReduceOp::kProd) {
            return wrapMul(a, b);
        } else if constexpr (K == ReduceOp::kMax || K == ReduceOp::kMin) {
            if (isNan(a)) return a;  // NaN propagates, as in numpy and the CPU reference
            if (isNan(b)) return b;
            return (K == ReduceOp::kMax ? a > b : a < b) ? a : b;
        } else {
            return wrapAdd(a, b);
        }
    }
    __device__ T finish(Acc a, int64_t n, int64_t o) const {
        if constexpr (K == ReduceOp::kMean) {
            if constexpr (kIsIntegral<T>) return n == 0 ? T(0) : static_cast<T>(a / static_cast<Acc>(n));
            else return storeAs<T>(a / static_cast<Acc>(n));  // 0/0 = NaN for an empty reduction
        } else if constexpr (K == ReduceOp::kL2 || K == ReduceOp::kLogSum) {
            if constexpr (kIsIntegral<T>) {
                const double d = static_cast<double>(a);
                return castFromDouble<T>(K == ReduceOp::kL2 ? sqrt(d) : log(d));
            } else {
                return storeAs<T>(K == ReduceOp::kL2 ? mathSqrt(a) : mathLog(a));
            }
        } else if constexpr (K == ReduceOp::kLogSumExp) {
            const Acc m = shift[o];
            // Empty, all -inf, or a +inf present: the maximum is the answer (no inf - inf).
            const Acc r = (m == infinity<Acc>() || m == -infinity<Acc>()) ? m : m + mathLog(a);
            if constexpr (kIsIntegral<T>) return castFromDouble<T>(r);
            else return storeAs<T>(r);
        } else {
            return storeAs<T>(a);  // integers wrap to T, as the CPU's static_cast
        }
    }
};

//! LogSumExp's first pass: the maximum, ignoring NaN (std::fmax, as the CPU), written as the accumulator.
template <typename T>
struct MaxFn {
    using Acc = FloatMath<T>;
    using Out = Acc;
    __device__ Acc identity() const { return -infinity<Acc>(); }
    __device__ Acc load(T raw, int64_t, int64_t) const { return static_cast<Acc>(widen(raw)); }
    __device__ Acc combine(Acc a, Acc b) const { return maxIgnoringNaN(a, b); }
    __device__ Acc finish(Acc a, int64_t, int64_t) const { return a; }
};

//! ArgMax/ArgMin: a total order (NaN first, then the extreme value, then the index rule), so the parallel
//! combination picks exactly the element the CPU's sequential scan picks.
template <typename T>
struct ArgFn {
    using W = Wide<T>;
    using Acc = ArgAcc<W>;
    using Out = int64_t;
    bool isMax = true;
    bool selectLast = false;

    __device__ Acc identity() const { return {W(0), -1}; }
    __device__ Acc load(T raw, int64_t, int64_t r) const { return {widen(raw), r}; }
    __device__ Acc combine(Acc a, Acc b) const {
        if (a.i < 0) return b;
        if (b.i < 0) return a;
        const bool aNaN = isNan(a.v);
        const bool bNaN = isNan(b.v);
        if (aNaN || bNaN) {
            if (aNaN && bNaN) return a.i < b.i ? a : b;  // the first NaN wins
            return aNaN ? a : b;
        }
        if (a.v != b.v) return (isMax ? a.v > b.v : a.v < b.v) ? a : b;
        return (selectLast ? a.i > b.i : a.i < b.i) ? a : b;
    }
    __device__ int64_t finish(Acc a, int64_t, int64_t) const { return a.i < 0 ? 0 : a.i; }
};

constexpr int kBlock = 256;
constexpr int kColumnsX = 32;  // outputs per block in the kept-innermost layout
constexpr int kColumnsY = 8;   // threads per output there

template <typename T, typename Op>
__global__ void __launch_bounds__(kBlock)
    reduceGroupsKernel(const T* __restrict__ x, typename Op::Out* __restrict__ y, ReduceGeometry g, Op op, int group) {
    using A = typename Op::Acc;
    const int perBlock = kBlock / group;
    const int lane = static_cast<int>(threadIdx.x) % group;
    auto combine = [&op](A a, A b) { return op.combine(a, b); };
    // Every thread runs the same number of iterations (groupAllReduce may synchronize the block).
    for (int64_t first = int64_t{blockIdx.x} * perBlock; first < g.outCount; first += int64_t{gridDim.x} * perBlock) {
        const int64_t o = first + static_cast<int>(threadIdx.x) / group;
        A acc = op.identity();
        if (o < g.outCount) {
            const T* base = x + g.kept.offset(o);
            for (int64_t r = lane; r < g.reduceCount; r += group)
                acc = op.combine(acc, op.load(base[g.reduced.offset(r)], o, r));
        }
        acc = groupAllReduce(acc, combine, op.identity(), group);
        if (lane == 0 && o < g.outCount) y[o] = op.finish(acc, g.reduceCount, o);
    }
}

template <typename T, typename Op>
__global__ void __launch_bounds__(kColumnsX* kColumnsY)
    reduceColumnsKernel(const T* __restrict__ x, typename Op::Out* __restrict__ y, ReduceGeometry g, Op op) {
    using A = typename Op::Acc;
    __shared__ A partial[kColumnsY][kColumnsX];
    for (int64_t first = int64_t{blockIdx.x} * kColumnsX; first < g.outCount; first += int64_t{gridDim.x} * kColumnsX) {
        const int64_t o = first + threadIdx.x;
        A acc = op.identity();
        if (o < g.outCount) {
            const T* base = x + g.kept.offset(o);
            for (int64_t r = threadIdx.y; r < g.reduceCount; r += kColumnsY)
                acc = op.combine(acc, op.load(base[g.reduced.offset(r)], o, r));
        }
        partial[threadIdx.y][threadIdx.x] = acc;
        __syncthreads();
        if (threadIdx.y == 0 && o < g.outCount) {
            for (int k = 1; k < kColumnsY; ++k) acc = op.combine(acc, partial[k][threadIdx.x]);
            y[o] = op.finish(acc, g.reduceCount, o);
        }
        __syncthreads();
    }
}

template <typename T, typename Op>
cudaError_t runReduction(const T* x, typename Op::Out* y, const ReduceGeometry& g, const Op& op, cudaStream_t s) {
    if (g.outCount == 0) return cudaSuccess;
    if (g.reducedInnermost) {
        const int group = g.reduceCount > 256 ? kBlock : 32;
        reduceGroupsKernel<T, Op><<<gridFor(g.outCount, kBlock / group), kBlock, 0, s>>>(x, y, g, op, group);
    } else {
        reduceColumnsKernel<T, Op><<<gridFor(g.outCount, kColumnsX), dim3(kColumnsX, kColumnsY), 0, s>>>(x, y, g, op);
    }
    return cudaGetLastError();
}

template <typename T, ReduceOp K>
cudaError_t reduceAs(const void* x, void* y, const ReduceGeometry& g, void* workspace, cudaStream_t s) {
    const T* in = static_cast<const T*>(x);
    ReduceFn<T, K> fn;
    if constexpr (K == ReduceOp::kLogSumExp) {
        auto* shift = static_cast<FloatMath<T>*>(workspace);
        const cudaError_t e = runReduction(in, shift, g, MaxFn<T>{}, s);
        if (e != cudaSuccess) return e;
        fn.shift = shift;
    }
    return runReduction(in, static_cast<T*>(y), g, fn, s);
}

}  // namespace

size_t reduceWorkspaceBytes(ReduceOp op, DataType type, const ReduceGeometry& g) {
    if (op != ReduceOp::kLogSumExp) return 0;
    const bool isFloatMath = type == DataType::kFloat32 || type == DataType::kFloat16 || type == DataType::kBFloat16;
    return static_cast<size_t>(g.outCount) * (isFloatMath ? sizeof(float) : sizeof(double));
}

cudaError_t launchReduce(ReduceOp op, DataType type, const void* x, void* y, const ReduceGeometry& g, void* workspace,
                         cudaStream_t stream) {
    return dispatchDevice<dtypes::kNumeric>(type, [&](auto tag) {
        using T = typename decltype(tag)::type;
        switch (op) {
            case ReduceOp::kSum: return reduceAs<T, ReduceOp::kSum>(x, y, g, workspace, stream);
            case ReduceOp::kMean: return reduceAs<T, ReduceOp::kMean>(x, y, g, workspace, stream);
            case ReduceOp::kMax: return reduceAs<T, ReduceOp::kMax>(x, y, g, workspace, stream);
            case ReduceOp::kMin: return reduceAs<T, ReduceOp::kMin>(x, y, g, workspace, stream);
            case ReduceOp::kProd: return reduceAs<T, ReduceOp::kProd>(x, y, g, workspace, stream);
            case ReduceOp::kL1: return reduceAs<T, ReduceOp::kL1>(x, y, g, workspace, stream);
            case ReduceOp::kL2: return reduceAs<T, ReduceOp::kL2>(x, y, g, workspace, stream);
            case ReduceOp::kLogSum: return reduceAs<T, ReduceOp::kLogSum>(x, y, g, workspace, stream);
            case ReduceOp::kLogSumExp: return reduceAs<T, ReduceOp::kLogSumExp>(x, y, g, workspace, stream);
            case ReduceOp::kSumSquare: return reduceAs<T, ReduceOp::kSumSquare>(x, y, g, workspace, stream);
        }
        return cudaErrorInvalidValue;
    });
}

cudaError_t launchArgReduce(bool isMax, bool selectLast, DataType type, const void* x, int64_t* y,
                            const ReduceGeometry& g, cudaStream_t stream) {
    return dispatchDevice<dtypes::kNumeric>(type, [&](auto tag) {
        using T = typename decltype(tag)::type;
        ArgFn<T> fn;
        fn.isMax = isMax;
        fn.selectLast = selectLast;
        return runReduction(static_cast<const T*>(x), y, g, fn, stream);
    });
}

}  // namespace kiln::cuda
