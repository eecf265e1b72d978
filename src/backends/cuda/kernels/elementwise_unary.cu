// Unary math on the GPU: Abs Neg Sign Ceil Floor Round Reciprocal Sqrt Exp Log Erf, trigonometric and hyperbolic
// functions, Not, IsNaN, IsInf. Each op is a functor over the compute type with the CPU reference's semantics
// (backends/cpu/kernels/elementwise_unary.cpp): integers wrap, float16/bfloat16 compute in float, NaN as numpy.
#include <type_traits>

#include "backends/cuda/kernels/elementwise.h"
#include "backends/cuda/kernels/elementwise_kernels.cuh"
#include "backends/cuda/kernels/elementwise_math.cuh"

namespace kiln::cuda {

namespace {

struct Minus {
    template <typename U>
    __host__ __device__ U operator()(U a, U b) const {
        return a - b;
    }
};

struct AbsOp {
    template <typename C>
    __host__ __device__ C operator()(C v) const {
        if constexpr (std::is_unsigned_v<C>) {
            return v;
        } else if constexpr (std::is_integral_v<C>) {
            return v < C(0) ? wrapping(C(0), v, Minus()) : v;  // the most negative value maps to itself
        } else {
            return dmath::fabs(v);
        }
    }
};

struct NegOp {
    template <typename C>
    __host__ __device__ C operator()(C v) const {
        if constexpr (std::is_integral_v<C>) {
            return wrapping(C(0), v, Minus());
        } else {
            return -v;
        }
    }
};

struct SignOp {
    template <typename C>
    __host__ __device__ C operator()(C v) const {
        if constexpr (std::is_unsigned_v<C>) {
            return static_cast<C>(v > C(0) ? 1 : 0);
        } else {
            if (isNan(v)) return v;
            return static_cast<C>(v > C(0) ? 1 : (v < C(0) ? -1 : 0));
        }
    }
};

struct ReciprocalOp {
    template <typename C>
    __host__ __device__ C operator()(C v) const {
        return C(1) / v;
    }
};

struct ErfOp {
    template <typename C>
    __host__ __device__ auto operator()(C v) const {
        if constexpr (std::is_integral_v<C>) {
            return dmath::erf(static_cast<double>(v));  // truncated back to the integer type on store
        } else {
            return dmath::erf(v);
        }
    }
};

struct NotOp {
    __host__ __device__ bool operator()(bool v) const { return !v; }
};

struct IsNaNOp {
    template <typename C>
    __host__ __device__ bool operator()(C v) const {
        return v != v;
    }
};

struct IsInfOp {
    bool positive;
    bool negative;
    template <typename C>
    __host__ __device__ bool operator()(C v) const {
        return dmath::isinf(v) && (v > C(0) ? positive : negative);
    }
};

// Floating-point functions of one argument: the float or double overload of the CUDA math library.
#define KILN_FLOAT_FUNCTOR(NAME, FN)                  \
    struct NAME {                                     \
        template <typename C>                         \
        __host__ __device__ C operator()(C v) const { \
            return dmath::FN(v);                      \
        }                                             \
    };
KILN_FLOAT_FUNCTOR(CeilOp, ceil)
KILN_FLOAT_FUNCTOR(FloorOp, floor)
KILN_FLOAT_FUNCTOR(RoundOp, rint)  // halves to even, as nearbyint in the default rounding mode
KILN_FLOAT_FUNCTOR(SqrtOp, sqrt)
KILN_FLOAT_FUNCTOR(ExpOp, exp)
KILN_FLOAT_FUNCTOR(LogOp, log)
KILN_FLOAT_FUNCTOR(SinOp, sin)
KILN_FLOAT_FUNCTOR(CosOp, cos)
KILN_FLOAT_FUNCTOR(TanOp, tan)
KILN_FLOAT_FUNCTOR(AsinOp, asin)
KILN_FLOAT_FUNCTOR(AcosOp, acos)
KILN_FLOAT_FUNCTOR(AtanOp, atan)
KILN_FLOAT_FUNCTOR(SinhOp, sinh)
KILN_FLOAT_FUNCTOR(CoshOp, cosh)
KILN_FLOAT_FUNCTOR(AsinhOp, asinh)
KILN_FLOAT_FUNCTOR(AcoshOp, acosh)
KILN_FLOAT_FUNCTOR(AtanhOp, atanh)
#undef KILN_FLOAT_FUNCTOR

template <UnaryOp kOp, typename Op>
Status run(DataType dtype, const void* x, void* y, int64_t n, Op op, cudaStream_t stream) {
    return dispatchDtype<unaryDtypes(kOp)>(dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        using Out = std::conditional_t<kOp == UnaryOp::kIsNaN || kOp == UnaryOp::kIsInf, bool, T>;
        return launchMap<T, Out>(x, y, n, UnaryApply<T, Out, Op>{op}, stream);
    });
}

}  // namespace

Status launchUnary(UnaryOp op, DataType dtype, const void* x, void* y, int64_t n, const UnaryParams& params,
                   cudaStream_t stream) {
#define KILN_UNARY_CASE(OP, FUNCTOR) \
    case UnaryOp::OP: return run<UnaryOp::OP>(dtype, x, y, n, FUNCTOR, stream)
    switch (op) {
        KILN_UNARY_CASE(kAbs, AbsOp());
        KILN_UNARY_CASE(kNeg, NegOp());
        KILN_UNARY_CASE(kSign, SignOp());
        KILN_UNARY_CASE(kCeil, CeilOp());
        KILN_UNARY_CASE(kFloor, FloorOp());
        KILN_UNARY_CASE(kRound, RoundOp());
        KILN_UNARY_CASE(kReciprocal, ReciprocalOp());
        KILN_UNARY_CASE(kSqrt, SqrtOp());
        KILN_UNARY_CASE(kExp, ExpOp());
        KILN_UNARY_CASE(kLog, LogOp());
        KILN_UNARY_CASE(kErf, ErfOp());
        KILN_UNARY_CASE(kSin, SinOp());
        KILN_UNARY_CASE(kCos, CosOp());
        KILN_UNARY_CASE(kTan, TanOp());
        KILN_UNARY_CASE(kAsin, AsinOp());
        KILN_UNARY_CASE(kAcos, AcosOp());
        KILN_UNARY_CASE(kAtan, AtanOp());
        KILN_UNARY_CASE(kSinh, SinhOp());
        KILN_UNARY_CASE(kCosh, CoshOp());
        KILN_UNARY_CASE(kAsinh, AsinhOp());
        KILN_UNARY_CASE(kAcosh, AcoshOp());
        KILN_UNARY_CASE(kAtanh, AtanhOp());
        KILN_UNARY_CASE(kNot, NotOp());
        KILN_UNARY_CASE(kIsNaN, IsNaNOp());
        KILN_UNARY_CASE(kIsInf, (IsInfOp{params.detectPositive, params.detectNegative}));
    }
#undef KILN_UNARY_CASE
    return internalError("unknown unary op " + std::to_string(static_cast<int>(op)));
}

}  // namespace kiln::cuda
