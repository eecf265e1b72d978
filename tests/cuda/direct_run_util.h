// Calling CUDA kernels and library paths directly, without an engine: a run state with cuDNN and cuBLASLt handles, a
// workspace arena and a node of the op (its attributes empty: no tactic), on the default stream. Shared by the kernel
// tests and microbenchmarks that time one layer; also the best of cuDNN's graph configs for a fused convolution.
#pragma once

#include <cublasLt.h>
#include <cudnn.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backends/cuda/device_memory.h"
#include "backends/cuda/kernels/conv_cudnn_graph.h"
#include "cuda/speed_test_util.h"
#include "ir/graph.h"

namespace kiln::testing {

//! What a kernel call needs: cuDNN, cuBLASLt, workspace, a node of `op`.
class DirectKernelRun {
public:
    DirectKernelRun(ir::OpKind op, size_t arenaBytes) : mGraph("direct") {
        EXPECT_EQ(cudnnCreate(&mCudnn), CUDNN_STATUS_SUCCESS);
        EXPECT_EQ(cublasLtCreate(&mLt), CUBLAS_STATUS_SUCCESS);
        EXPECT_TRUE(mArena.reserve(arenaBytes).isOk());
        mRun.cudnn = mCudnn;
        mRun.cublasLt = mLt;
        mRun.arena = &mArena;
        mNode = mGraph.addNode(op, "layer", 1);
    }
    ~DirectKernelRun() {
        cublasLtDestroy(mLt);
        cudnnDestroy(mCudnn);
    }
    DirectKernelRun(const DirectKernelRun&) = delete;
    DirectKernelRun& operator=(const DirectKernelRun&) = delete;

    //! A fresh context per call (workspace handed out by one call is released with it).
    cuda::CudaKernelContext context() { return cuda::CudaKernelContext{*mNode, mRun, {}, {}, {}, {}}; }

private:
    cudnnHandle_t mCudnn = nullptr;
    cublasLtHandle_t mLt = nullptr;
    cuda::DeviceArena mArena;
    cuda::RunState mRun;
    ir::Graph mGraph;
    ir::Node* mNode = nullptr;
};

//! The median ms of the fused convolution `call` through the graph config `tactic`; -1 when cuDNN refuses it.
inline double graphTacticMs(DirectKernelRun& run, const cuda::GraphConvCall& call, const std::string& tactic) {
    bool ran = true;
    const double ms = medianMs([&]() -> Status {
        cuda::CudaKernelContext ctx = run.context();
        KILN_ASSIGN_OR_RETURN(ran, cuda::runGraphConvTactic(ctx, call, tactic));
        return Status::ok();
    });
    return ran ? ms : -1;
}

//! The fastest of `tactics` for `call` (ms, -1 when none runs); its tactic in `best` when given.
inline double bestGraphTacticMs(DirectKernelRun& run, const cuda::GraphConvCall& call,
                                const std::vector<std::string>& tactics, std::string* best = nullptr) {
    double bestMs = -1;
    for (const std::string& tactic : tactics) {
        const double ms = graphTacticMs(run, call, tactic);
        if (ms > 0 && (bestMs < 0 || ms < bestMs)) {
            bestMs = ms;
            if (best) *best = tactic;
        }
    }
    return bestMs;
}

}  // namespace kiln::testing
