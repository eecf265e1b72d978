// Runs an optimized graph on one GPU: device kernels where the op table has them, the CPU reference kernel on the
// host for the rest (and for shape arithmetic), with the copies between them made where values cross.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "backends/cuda/device_memory.h"
#include "backends/cuda/device_tensor.h"
#include "backends/cuda/kernel.h"
#include "backends/cuda/placement.h"
#include "ir/graph.h"

namespace kiln::cuda {

//! Per graph, computed once per engine: placement of every node, the last reader of every value, and the
//! constants on the device. Immutable after create(); shared by the engine's contexts.
class ExecutionPlan {
public:
    //! Plans `graph` and uploads its device-side constants to the current device (synchronously).
    static Result<std::shared_ptr<const ExecutionPlan>> create(const ir::Graph& graph);
    ExecutionPlan(const ExecutionPlan&) = delete;
    ExecutionPlan& operator=(const ExecutionPlan&) = delete;

    const ir::Graph& graph() const { return mGraph; }
    Placement placement(size_t node) const { return mNodes.placement[node]; }
    //! Why a node runs on the host ("no CUDA kernel", "integer shape arithmetic", ...); empty for device nodes.
    const std::string& hostReason(size_t node) const { return mNodes.reason[node]; }
    //! The nodes computed once per input-shape signature, and the values of theirs that runs keep (placement.h).
    const ShapeOnly& shapeOnly() const { return mShapeOnly; }
    bool isKeptShapeValue(const ir::Value* v) const { return mKept.count(v) > 0; }
    //! Whether an enqueue (with its shape-only values cached) can be captured into a CUDA graph, and why not.
    const CaptureVerdict& captureVerdict() const { return mVerdict; }
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
    NodePlacement mNodes;
    ShapeOnly mShapeOnly;
    std::unordered_set<const ir::Value*> mKept;
    CaptureVerdict mVerdict;
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

//! The shape-only values (placement.h) of one input-shape signature: computed by the first run at those shapes,
//! reused by the later ones, which then skip the nodes that made them. Host tensors serve host readers; device
//! copies (owned here, outside the arena, uploaded once) serve device readers, so a later run moves nothing
//! between host and device for them, and their addresses stay fixed while this lives (CUDA graph replay relies
//! on it). Not thread-safe: one per execution context and signature.
class ShapeValues {
public:
    ShapeValues() = default;
    ShapeValues(const ShapeValues&) = delete;
    ShapeValues& operator=(const ShapeValues&) = delete;
    //! True once a run recorded them.
    bool ready() const { return mReady; }

private:
    friend class Executor;
    bool mReady = false;
    std::vector<std::pair<const ir::Value*, Tensor>> mHost;
    std::vector<DeviceTensor> mDevice;  //!< Parallel to mHost; undefined for strings.
    std::vector<DeviceBuffer> mStorage;
};

//! One run of a plan. Inputs are the caller's memory; outputs come back in the run's arena (or aliasing an input
//! or constant, or on the host); copy them out before the next run of the same arena.
class Executor {
public:
    explicit Executor(const ExecutionPlan& plan) : mPlan(plan) {}
    //! With `shapeValues`: when ready, its values are used and the shape-only nodes skipped; otherwise this run
    //! records them (uploading the device copies on `state.stream`, which must not be capturing then).
    Result<std::vector<RunValue>> run(RunState& state, const std::vector<RunValue>& inputs,
                                      ShapeValues* shapeValues = nullptr) const;

private:
    const ExecutionPlan& mPlan;
};

}  // namespace kiln::cuda
