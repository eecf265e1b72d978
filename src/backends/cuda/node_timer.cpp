#include "backends/cuda/node_timer.h"

#include "backends/cuda/check.h"

namespace kiln::cuda {

NodeTimer::~NodeTimer() {
    for (Events& e : mEvents) {
        if (e.start) cudaEventDestroy(e.start);
        if (e.stop) cudaEventDestroy(e.stop);
    }
}

Status NodeTimer::ensure(size_t index) {
    if (index >= mEvents.size()) mEvents.resize(index + 1);
    Events& e = mEvents[index];
    if (e.start == nullptr) KILN_CUDA_CHECK(cudaEventCreate(&e.start));
    if (e.stop == nullptr) KILN_CUDA_CHECK(cudaEventCreate(&e.stop));
    return Status::ok();
}

Status NodeTimer::begin(size_t index, cudaStream_t stream) {
    KILN_RETURN_IF_ERROR(ensure(index));
    KILN_CUDA_CHECK(cudaEventRecord(mEvents[index].start, stream));
    mOrder.push_back(index);
    return Status::ok();
}

Status NodeTimer::end(size_t index, cudaStream_t stream) {
    KILN_RETURN_IF_ERROR(ensure(index));
    KILN_CUDA_CHECK(cudaEventRecord(mEvents[index].stop, stream));
    return Status::ok();
}

Result<std::vector<std::pair<size_t, float>>> NodeTimer::collect() {
    std::vector<std::pair<size_t, float>> out;
    out.reserve(mOrder.size());
    for (size_t index : mOrder) {
        float ms = 0;
        KILN_CUDA_CHECK(cudaEventElapsedTime(&ms, mEvents[index].start, mEvents[index].stop));
        out.emplace_back(index, ms);
    }
    mOrder.clear();
    return out;
}

}  // namespace kiln::cuda
