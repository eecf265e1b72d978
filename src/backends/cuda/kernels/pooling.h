// Launchers of the pooling family (C++17 declarations; kernels in pooling.cu). Each enqueues on `stream` and
// returns the launch status; empty problems launch nothing.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kiln/dtype.h"

namespace kiln::cuda {

//! A sliding window padded to 3 spatial dims (the CPU's nn::Window, as plain data): planes are D x H x W.
struct PoolWindow {
    int64_t in[3];
    int64_t kernel[3];
    int64_t stride[3];
    int64_t dilation[3];
    int64_t padBegin[3];
    int64_t padEnd[3];
    int64_t out[3];
};

enum class PoolOp {
    kMax,                //!< first largest in-bounds tap (float types, int8, uint8); optional int64 indices
    kAverage,            //!< mean over the in-bounds taps
    kAverageIncludePad,  //!< sum over the in-bounds taps / taps inside input + padding
    kLp,                 //!< (sum |x|^p)^(1/p) over the in-bounds taps
};

//! One thread per output of `planes` (image, channel) planes. `indices` (kMax, may be null) gets the flat input
//! index of each maximum, in storage_order 1 (column-major within the plane) when `columnMajor`.
cudaError_t launchPool(PoolOp op, DataType type, const void* x, void* y, int64_t* indices, int64_t planes,
                       const PoolWindow& window, bool columnMajor, int64_t p, cudaStream_t stream);

//! The same over channels-last data: x [batch, spatial..., channels] → y [batch, out..., channels] (kMax,
//! kAverage, kAverageIncludePad; no indices). Takes pooling_nhwc.cu's vectorized kernel where
//! poolChannelsLastVectorized says so, else launchPoolChannelsLastGeneric; both match the CPU reference bit for bit.
cudaError_t launchPoolChannelsLast(PoolOp op, DataType type, const void* x, void* y, int64_t batch, int64_t channels,
                                   const PoolWindow& window, cudaStream_t stream);

//! Whether launchPoolChannelsLast takes the vectorized kernel: a float type (or int8/uint8 for kMax), 16-byte
//! aligned x and y, channels * element size a multiple of 16 bytes, a 2-D window (in[0] == 1) whose arithmetic
//! fits 32 bits. The kernel gives each thread 16 bytes of channels of one output position.
bool poolChannelsLastVectorized(PoolOp op, DataType type, const void* x, const void* y, int64_t channels,
                                const PoolWindow& window);

//! The general channels-last kernel (pooling.cu: one thread per output element, any window and alignment); the
//! fallback of launchPoolChannelsLast, public so tests and benchmarks can compare the two paths.
cudaError_t launchPoolChannelsLastGeneric(PoolOp op, DataType type, const void* x, void* y, int64_t batch,
                                          int64_t channels, const PoolWindow& window, cudaStream_t stream);

enum class GlobalPoolOp { kAverage, kMax, kLp };

//! y[plane] = the op over the `size` contiguous elements of each plane (float types).
cudaError_t launchGlobalPool(GlobalPoolOp op, DataType type, const void* x, void* y, int64_t planes, int64_t size,
                             int64_t p, cudaStream_t stream);

//! How many blocks share the `size` positions of each image in launchGlobalAverageChannelsLast (1: no partial sums).
int64_t globalAverageSplits(int64_t batch, int64_t size, int64_t channels);

//! y [batch, channels] = the mean over the `size` positions of x [batch, size, channels] (channels-last; float
//! types, float accumulation). With splits > 1, `partial` holds batch * splits * channels accumulators (float, or
//! double for float64) of workspace.
cudaError_t launchGlobalAverageChannelsLast(DataType type, const void* x, void* y, int64_t batch, int64_t size,
                                            int64_t channels, int64_t splits, void* partial, cudaStream_t stream);

//! y[dst[i]] = x[src[i]] for i < count (MaxUnpool's scatter; y was zero-filled and dst has no repeats).
cudaError_t launchScatter(DataType type, const void* x, void* y, const int64_t* src, const int64_t* dst, int64_t count,
                          cudaStream_t stream);

}  // namespace kiln::cuda
