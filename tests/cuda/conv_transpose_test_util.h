// Calling the non-overlapping ConvTranspose's engines (kernels/conv_transpose_gemm.h) directly, without an engine:
// a run state with a cuBLASLt handle and a workspace arena, the ConvShape of an up-sampling, device tensor views.
// Shared by the correctness tests of Kiln's kernel and the UNet microbenchmark.
#pragma once

#include <cublasLt.h>
#include <gtest/gtest.h>

#include "backends/cuda/device_memory.h"
#include "backends/cuda/kernels/conv_transpose_gemm.h"
#include "ir/graph.h"

namespace kiln::testing {

//! What a kernel call needs: cuBLASLt, workspace, a node (its attributes are empty: no tactic), the default stream.
class DirectConvTransposeRun {
public:
    explicit DirectConvTransposeRun(size_t arenaBytes) : mGraph("direct") {
        EXPECT_EQ(cublasLtCreate(&mLt), CUBLAS_STATUS_SUCCESS);
        EXPECT_TRUE(mArena.reserve(arenaBytes).isOk());
        mRun.cublasLt = mLt;
        mRun.arena = &mArena;
        mNode = mGraph.addNode(ir::OpKind::kConvTransposeNhwc, "up", 1);
    }
    ~DirectConvTransposeRun() { cublasLtDestroy(mLt); }
    DirectConvTransposeRun(const DirectConvTransposeRun&) = delete;
    DirectConvTransposeRun& operator=(const DirectConvTransposeRun&) = delete;

    //! A fresh context per call (workspace handed out by one call is released with it).
    cuda::CudaKernelContext context() { return cuda::CudaKernelContext{*mNode, mRun, {}, {}, {}, {}}; }

private:
    cublasLtHandle_t mLt = nullptr;
    cuda::DeviceArena mArena;
    cuda::RunState mRun;
    ir::Graph mGraph;
    ir::Node* mNode = nullptr;
};

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
