#include "backends/cuda/kernels/device_errors.h"

#include <string>

#include "backends/cpu/indexing.h"
#include "backends/cuda/check.h"
#include "backends/cuda/kernel.h"

namespace kiln::cuda {

Result<DeviceErrorRecord*> errorRecordFor(CudaKernelContext& ctx) {
    (void)ctx;  // every context shares the device's record for now (device_errors.h)
    DeviceErrorRecord* rec = nullptr;
    KILN_CUDA_CHECK(deviceErrorRecordAddress(&rec));
    return rec;
}

uint64_t nodeTag(const CudaKernelContext& ctx) { return reinterpret_cast<uintptr_t>(&ctx.node); }

Status takeDeviceErrors(cudaStream_t stream, const ir::Graph& graph) {
    DeviceErrorRecord* rec = nullptr;
    KILN_CUDA_CHECK(deviceErrorRecordAddress(&rec));
    DeviceErrorRecord host{};
    KILN_CUDA_CHECK(cudaMemcpyAsync(&host, rec, sizeof(host), cudaMemcpyDeviceToHost, stream));
    KILN_CUDA_CHECK(cudaStreamSynchronize(stream));
    if (host.code == kDeviceErrorNone) return Status::ok();
    KILN_CUDA_CHECK(cudaMemsetAsync(rec, 0, sizeof(DeviceErrorRecord), stream));
    const ir::Node* node = nullptr;
    for (const auto& n : graph.nodes()) {
        if (reinterpret_cast<uintptr_t>(n.get()) == host.nodeTag) node = n.get();
    }
    Status s;
    if (host.code == kDeviceSequenceLengthOutOfRange) {
        s = invalidArgument("input 'sequence_lens' holds length " + std::to_string(host.value) + ", out of range [0, " +
                            std::to_string(host.bound) + "]");
    } else {
        // The CPU reference names GatherElements' and ScatterElements' index input without its position.
        const bool elements =
            node != nullptr && (node->op() == ir::OpKind::kGatherElements ||
                                node->op() == ir::OpKind::kScatterElements || node->op() == ir::OpKind::kScatter);
        s = cpu::wrapIndex(host.value, host.bound, elements ? "input 'indices'" : "input 1 'indices'", host.axis)
                .status();
        if (s.isOk()) s = internalError("a CUDA kernel flagged index " + std::to_string(host.value) + " in range");
    }
    s = Status(s.code(), s.message() + " (found on the GPU after the run; the outputs hold zeros where it was read)");
    return node != nullptr ? s.withContext(node->describe()) : s;
}

}  // namespace kiln::cuda
