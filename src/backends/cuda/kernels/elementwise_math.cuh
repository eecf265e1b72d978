// Overloads of the CUDA math library for the elementwise functors: dmath::exp(float) is expf, dmath::exp(double)
// is exp. Always the accurate functions (never the __expf intrinsics): the CPU reference is the yardstick.
#pragma once

#include <cuda_runtime.h>

namespace kiln::cuda::dmath {

#define KILN_DMATH1(NAME)                                                            \
    __host__ __device__ __forceinline__ float NAME(float v) { return ::NAME##f(v); } \
    __host__ __device__ __forceinline__ double NAME(double v) { return ::NAME(v); }

KILN_DMATH1(fabs)
KILN_DMATH1(ceil)
KILN_DMATH1(floor)
KILN_DMATH1(rint)
KILN_DMATH1(sqrt)
KILN_DMATH1(exp)
KILN_DMATH1(expm1)
KILN_DMATH1(log)
KILN_DMATH1(log1p)
KILN_DMATH1(erf)
KILN_DMATH1(sin)
KILN_DMATH1(cos)
KILN_DMATH1(tan)
KILN_DMATH1(asin)
KILN_DMATH1(acos)
KILN_DMATH1(atan)
KILN_DMATH1(sinh)
KILN_DMATH1(cosh)
KILN_DMATH1(tanh)
KILN_DMATH1(asinh)
KILN_DMATH1(acosh)
KILN_DMATH1(atanh)
#undef KILN_DMATH1

__host__ __device__ __forceinline__ float fmod(float a, float b) { return ::fmodf(a, b); }
__host__ __device__ __forceinline__ double fmod(double a, double b) { return ::fmod(a, b); }

__host__ __device__ __forceinline__ bool isinf(float v) { return ::isinf(v); }
__host__ __device__ __forceinline__ bool isinf(double v) { return ::isinf(v); }

}  // namespace kiln::cuda::dmath
