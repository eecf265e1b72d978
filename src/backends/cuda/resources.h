// What one execution context owns on the GPU: library handles, the activation arena, and the device it runs on.
#pragma once

#include <memory>
#include <vector>

#include "backends/cuda/executor.h"
#include "backends/cuda/kernel.h"

namespace kiln::cuda {

//! Options of a run that come from the engine's build config.
struct RunOptions {
    size_t workspaceLimit = 0;
    bool allowTf32 = true;
    bool poisonOutputs = false;
    TacticTuner* tuner = nullptr;  //!< Set only by the build's tactic timing run (tactics.h).
};

class ContextResources {
public:
    //! Selects `device`, reserves `arenaBytes` for activations; the cuDNN and cuBLASLt handles are created by
    //! the first runState() of a plan that needs them.
    static Result<std::unique_ptr<ContextResources>> create(int device, size_t arenaBytes);
    ~ContextResources();
    ContextResources(const ContextResources&) = delete;
    ContextResources& operator=(const ContextResources&) = delete;

    int device() const { return mDevice; }
    DeviceArena& arena() { return mArena; }
    //! The RunState for running `plan` on `stream` (the handles it needs created and bound to the stream).
    Result<RunState> runState(const ExecutionPlan& plan, cudaStream_t stream, const RunOptions& options);

private:
    ContextResources() = default;
    int mDevice = 0;
    cudnnHandle_t mCudnn = nullptr;
    cublasLtHandle_t mCublasLt = nullptr;
    DeviceArena mArena;
};

//! Runs `plan` on host tensors (uploaded, run, downloaded; synchronous). For tests and host-side conveniences.
//! With `timer`, each node is timed (collect after this returns: the run is synchronized).
Result<std::vector<Tensor>> runOnHostTensors(const ExecutionPlan& plan, ContextResources& resources,
                                             const std::vector<Tensor>& inputs, const RunOptions& options,
                                             NodeTimer* timer = nullptr);

//! True when a CUDA device is usable by this process.
bool gpuAvailable() noexcept;

}  // namespace kiln::cuda
