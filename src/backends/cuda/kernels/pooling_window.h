// A pooling op's window on the host, shared by the NCHW pools (pooling.cpp) and the channels-last ones
// (pooling_nhwc.cpp): the CPU reference's resolution, as the plain PoolWindow the kernels take.
#pragma once

#include "backends/cuda/kernels/pooling.h"
#include "ir/attribute.h"
#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::cuda {

//! The window of kernel_shape, strides, dilations, pads / auto_pad and ceil_mode over `spatial` input dims (the
//! CPU's nn::resolveWindow, same messages); `outSpatial` gets the output's spatial dims.
Result<PoolWindow> resolvePoolWindow(const ir::Attributes& attrs, const Shape& spatial, Shape& outSpatial);

}  // namespace kiln::cuda
