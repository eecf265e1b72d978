// Per-node timing of CUDA runs for profilers (kiln::Profiler, `kiln inspect --profile`): a pair of CUDA events
// around each node's work on the run's stream. The events are created once per node and reused across runs.
#pragma once

#include <cuda_runtime.h>

#include <utility>
#include <vector>

#include "kiln/status.h"

namespace kiln::cuda {

class NodeTimer {
public:
    NodeTimer() = default;
    NodeTimer(const NodeTimer&) = delete;
    NodeTimer& operator=(const NodeTimer&) = delete;
    ~NodeTimer();

    //! Records the start / end event of node `index` on `stream` (the run's stream).
    Status begin(size_t index, cudaStream_t stream);
    Status end(size_t index, cudaStream_t stream);
    //! After the stream's work finished (the caller synchronizes): (node index, ms) for each node timed since the
    //! last collect, in the order they ran.
    Result<std::vector<std::pair<size_t, float>>> collect();
    //! Forgets the nodes timed since the last collect (a run that failed half-way).
    void reset() { mOrder.clear(); }

private:
    struct Events {
        cudaEvent_t start = nullptr;
        cudaEvent_t stop = nullptr;
    };
    Status ensure(size_t index);
    std::vector<Events> mEvents;
    std::vector<size_t> mOrder;
};

}  // namespace kiln::cuda
