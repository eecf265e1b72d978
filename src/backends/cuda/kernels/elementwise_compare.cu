// Broadcasting comparisons (Equal Less LessOrEqual Greater GreaterOrEqual) and logic (And Or Xor) on the GPU, with
// a bool output. float16/bfloat16 compare in float (exact); NaN follows IEEE rules (only != is true).
#include "backends/cuda/kernels/elementwise.h"
#include "backends/cuda/kernels/elementwise_kernels.cuh"

namespace kiln::cuda {

namespace {

#define KILN_COMPARE_FUNCTOR(NAME, EXPR)                      \
    struct NAME {                                             \
        template <typename C>                                 \
        __host__ __device__ bool operator()(C a, C b) const { \
            return EXPR;                                      \
        }                                                     \
    };
KILN_COMPARE_FUNCTOR(EqualOp, a == b)
KILN_COMPARE_FUNCTOR(LessOp, a < b)
KILN_COMPARE_FUNCTOR(LessOrEqualOp, a <= b)
KILN_COMPARE_FUNCTOR(GreaterOp, a > b)
KILN_COMPARE_FUNCTOR(GreaterOrEqualOp, a >= b)
KILN_COMPARE_FUNCTOR(AndOp, a&& b)
KILN_COMPARE_FUNCTOR(OrOp, a || b)
KILN_COMPARE_FUNCTOR(XorOp, a != b)
#undef KILN_COMPARE_FUNCTOR

}  // namespace

Status launchCompare(BinaryOp op, DataType dtype, const void* a, const Dims& aShape, const void* b, const Dims& bShape,
                     void* y, const Dims& yShape, cudaStream_t stream) {
#define KILN_COMPARE_CASE(OP, FUNCTOR)                                                                                 \
    case BinaryOp::OP:                                                                                                 \
        return launchSameTypeBinary<binaryDtypes(BinaryOp::OP), true>(dtype, FUNCTOR, a, aShape, b, bShape, y, yShape, \
                                                                      stream)
    switch (op) {
        KILN_COMPARE_CASE(kEqual, EqualOp());
        KILN_COMPARE_CASE(kLess, LessOp());
        KILN_COMPARE_CASE(kLessOrEqual, LessOrEqualOp());
        KILN_COMPARE_CASE(kGreater, GreaterOp());
        KILN_COMPARE_CASE(kGreaterOrEqual, GreaterOrEqualOp());
        KILN_COMPARE_CASE(kAnd, AndOp());
        KILN_COMPARE_CASE(kOr, OrOp());
        KILN_COMPARE_CASE(kXor, XorOp());
        default: break;
    }
#undef KILN_COMPARE_CASE
    return internalError("binary op " + std::to_string(static_cast<int>(op)) + " has no comparison kernel");
}

}  // namespace kiln::cuda
