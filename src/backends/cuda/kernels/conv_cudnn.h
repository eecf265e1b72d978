// Convolutions through cuDNN's legacy API (cudnnConvolutionForward, cudnnConvolutionBiasActivationForward and
// cudnnConvolutionBackwardData, in libcudnn_cnn of cuDNN 9): descriptors, algorithm choice and the call, for NCHW
// and channels-last storage.
//
// Algorithm choice: cuDNN's heuristics (cudnnGet*Algorithm_v7) rank the algorithms for the problem; those that are
// allowed (no tensor-op math for float32 when TF32 is off) and fit the workspace budget are kept in that order, in a
// process-wide cache keyed by the problem signature (conv_gemm_common.h). A call runs the first candidate cuDNN
// accepts, and remembers it. Tactics (../tactics.h) come first: in the build's timing run the candidates are timed
// and the fastest kept; when running an engine, the node's recorded tactic is used if its signature is the call's.
#pragma once

#include <array>
#include <string>

#include "backends/cuda/kernel.h"

namespace kiln::cuda {

//! A forward convolution in cuDNN's form: 4-D (1-D problems get a leading spatial dim of 1) or 5-D, dims in NCHW
//! order whatever the storage. For ConvTranspose (backward data), `in` is the op's output and `out` its input.
struct CudnnConvProblem {
    DataType dtype = DataType::kFloat32;
    //! Storage: false for packed NCHW data and [M, C/group, kernel...] filters; true for channels-last data
    //! ([N, spatial..., C]) and [M, kernel..., C/group] filters (KRSC), the layout of the tensor-core kernels.
    bool channelsLast = false;
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

//! out = act(conv(in, filter) + bias + z) in one cudnnConvolutionBiasActivationForward call, act being ReLU
//! (`relu`) or the identity; `bias` has one value per output channel, `z` (optional) the shape of `out`. cuDNN runs
//! the identity only with its IMPLICIT_PRECOMP_GEMM algorithm, so only such candidates are tried for it.
//! kUnsupported when cuDNN takes none of the candidates within `workspaceBudget` (the caller then runs
//! cudnnConvForward and Kiln's epilogue).
Status cudnnConvBiasActivationForward(CudaKernelContext& ctx, const CudnnConvProblem& p, const void* in,
                                      const void* filter, const void* bias, const void* z, bool relu, void* out,
                                      size_t workspaceBudget);

//! The tactic signature (tactics.h) of cudnnConvBiasActivationForward for `p` when it is FP16/BF16 (tensor-op
//! math), as its tactic lookup builds it: tests record a node's tactic with it.
std::string cudnnFusedConvSignature(const CudnnConvProblem& p, bool relu, size_t workspaceBudget);

//! in = the adjoint of conv applied to `out` (ConvTranspose): overwrites `in`. kUnsupported as above.
Status cudnnConvBackwardData(CudaKernelContext& ctx, const CudnnConvProblem& p, const void* out, const void* filter,
                             void* in, size_t workspaceBudget);

//! How many calls above cuDNN refused since the process started (each then ran Kiln's direct kernel): tests check
//! that the cuDNN paths they mean to cover are taken.
uint64_t cudnnConvRefusals();
//! How many cudnnConvBiasActivationForward calls above cuDNN refused (each then ran the convolution and Kiln's
//! epilogue as two launches).
uint64_t cudnnFusedConvRefusals();

}  // namespace kiln::cuda
