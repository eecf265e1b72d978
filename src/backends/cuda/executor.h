// Runs an optimized graph on one GPU: device kernels where the op table has them, the CPU reference kernel on the
// host for the rest (and for shape arithmetic), with the copies between them made where values cross.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "backends/cuda/device_memory.h"
#include "backends/cuda/device_tensor.h"
#include "backends/cuda/kernel.h"
#include "ir/graph.h"

namespace kiln::cuda {

//! Where a node runs.
enum class Placement {
    kDevice,  //!< A CUDA kernel.
    kHost,    //!< The CPU reference kernel (no CUDA kernel, subgraphs, or integer shape arithmetic).
    kMeta,    //!< Shape / Size: computed from the input's shape alone, no data touched.
};

//! Per graph, computed once per engine: placement of every node, the last reader of every value, and the
//! constants on the device. Immutable after create(); shared by the engine's contexts.
class ExecutionPlan {
public:
    //! Plans `graph` and uploads its device-side constants to the current device (synchronously).
    static Result<std::shared_ptr<const ExecutionPlan>> create(const ir::Graph& graph);
    ExecutionPlan(const ExecutionPlan&) = delete;
    ExecutionPlan& operator=(const ExecutionPlan&) = delete;

    const ir::Graph& graph() const { return mGraph; }
    Placement placement(size_t node) const { return mPlacement[node]; }
    //! Why a node runs on the host ("no CUDA kernel", "integer shape arithmetic", ...); empty for device nodes.
    const std::string& hostReason(size_t node) const { return mHostReason[node]; }
    //! Index of the last node that reads the value (SIZE_MAX for graph outputs).
    size_t lastUse(const ir::Value* v) const;
    //! The device copy of a constant, or nullptr when no device node reads it.
    const DeviceTensor* deviceConstant(const ir::Value* v) const;
    size_t deviceConstantBytes() const { return mConstantBytes; }
    //! Whether some device node needs a cuDNN / cuBLASLt handle (creating them costs ~100 ms, so contexts of
    //! plans that need neither skip it).
    bool needsCudnn() const { return mNeedsCudnn; }
    bool needsCublasLt() const { return mNeedsCublasLt; }

private:
    explicit ExecutionPlan(const ir::Graph& graph) : mGraph(graph) {}
    const ir::Graph& mGraph;
    std::vector<Placement> mPlacement;
    std::vector<std::string> mHostReason;
    std::unordered_map<const ir::Value*, size_t> mLastUse;
    std::unordered_map<const ir::Value*, DeviceTensor> mConstants;
    std::vector<DeviceBuffer> mConstantStorage;
    size_t mConstantBytes = 0;
    bool mNeedsCudnn = false;
    bool mNeedsCublasLt = false;
};

//! A graph input or output of a run: on the device, or on the host (strings, and outputs that host nodes made).
struct RunValue {
    DeviceTensor device;
    Tensor host;
    bool onHost = false;
    DataType dtype() const { return onHost ? host.dtype() : device.dtype; }
    const Shape& shape() const { return onHost ? host.shape() : device.shape; }
};

//! One run of a plan. Inputs are the caller's memory; outputs come back in the run's arena (or aliasing an input
//! or constant, or on the host); copy them out before the next run of the same arena.
class Executor {
public:
    explicit Executor(const ExecutionPlan& plan) : mPlan(plan) {}
    Result<std::vector<RunValue>> run(RunState& state, const std::vector<RunValue>& inputs) const;

private:
    const ExecutionPlan& mPlan;
};

}  // namespace kiln::cuda
