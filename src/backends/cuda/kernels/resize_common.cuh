// Device math shared by resize.cu and grid_sample.cu.
#pragma once

#include "backends/cuda/kernels/data_movement_common.cuh"

namespace kiln::cuda::dm {

//! Keys' cubic convolution weights of the four taps around a point at distance s past the second tap (the CPU
//! reference's expression, operation by operation).
template <typename F>
__device__ __forceinline__ void cubicCoeffs(F s, F a, F c[4]) {
    s = s < F(0) ? -s : s;
    const F s1 = addRn(s, F(1));
    const F u = subRn(F(1), s);
    const F v = subRn(F(2), s);
    const F a2 = addRn(a, F(2));
    const F a3 = addRn(a, F(3));
    const F a4 = mulRn(F(4), a);
    const F a5 = mulRn(F(5), a);
    const F a8 = mulRn(F(8), a);
    c[0] = subRn(mulRn(addRn(mulRn(subRn(mulRn(a, s1), a5), s1), a8), s1), a4);
    c[1] = addRn(mulRn(mulRn(subRn(mulRn(a2, s), a3), s), s), F(1));
    c[2] = addRn(mulRn(mulRn(subRn(mulRn(a2, u), a3), u), u), F(1));
    c[3] = subRn(mulRn(addRn(mulRn(subRn(mulRn(a, v), a5), v), a8), v), a4);
}

}  // namespace kiln::cuda::dm
