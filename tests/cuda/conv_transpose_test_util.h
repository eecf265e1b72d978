// Calling the non-overlapping ConvTranspose's engines (kernels/conv_transpose_gemm.h) directly, without an engine
// (the run state: direct_run_util.h): the ConvShape of an up-sampling, device tensor views. Shared by the
// correctness tests of Kiln's kernel and the UNet microbenchmark.
#pragma once

#include "backends/cuda/kernels/conv_transpose_gemm.h"
#include "cuda/direct_run_util.h"

namespace kiln::testing {

//! The ConvShape of x [n, h, w, c] → y [n, h * kH, w * kW, m] with kernel = stride = (kH, kW).
inline cuda::ConvShape upsampleShape(DataType t, int64_t n, int64_t h, int64_t w, int64_t c, int64_t m, int64_t kH,
                                     int64_t kW) {
    cuda::ConvShape s;
    s.dtype = t;
    s.batch = n;
    s.inC = c;
    s.outC = m;
    s.rank = 2;
    const int64_t in[2] = {h, w}, k[2] = {kH, kW};
    for (int d = 0; d < 2; ++d) {
        s.win.in[d + 1] = in[d];
        s.win.out[d + 1] = in[d] * k[d];
        s.win.kernel[d + 1] = k[d];
        s.win.stride[d + 1] = k[d];
    }
    s.outShape = {n, m, h * kH, w * kW};
    return s;
}

//! A view of device memory as a tensor (not owned).
inline cuda::DeviceTensor deviceTensor(DataType t, void* p, Shape shape) {
    cuda::DeviceTensor d;
    d.dtype = t;
    d.shape = std::move(shape);
    d.data = p;
    return d;
}

}  // namespace kiln::testing
