// Launchers of Resize/Upsample (resize.cu) and GridSample (grid_sample.cu). Both replicate the CPU reference's
// float arithmetic operation by operation (no FMA contraction), so nearest-neighbour picks the same pixels and the
// interpolating modes agree to rounding of the final sum.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "kiln/dtype.h"

namespace kiln::cuda {

inline constexpr int kMaxResizeDims = 8;

// The values of cpu::ResizeMode, cpu::CoordMode and cpu::NearestMode (cpu/op_plans.h), as plain ints.
enum ResizeModeCode : int32_t { kResizeNearest = 0, kResizeLinear = 1, kResizeCubic = 2 };
enum CoordModeCode : int32_t {
    kCoordHalfPixel = 0,
    kCoordPytorchHalfPixel = 1,
    kCoordAlignCorners = 2,
    kCoordAsymmetric = 3,
    kCoordTfHalfPixelForNn = 4,
    kCoordTfCropAndResize = 5,
};
enum NearestModeCode : int32_t {
    kNearestRoundPreferFloor = 0,
    kNearestRoundPreferCeil = 1,
    kNearestFloor = 2,
    kNearestCeil = 3,
    kNearestSimple = 4,
};

struct ResizeAxis {
    int64_t inLen = 1;
    int64_t outLen = 1;
    int64_t stride = 1;  //!< Input elements per step along the axis.
    float scale = 1.0F;
    float resizedLen = 1.0F;
    float roiStart = 0.0F;
    float roiEnd = 1.0F;
    bool interpolate = false;
};

struct ResizeDesc {
    int32_t rank = 0;
    int32_t mode = kResizeNearest;
    int32_t coord = kCoordHalfPixel;
    int32_t nearest = kNearestRoundPreferFloor;
    float cubicA = -0.75F;
    bool excludeOutside = false;
    float extrapolation = 0.0F;  //!< Linear/cubic: converted to the output type as the reference does.
    ResizeAxis axes[kMaxResizeDims];
};

//! Device workspace the per-axis tap tables need.
size_t resizeWorkspaceBytes(const ResizeDesc& desc);

//! Resizes x into y (shapes: the axes' inLen and outLen). Nearest mode moves `type`'s elements as words and writes
//! `nearestFill` (one element) where tf_crop_and_resize extrapolates; linear and cubic take numeric types only
//! (cudaErrorInvalidValue otherwise). `workspace` holds resizeWorkspaceBytes(desc) bytes.
cudaError_t launchResize(const void* x, void* y, DataType type, const ResizeDesc& desc, const void* nearestFill,
                         void* workspace, cudaStream_t stream);

enum GridSampleModeCode : int32_t { kSampleBilinear = 0, kSampleNearest = 1, kSampleBicubic = 2 };
enum GridPaddingCode : int32_t { kPadZeros = 0, kPadBorder = 1, kPadReflection = 2 };

//! GridSample of x [n, c, hIn, wIn] (numeric `xType`) at grid [n, hOut, wOut, 2] (float `gridType`) into y
//! [n, c, hOut, wOut].
cudaError_t launchGridSample(const void* x, DataType xType, const void* grid, DataType gridType, void* y, int64_t n,
                             int64_t c, int64_t hIn, int64_t wIn, int64_t hOut, int64_t wOut, int32_t mode,
                             int32_t padding, bool alignCorners, cudaStream_t stream);

}  // namespace kiln::cuda
