// The CUDA backend's kernel interface and op table.
//
// A CUDA kernel is `Status fn(CudaKernelContext&)`, written in a .cpp file (C++20: validation, output shapes,
// choice of launch) that calls a plain launcher declared in kernels/<family>.h and defined in kernels/<family>.cu
// (C++17 for nvcc: the __global__ functions and per-dtype instantiations). It reads device inputs, and for the
// inputs it declares "host" (shape-like tensors such as Reshape's `shape` or Slice's `starts`) their host copies,
// allocates outputs from the context's arena and enqueues work on ctx.stream() only. It never synchronizes and
// never allocates device memory itself (workspace comes from ctx.workspace()).
//
// Ops without an entry in the table run on the host through the CPU reference kernel, with the copies made
// explicit (docs/operators.md lists which, and why).
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstdint>
#include <vector>

#include "backends/cuda/device_memory.h"
#include "backends/cuda/device_tensor.h"
#include "backends/cuda/node_timer.h"
#include "ir/graph.h"
#include "kiln/status.h"
#include "kiln/tensor.h"
#include "passes/layer_precision.h"

namespace kiln::cuda {

class TacticTuner;

//! What an execution context gives its kernels for one run.
struct RunState {
    cudaStream_t stream = nullptr;
    cudnnHandle_t cudnn = nullptr;        //!< Set when the plan has an op listed in executor.cpp's usesCudnn.
    cublasLtHandle_t cublasLt = nullptr;  //!< Set when the plan has an op listed in usesCublasLt.
    DeviceArena* arena = nullptr;
    size_t workspaceLimit = 0;     //!< 0: no limit (BuilderConfig's memory-pool limit otherwise).
    bool allowTf32 = true;         //!< TF32 tensor-core math for FP32 Conv/Gemm/MatMul.
    bool poisonOutputs = false;    //!< Tests: fill each new output with 0xFF bytes (NaN for floats) first.
    NodeTimer* timer = nullptr;    //!< Profilers: events around each node (node_timer.h); null: none.
    TacticTuner* tuner = nullptr;  //!< The build's tactic timing run (tactics.h); null when running an engine.
};

struct CudaKernelContext {
    const ir::Node& node;
    RunState& run;
    std::vector<const DeviceTensor*> inputs;     //!< nullptr for omitted inputs and for host inputs.
    std::vector<const Tensor*> hostInputs;       //!< Host copies of the inputs the op declares host-side, else nullptr.
    std::vector<DeviceTensor> outputs;           //!< One per node output; fill the ones wantsOutput.
    std::vector<std::shared_ptr<void>> scratch;  //!< Workspace handed out during this kernel call.

    size_t numInputs() const { return inputs.size(); }
    //! Present as a device or a host input.
    bool hasInput(size_t i) const { return i < inputs.size() && (inputs[i] != nullptr || hostInputs[i] != nullptr); }
    const DeviceTensor& input(size_t i) const { return *inputs[i]; }
    const Tensor& hostInput(size_t i) const { return *hostInputs[i]; }
    size_t numOutputs() const { return outputs.size(); }
    bool wantsOutput(size_t i) const { return i < outputs.size() && node.output(i) != nullptr; }
    const ir::Attributes& attrs() const { return node.attrs(); }
    int64_t opset() const { return node.opset(); }
    cudaStream_t stream() const { return run.stream; }
    //! TF32 math for this node's FP32 Conv/Gemm/MatMul: allowed by the build and the node not pinned to fp32. A layer
    //! kept in FP32 (setLayerPrecision(..., kFloat32), or by the accuracy guard under kTF32) computes in IEEE FP32.
    bool tf32Allowed() const { return run.allowTf32 && passes::pinnedPrecision(node) != DataType::kFloat32; }

    //! Output i from the arena (uninitialized; poisoned in tests).
    Result<DeviceTensor*> allocateOutput(size_t i, DataType type, Shape shape);
    //! Output i as a view of `source`'s memory with another shape of the same element count (Reshape & co).
    Status aliasOutput(size_t i, const DeviceTensor& source, Shape shape);
    //! Output i as a view of the `shape`-sized part of `source`'s memory starting `elementOffset` elements in (a
    //! Split along a leading axis); it keeps `source`'s memory alive.
    Status viewOutput(size_t i, const DeviceTensor& source, int64_t elementOffset, Shape shape);
    //! Device scratch memory valid until this kernel returns (its work is stream-ordered before any reuse).
    //! kOutOfRange when `bytes` exceeds the workspace limit: choose an algorithm that needs less.
    Result<void*> workspace(size_t bytes);
    //! Checks the input count is in [minCount, maxCount] and the first `minCount` are present.
    Status requireInputs(size_t minCount, size_t maxCount = SIZE_MAX) const;
};

using CudaKernelFn = Status (*)(CudaKernelContext&);

//! One op's CUDA implementation: the kernel and which inputs (bit i = input i) it reads on the host.
struct CudaOpEntry {
    CudaKernelFn fn = nullptr;
    uint32_t hostInputs = 0;
};

//! Filled once by the family registration functions listed in kernel_table.cpp.
class KernelRegistry {
public:
    void add(ir::OpKind op, CudaKernelFn fn, uint32_t hostInputMask = 0);
    const CudaOpEntry& find(ir::OpKind op) const noexcept;

private:
    std::vector<CudaOpEntry> mEntries = std::vector<CudaOpEntry>(static_cast<size_t>(ir::kOpCount));
};

//! The CUDA entry of an op; fn == nullptr when the op runs on the host.
const CudaOpEntry& cudaKernel(ir::OpKind op) noexcept;

//! Bit mask for host inputs: hostMask({1}) for "input 1 is read on the host".
constexpr uint32_t hostMask(std::initializer_list<int> inputs) {
    uint32_t m = 0;
    for (int i : inputs) m |= 1u << i;
    return m;
}

}  // namespace kiln::cuda
