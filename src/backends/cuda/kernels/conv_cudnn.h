// Convolutions through cuDNN's legacy API (cudnnConvolutionForward / cudnnConvolutionBackwardData, in
// libcudnn_cnn of cuDNN 9): descriptors, algorithm choice and the call.
//
// Algorithm choice: cuDNN's heuristics (cudnnGet*Algorithm_v7) rank the algorithms for the problem; those that are
// allowed (no tensor-op math for float32 when TF32 is off) and fit the workspace budget are kept in that order, in a
// process-wide cache keyed by the problem signature (conv_gemm_common.h). A call runs the first candidate cuDNN
// accepts, and remembers it. A tactic timer at build time (issue 7) can later fill the same cache.
#pragma once

#include <array>

#include "backends/cuda/kernel.h"

namespace kiln::cuda {

//! A forward convolution in cuDNN's NCHW form: 4-D (1-D problems get a leading spatial dim of 1) or 5-D.
//! For ConvTranspose (backward data), `in` is the op's output and `out` its input.
struct CudnnConvProblem {
    DataType dtype = DataType::kFloat32;
    int nbDims = 4;
    std::array<int, 5> in{};      //!< [N, C, spatial...]
    std::array<int, 5> filter{};  //!< [M, C / group, kernel...]
    std::array<int, 5> out{};     //!< [N, M, spatial...]
    std::array<int, 3> pad{};     //!< Symmetric: cuDNN's legacy API has no asymmetric padding.
    std::array<int, 3> stride{1, 1, 1};
    std::array<int, 3> dilation{1, 1, 1};
    int group = 1;
};

//! out = conv(in, filter). kUnsupported when cuDNN has no algorithm for the problem within `workspaceBudget` bytes
//! (the caller falls back to Kiln's direct kernel).
Status cudnnConvForward(CudaKernelContext& ctx, const CudnnConvProblem& p, const void* in, const void* filter,
                        void* out, size_t workspaceBudget);

//! in = the adjoint of conv applied to `out` (ConvTranspose): overwrites `in`. kUnsupported as above.
Status cudnnConvBackwardData(CudaKernelContext& ctx, const CudnnConvProblem& p, const void* out, const void* filter,
                             void* in, size_t workspaceBudget);

//! How many calls above cuDNN refused since the process started (each then ran Kiln's direct kernel): tests check
//! that the cuDNN paths they mean to cover are taken.
uint64_t cudnnConvRefusals();

}  // namespace kiln::cuda
