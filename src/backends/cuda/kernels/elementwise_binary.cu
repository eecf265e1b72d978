// Broadcasting arithmetic on the GPU: Add Sub Mul Div Mod (both fmod modes) BitShift PRelu, and Pow with mixed
// base/exponent dtypes. Integer arithmetic wraps and divides as the CPU reference does
// (backends/cpu/kernels/elementwise_binary.cpp): x/0 and x%0 give 0, MIN/-1 wraps, shifts past the width give 0.
#include <type_traits>

#include "backends/cuda/kernels/elementwise.h"
#include "backends/cuda/kernels/elementwise_kernels.cuh"
#include "backends/cuda/kernels/elementwise_math.cuh"

namespace kiln::cuda {

namespace {

struct Plus {
    template <typename U>
    __host__ __device__ U operator()(U a, U b) const {
        return a + b;
    }
};
struct Minus {
    template <typename U>
    __host__ __device__ U operator()(U a, U b) const {
        return a - b;
    }
};
struct Times {
    template <typename U>
    __host__ __device__ U operator()(U a, U b) const {
        return a * b;
    }
};

//! Integers in wrapping arithmetic, floats plain.
template <typename Op>
struct ArithmeticOp {
    template <typename C>
    __host__ __device__ C operator()(C a, C b) const {
        if constexpr (std::is_integral_v<C>) {
            return wrapping(a, b, Op());
        } else {
            return Op()(a, b);
        }
    }
};

struct DivOp {
    template <typename C>
    __host__ __device__ C operator()(C a, C b) const {
        if constexpr (std::is_integral_v<C>) {
            if (b == C(0)) return C(0);
            if constexpr (std::is_signed_v<C>) {
                if (b == C(-1)) return wrapping(C(0), a, Minus());
            }
            return static_cast<C>(a / b);
        } else {
            return a / b;
        }
    }
};

struct ModOp {
    bool cMod;  //!< fmod=1: the result takes the dividend's sign (C %); fmod=0: the divisor's (Python %)
    template <typename C>
    __host__ __device__ C operator()(C a, C b) const {
        if constexpr (std::is_integral_v<C>) {
            if (b == C(0)) return C(0);
            if constexpr (std::is_signed_v<C>) {
                if (b == C(-1)) return C(0);
                const C r = static_cast<C>(a % b);
                if (!cMod && r != C(0) && ((r < C(0)) != (b < C(0)))) return static_cast<C>(r + b);
                return r;
            } else {
                return static_cast<C>(a % b);
            }
        } else {
            return dmath::fmod(a, b);
        }
    }
};

struct BitShiftOp {
    bool left;
    template <typename C>
    __host__ __device__ C operator()(C a, C b) const {
        if (b >= C(sizeof(C) * 8)) return C(0);  // every bit shifted out
        using W = std::conditional_t<(sizeof(C) < sizeof(unsigned)), unsigned, C>;
        return static_cast<C>(left ? static_cast<W>(a) << b : static_cast<W>(a) >> b);
    }
};

struct PReluOp {
    template <typename C>
    __host__ __device__ C operator()(C v, C s) const {
        if constexpr (std::is_unsigned_v<C>) {
            return v;
        } else if constexpr (std::is_integral_v<C>) {
            return v < C(0) ? wrapping(s, v, Times()) : v;
        } else {
            return v < C(0) ? static_cast<C>(s * v) : v;
        }
    }
};

// ---- Pow: the exponent's dtype is read at run time (a uniform branch per element), so the kernels are
// instantiated per base dtype only.

__host__ __device__ __forceinline__ double loadAsDouble(const void* p, DataType t, int64_t i) {
    switch (t) {
        case DataType::kFloat32: return static_cast<const float*>(p)[i];
        case DataType::kFloat64: return static_cast<const double*>(p)[i];
        case DataType::kFloat16: return __half2float(static_cast<const __half*>(p)[i]);
        case DataType::kBFloat16: return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
        case DataType::kInt8: return static_cast<const int8_t*>(p)[i];
        case DataType::kInt16: return static_cast<const int16_t*>(p)[i];
        case DataType::kInt32: return static_cast<const int32_t*>(p)[i];
        case DataType::kInt64: return static_cast<double>(static_cast<const int64_t*>(p)[i]);
        case DataType::kUInt8: return static_cast<const uint8_t*>(p)[i];
        case DataType::kUInt16: return static_cast<const uint16_t*>(p)[i];
        case DataType::kUInt32: return static_cast<const uint32_t*>(p)[i];
        case DataType::kUInt64: return static_cast<double>(static_cast<const uint64_t*>(p)[i]);
        default: return 0.0;
    }
}

//! Integer exponent as 64 bits: sign-extended for signed dtypes, zero-extended for unsigned ones.
__host__ __device__ __forceinline__ uint64_t loadAsBits(const void* p, DataType t, int64_t i) {
    switch (t) {
        case DataType::kInt8: return static_cast<uint64_t>(static_cast<int64_t>(static_cast<const int8_t*>(p)[i]));
        case DataType::kInt16: return static_cast<uint64_t>(static_cast<int64_t>(static_cast<const int16_t*>(p)[i]));
        case DataType::kInt32: return static_cast<uint64_t>(static_cast<int64_t>(static_cast<const int32_t*>(p)[i]));
        case DataType::kInt64: return static_cast<uint64_t>(static_cast<const int64_t*>(p)[i]);
        case DataType::kUInt8: return static_cast<const uint8_t*>(p)[i];
        case DataType::kUInt16: return static_cast<const uint16_t*>(p)[i];
        case DataType::kUInt32: return static_cast<const uint32_t*>(p)[i];
        case DataType::kUInt64: return static_cast<const uint64_t*>(p)[i];
        default: return 0;
    }
}

//! base^exp by squaring, wrapping on overflow; negative exponents give the truncated real result (0 except for
//! bases 1 and -1).
template <typename B>
__host__ __device__ B integerPow(B base, uint64_t bits, bool signedExp) {
    const auto exp = static_cast<int64_t>(bits);
    if (signedExp && exp < 0) {
        if (base == B(1)) return B(1);
        if constexpr (std::is_signed_v<B>) {
            if (base == B(-1)) return exp % 2 == 0 ? B(1) : B(-1);
        }
        return B(0);
    }
    B result = 1;
    uint64_t e = bits;
    while (e != 0) {
        if (e & 1U) result = wrapping(result, base, Times());
        base = wrapping(base, base, Times());
        e >>= 1U;
    }
    return result;
}

template <typename B>
__global__ void __launch_bounds__(kBlockSize)
    powKernel(const B* __restrict__ x, const void* __restrict__ e, DataType expType, bool intExp, bool signedExp,
              B* __restrict__ y, int64_t n, BroadcastMap<2> map) {
    for (int64_t i = globalThreadIndex(); i < n; i += gridStride()) {
        int64_t off[2];
        map.offsets(i, off);
        if constexpr (std::is_integral_v<B>) {
            if (intExp) {
                y[i] = integerPow(x[off[0]], loadAsBits(e, expType, off[1]), signedExp);
                continue;
            }
        }
        // numpy computes mixed and float powers in the promoted float type (double here), then casts to the base's.
        y[i] = storeAs<B>(::pow(static_cast<double>(loadAcc(x[off[0]])), loadAsDouble(e, expType, off[1])));
    }
}

}  // namespace

Status launchBinary(BinaryOp op, DataType dtype, const void* a, const Dims& aShape, const void* b, const Dims& bShape,
                    void* y, const Dims& yShape, cudaStream_t stream) {
#define KILN_BINARY_CASE(OP, FUNCTOR)                                                                           \
    case BinaryOp::OP:                                                                                          \
        return launchSameTypeBinary<binaryDtypes(BinaryOp::OP), false>(dtype, FUNCTOR, a, aShape, b, bShape, y, \
                                                                       yShape, stream)
    switch (op) {
        KILN_BINARY_CASE(kAdd, ArithmeticOp<Plus>());
        KILN_BINARY_CASE(kSub, ArithmeticOp<Minus>());
        KILN_BINARY_CASE(kMul, ArithmeticOp<Times>());
        KILN_BINARY_CASE(kDiv, DivOp());
        KILN_BINARY_CASE(kMod, ModOp{false});
        KILN_BINARY_CASE(kFmod, ModOp{true});
        KILN_BINARY_CASE(kBitShiftLeft, BitShiftOp{true});
        KILN_BINARY_CASE(kBitShiftRight, BitShiftOp{false});
        KILN_BINARY_CASE(kPRelu, PReluOp());
        default: return launchCompare(op, dtype, a, aShape, b, bShape, y, yShape, stream);
    }
#undef KILN_BINARY_CASE
}

Status launchPow(DataType baseType, const void* x, const Dims& xShape, DataType expType, const void* e,
                 const Dims& eShape, void* y, const Dims& yShape, cudaStream_t stream) {
    KILN_RETURN_IF_ERROR(checkDtype(baseType, dtypes::kNumeric, "Pow input 0 'X'"));
    KILN_RETURN_IF_ERROR(checkDtype(expType, dtypes::kNumeric, "Pow input 1 'Y'"));
    return dispatchDtype<dtypes::kNumeric>(
        baseType,
        [&](auto tag) -> Status {
            using B = typename decltype(tag)::type;
            const int64_t n = numelOf(yShape);
            if (n <= 0) return Status::ok();
            BroadcastMap<2> map;
            const Dims* shapes[2] = {&xShape, &eShape};
            KILN_RETURN_IF_ERROR(makeBroadcastMap<2>(yShape, shapes, map));
            const LaunchConfig cfg = gridStrideConfig(n);
            powKernel<B><<<cfg.blocks, cfg.threads, 0, stream>>>(
                static_cast<const B*>(x), e, expType, dtypes::contains(dtypes::kInteger, expType),
                dtypes::contains(dtypes::kSignedInt, expType), static_cast<B*>(y), n, map);
            KILN_CUDA_CHECK(cudaGetLastError());
            return Status::ok();
        },
        "Pow input 0 'X'");
}

}  // namespace kiln::cuda
