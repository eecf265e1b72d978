#include "runtime/cuda_graphs.h"

#include "backends/cuda/check.h"

namespace kiln::runtime {

SignatureState::~SignatureState() { dropGraph(); }

void SignatureState::dropGraph() {
    if (exec) (void)cudaGraphExecDestroy(exec);
    exec = nullptr;
    addresses.clear();
}

SignatureState& SignatureCache::at(const std::vector<Shape>& inputShapes) {
    if (auto it = mStates.find(inputShapes); it != mStates.end()) return *it->second;
    if (mStates.size() >= kMaxSignatures) {
        mStates.erase(mOrder.front());
        mOrder.erase(mOrder.begin());
    }
    mOrder.push_back(inputShapes);
    return *mStates.emplace(inputShapes, std::make_unique<SignatureState>()).first->second;
}

void SignatureCache::dropGraphs() {
    for (auto& [shapes, state] : mStates) {
        state->dropGraph();
        state->notCapturable.clear();  // a capture that failed for want of arena memory may succeed now
    }
}

Status captureGraph(cudaStream_t stream, const std::function<Status()>& body, cudaGraphExec_t& exec, bool& updated) {
    updated = false;
    // Thread-local mode: a call of this thread that capture forbids (cudaMalloc, a synchronization) fails the
    // capture instead of going unrecorded; other threads are not affected.
    KILN_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    const Status enqueued = body();
    cudaGraph_t graph = nullptr;
    const cudaError_t ended = cudaStreamEndCapture(stream, &graph);
    // A failed capture leaves its error as the last one; clear it so that later checks report their own.
    (void)cudaGetLastError();
    Status s = Status::ok();
    if (!enqueued) {
        s = enqueued;
    } else if (ended != cudaSuccess) {
        s = cuda::cudaFailure(ended, "cudaStreamEndCapture");
    } else if (exec != nullptr) {
        cudaGraphExecUpdateResultInfo info{};
        if (cudaGraphExecUpdate(exec, graph, &info) == cudaSuccess) {
            updated = true;
        } else {
            (void)cudaGetLastError();
            (void)cudaGraphExecDestroy(exec);
            exec = nullptr;
        }
    }
    if (s.isOk() && exec == nullptr) {
        const cudaError_t made = cudaGraphInstantiate(&exec, graph, 0);
        if (made != cudaSuccess) {
            exec = nullptr;
            s = cuda::cudaFailure(made, "cudaGraphInstantiate");
        }
    }
    if (graph) (void)cudaGraphDestroy(graph);
    return s;
}

bool streamIsCapturing(cudaStream_t stream) {
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    if (cudaStreamIsCapturing(stream, &status) != cudaSuccess) {
        // The legacy stream cannot be queried while another stream captures in global mode: say "capturing",
        // which makes enqueue run plainly.
        (void)cudaGetLastError();
        return true;
    }
    return status != cudaStreamCaptureStatusNone;
}

}  // namespace kiln::runtime
