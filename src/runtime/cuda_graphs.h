// The CUDA graphs of one execution context: per input-shape signature, the cached shape-only values (the first
// enqueue at those shapes records them), the output shapes, and the instantiated graph with the I/O addresses it
// was captured for. cuda_engine.cpp decides when to capture, replay or fall back (kiln.h: setCudaGraphs).
#pragma once

#include <cuda_runtime.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backends/cuda/executor.h"

namespace kiln::runtime {

//! The I/O addresses (and capacities) an enqueue binds, inputs then outputs: part of a graph's key.
using IoAddresses = std::vector<std::pair<void*, size_t>>;

//! One input-shape signature of a context.
struct SignatureState {
    SignatureState() = default;
    SignatureState(const SignatureState&) = delete;
    SignatureState& operator=(const SignatureState&) = delete;
    ~SignatureState();
    //! Destroys the graph (its addresses are no longer valid, or it is being replaced).
    void dropGraph();

    cuda::ShapeValues values;
    std::vector<Shape> outputShapes;  //!< Set by the first (recording) enqueue.
    cudaGraphExec_t exec = nullptr;
    IoAddresses addresses;      //!< What `exec` was captured with.
    std::string notCapturable;  //!< Why capture failed for good at these shapes (empty: try).
};

//! The signatures a context has seen. Bounded: past kMaxSignatures the oldest state is dropped (a model fed
//! every sequence length keeps at most that many graphs and shape-value sets).
class SignatureCache {
public:
    static constexpr size_t kMaxSignatures = 64;
    SignatureState& at(const std::vector<Shape>& inputShapes);
    //! Destroys every graph (the arena moved), keeping the cached values.
    void dropGraphs();

private:
    std::map<std::vector<Shape>, std::unique_ptr<SignatureState>> mStates;
    std::vector<std::vector<Shape>> mOrder;  // insertion order, for eviction
};

//! Captures `body` (which enqueues on `stream`) into a graph and instantiates it, or updates `exec` in place when it
//! is set and the update is possible (cudaGraphExecUpdate). On success `exec` is launchable and `updated` says
//! which happened. A failure ends the capture, clears CUDA's sticky last error and returns the reason; `body`'s
//! work was then recorded, not run.
Status captureGraph(cudaStream_t stream, const std::function<Status()>& body, cudaGraphExec_t& exec, bool& updated);

//! Whether `stream` is capturing now (a caller's capture); false for the legacy default stream when it cannot say.
bool streamIsCapturing(cudaStream_t stream);

}  // namespace kiln::runtime
