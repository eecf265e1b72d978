// Index values that kernels read on the GPU (Gather's indices, ScatterND's, ReverseSequence's lengths) cannot fail a
// kernel call without a synchronization, so device code checks them and records the first bad one in a small
// device-side record; the element that needed it reads as zero (gathers) or is skipped (scatters). The executor is
// meant to read the record once per run, after it synchronizes anyway, and turn it into the run's error
// (takeDeviceErrors). Index tensors that are graph constants are checked on the host before the launch instead,
// with the CPU reference's messages.
//
// Today the record is one __device__ global per device, shared by every execution context of the process: an error
// in one context's run can be reported by another context that takes the record first. Giving each context its own
// record (a RunState field) only changes errorRecordFor() and takeDeviceErrors().
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace kiln::cuda {

enum DeviceErrorCode : uint32_t {
    kDeviceErrorNone = 0,
    kDeviceIndexOutOfRange = 1,           //!< An index outside [-bound, bound).
    kDeviceSequenceLengthOutOfRange = 2,  //!< A ReverseSequence length outside [0, bound].
};

struct DeviceErrorRecord {
    uint32_t code;     //!< kDeviceErrorNone until a kernel flags an error; the first one wins.
    int32_t axis;      //!< The data axis the index addresses.
    uint64_t nodeTag;  //!< The flagging kernel's node (its ir::Node address).
    int64_t value;     //!< The offending index or length.
    int64_t bound;     //!< The size of the axis it addresses.
};

#ifdef __CUDACC__
__device__ __forceinline__ void flagDeviceError(DeviceErrorRecord* rec, uint32_t code, uint64_t nodeTag, int64_t value,
                                                int64_t bound, int32_t axis) {
    if (atomicCAS(&rec->code, 0u, code) == 0u) {
        rec->axis = axis;
        rec->nodeTag = nodeTag;
        rec->value = value;
        rec->bound = bound;
    }
}
#endif

//! The current device's record (device memory).
cudaError_t deviceErrorRecordAddress(DeviceErrorRecord** out);

}  // namespace kiln::cuda

#ifndef __CUDACC__
#include "kiln/status.h"

namespace kiln::ir {
class Graph;
}

namespace kiln::cuda {

struct CudaKernelContext;

//! The record where the kernels of `ctx` flag bad index values.
Result<DeviceErrorRecord*> errorRecordFor(CudaKernelContext& ctx);
//! An opaque tag naming the kernel's node in the record.
uint64_t nodeTag(const CudaKernelContext& ctx);

//! Reads and clears the current device's record after the work on `stream` (synchronizes it). Returns the flagged
//! error, naming the node when it belongs to `graph`, or ok.
Status takeDeviceErrors(cudaStream_t stream, const ir::Graph& graph);

}  // namespace kiln::cuda
#endif
