// Kiln's channels-last convolutions on the GPU: FusedConvNhwc and ConvTransposeNhwc (made by the nhwc-layout pass
// for FP16/BF16 engines; data [N, H, W, C], weights [M, kH, kW, C/group] and [C, kH, kW, M/group]).
//
// The path is cuDNN with NHWC descriptors and KRSC filters, 16-bit data accumulated in float32: the layout its
// tensor-core kernels read without the transposes it adds around NCHW data.
//   - FusedConvNhwc with ReLU or no activation is one cudnnConvolutionBiasActivationForward call: convolution, bias,
//     residual Z and ReLU in one launch (a missing bias is a zeroed workspace vector; the identity runs only with
//     cuDNN's IMPLICIT_PRECOMP_GEMM algorithm, which cuDNN's ranking normally puts first for NHWC FP16). This covers
//     every convolution of ResNet-50 and UNet. With tactics, a timed winner may replace the legacy algorithm: one of
//     cuDNN's graph configs (conv_cudnn_graph.h) or, for few input channels, Kiln's kernel (conv_small_c_tactic.h).
//   - Other activations (Clip, HardSwish, HardSigmoid, Sigmoid, Tanh, LeakyRelu: PP-OCR's) and problems the fused
//     call refuses: cudnnConvolutionForward, then Kiln's epilogue over the output (bias, residual and activation in
//     one pass; channels are innermost, so the bias index is i % C). cuDNN's backend graph API could fuse those
//     activations too, through runtime-compiled engines (NVRTC at plan build, seconds per distinct layer); today its
//     graph configs are tactic candidates of the ReLU / identity fused call only (conv_cudnn_graph.h).
//   - Asymmetric pads: the input is first copied into workspace with the extra zero border (one strided gather).
//     ConvTranspose whose output is not exactly cuDNN's adjoint is computed whole and then cropped / zero-extended.
//   - ConvTranspose whose kernel equals its stride (UNet's 2x2 stride-2 up-sampling; no crop, output_padding,
//     dilation or groups) is cuBLASLt GEMMs that write the output blocks in place, bias in their epilogue
//     (conv_transpose_gemm.h): cuDNN's backward data moved UNet's at ~15% of the copy bandwidth (H100, FP16). Fused
//     into the Concat that reads it (kiln_concat_slot), the GEMMs write its slice of the Concat's output
//     (conv_transpose_concat.h).
//   - float64, and any problem cuDNN refuses: the operands are permuted to NCHW in workspace, Kiln's direct kernel
//     runs, and the result is permuted back: correct everywhere, fast nowhere.
//   - FusedConvNhwc with `kiln_head` (a 1x1 head fused by conv-head-fusion, src/ir/ops.def): Kiln's wgmma kernel
//     computes the head in its epilogue where it serves (conv_wgmma.h: compute capability 9.0, 64 -> 64 channels,
//     ReLU or none, k <= 8), so the intermediate h never reaches device memory; elsewhere h goes through workspace
//     and the two convolutions run as two FusedConvNhwc nodes would.
//   - FusedConvNhwc with `kiln_pool` (a 2x2 MaxPool fused by conv-pool-fusion, src/ir/ops.def): output 1 is the
//     MaxPool of y. Kiln's wgmma kernel pools in its epilogue where it serves (as for the head, and even output dims),
//     so the pool never reads y back; elsewhere y is computed as usual and the channels-last pool kernel runs over it
//     (both bit for bit MaxPoolNhwc's result).
#include <algorithm>
#include <optional>
#include <string>

#include "backends/cpu/nn_common.h"
#include "backends/cuda/check.h"
#include "backends/cuda/kernels/conv_gemm_common.h"
#include "backends/cuda/kernels/conv_shape.h"
#include "backends/cuda/kernels/conv_transpose_concat.h"
#include "backends/cuda/kernels/conv_transpose_gemm.h"
#include "backends/cuda/kernels/conv_wgmma.h"
#include "backends/cuda/kernels/conv_wgmma_tactic.h"
#include "backends/cuda/kernels/data_movement.h"
#include "backends/cuda/kernels/families.h"
#include "backends/cuda/kernels/pooling.h"
#include "backends/cuda/kernels/pooling_window.h"

namespace kiln::cuda {

namespace {

namespace nn = cpu::nn;

//! The NCHW view of a channels-last tensor (dims [a, b, c, d] seen as [a, d, b, c]), data-less: the CPU reference's
//! geometry runs on it, so both backends agree on shapes and messages.
Tensor channelsFirstView(const DeviceTensor& t) {
    return Tensor::wrap(t.dtype, {t.shape[0], t.shape[3], t.shape[1], t.shape[2]}, nullptr);
}

Shape channelsLastShape(const Shape& nchw) { return {nchw[0], nchw[2], nchw[3], nchw[1]}; }

Status requireChannelsLast(const DeviceTensor& t, size_t index, const char* name) {
    if (t.rank() == 4) return Status::ok();
    return invalidArgument("input " + std::to_string(index) + " '" + name + "' must be 4-D channels-last, got " +
                           shapeView(t).describe());
}

//! dst = the 4-D `src` (dims `shape`) with its dims permuted: dst dim j is src dim perm[j].
Status permute4(CudaKernelContext& ctx, DataType dtype, const void* src, const Shape& shape,
                const std::array<int, 4>& perm, void* dst) {
    const int64_t strides[4] = {shape[1] * shape[2] * shape[3], shape[2] * shape[3], shape[3], 1};
    std::vector<GatherDim> dims;
    for (int p : perm) dims.push_back(GatherDim{shape[static_cast<size_t>(p)], strides[p]});
    KILN_CUDA_CHECK(launchStridedGather(src, dst, dataTypeSize(dtype), 0, std::move(dims), nullptr, ctx.stream()));
    return Status::ok();
}

constexpr std::array<int, 4> kToChannelsFirst{0, 3, 1, 2};
constexpr std::array<int, 4> kToChannelsLast{0, 2, 3, 1};

//! dst [N, dstH, dstW, C] = src [N, srcH, srcW, C] at (h - offsetH, w - offsetW), zeros outside src: pads (offsets
//! > 0) or crops (< 0) the spatial dims of channels-last data. spatial dims are padded to 3 (index 0 unused).
Status shiftChannelsLast(CudaKernelContext& ctx, DataType dtype, const void* src, int64_t batch, int64_t channels,
                         const int64_t (&srcDims)[kConvSpatial], const int64_t (&offset)[kConvSpatial],
                         const int64_t (&dstDims)[kConvSpatial], void* dst) {
    const int64_t rowStride = srcDims[2] * channels;
    std::vector<GatherDim> dims{
        GatherDim{batch, srcDims[1] * rowStride},
        GatherDim{dstDims[1], rowStride, DimMap::kPadConstant, srcDims[1], offset[1]},
        GatherDim{dstDims[2], channels, DimMap::kPadConstant, srcDims[2], offset[2]},
        GatherDim{channels, 1},
    };
    KILN_CUDA_CHECK(launchStridedGather(src, dst, dataTypeSize(dtype), 0, std::move(dims), nullptr, ctx.stream()));
    return Status::ok();
}

//! Kiln's direct convolution on NCHW copies of the operands in workspace, the result permuted back into `y`.
Status directChannelsLast(CudaKernelContext& ctx, const ConvShape& s, bool transposed, const DeviceTensor& x,
                          const DeviceTensor& w, DeviceTensor& y) {
    KILN_ASSIGN_OR_RETURN(void* xn, scratchBuffer(ctx, s.dtype, x.numel()));
    KILN_ASSIGN_OR_RETURN(void* wn, scratchBuffer(ctx, s.dtype, w.numel()));
    KILN_ASSIGN_OR_RETURN(void* yn, scratchBuffer(ctx, s.dtype, y.numel()));
    KILN_RETURN_IF_ERROR(permute4(ctx, s.dtype, x.data, x.shape, kToChannelsFirst, xn));
    KILN_RETURN_IF_ERROR(permute4(ctx, s.dtype, w.data, w.shape, kToChannelsFirst, wn));
    KILN_CUDA_CHECK(
        launchDirectConv(s.dtype, transposed, xn, wn, yn, s.batch, s.inC, s.outC, s.group, s.win, ctx.stream()));
    return permute4(ctx, s.dtype, yn, s.outShape, kToChannelsLast, y.data);
}

//! y = act(conv(x, w) + bias + z) through cuDNN (one fused call where it can); kUnsupported when cuDNN has no
//! algorithm for the problem.
Status forwardCudnn(CudaKernelContext& ctx, const ConvShape& s, const DeviceTensor& x, const DeviceTensor& w,
                    const DeviceTensor* bias, const DeviceTensor* z, EpilogueActivation act, DeviceTensor& y) {
    if (s.dtype == DataType::kFloat64) return unsupported("cuDNN's channels-last convolutions have no float64");
    const SymmetricPads pads = planSymmetricPads(s);
    KILN_ASSIGN_OR_RETURN(CudnnConvProblem p, cudnnProblem(s, s.inC, s.outC, pads.padded, s.win.out, pads.sym, true));
    const void* src = x.data;
    size_t used = 0;
    if (pads.explicitBorder) {
        KILN_ASSIGN_OR_RETURN(void* buf, borderedInputBuffer(ctx, s, pads, used));
        KILN_RETURN_IF_ERROR(
            shiftChannelsLast(ctx, s.dtype, x.data, s.batch, s.inC, s.win.in, pads.border, pads.padded, buf));
        src = buf;
    }
    const bool relu = act.kind == EpilogueAct::kRelu;
    if ((relu || act.kind == EpilogueAct::kNone) && (relu || bias || z)) {
        const void* b = bias ? bias->data : nullptr;
        Status st = Status::ok();
        if (b == nullptr) {
            // cuDNN's fused call always adds a bias.
            auto zeros = scratchBuffer(ctx, s.dtype, s.outC);
            if (zeros) {
                KILN_CUDA_CHECK(
                    cudaMemsetAsync(*zeros, 0, static_cast<size_t>(s.outC) * dataTypeSize(s.dtype), ctx.stream()));
                used += static_cast<size_t>(s.outC) * dataTypeSize(s.dtype);
            }
            b = zeros ? *zeros : nullptr;
            st = zeros.status();
        }
        if (st.isOk()) {
            st = cudnnConvBiasActivationForward(ctx, p, src, w.data, b, z ? z->data : nullptr, relu, y.data,
                                                workspaceBudget(ctx, used, SIZE_MAX));
        }
        if (st.code() != ErrorCode::kUnsupported) return st;
    }
    KILN_RETURN_IF_ERROR(cudnnConvForward(ctx, p, src, w.data, y.data, workspaceBudget(ctx, used, SIZE_MAX)));
    return runEpilogue(ctx, y, bias, 1, z, act);
}

//! X and W present and 4-D, at most `maxInputs` inputs.
Status checkOperands(const CudaKernelContext& ctx, size_t maxInputs) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, maxInputs));
    KILN_RETURN_IF_ERROR(requireChannelsLast(ctx.input(0), 0, "X"));
    return requireChannelsLast(ctx.input(1), 1, "W");
}

//! What every form of FusedConvNhwc checks alike: X and W (4-D, one dtype), the geometry, the bias, a float dtype and
//! the activation.
struct FusedConvCall {
    const DeviceTensor& x;
    const DeviceTensor& w;
    ConvShape s;
    const DeviceTensor* bias;
    EpilogueActivation act;
};

Result<FusedConvCall> checkFusedConv(const CudaKernelContext& ctx, size_t maxInputs) {
    KILN_RETURN_IF_ERROR(checkOperands(ctx, maxInputs));
    const DeviceTensor& x = ctx.input(0);
    const DeviceTensor& w = ctx.input(1);
    if (w.dtype != x.dtype) {
        return invalidArgument("input 'W' " + shapeView(w).describe() + " must have the dtype of input 'X' " +
                               shapeView(x).describe());
    }
    KILN_ASSIGN_OR_RETURN(nn::ConvGeometry geo,
                          nn::convGeometry(ctx.attrs(), channelsFirstView(x), channelsFirstView(w)));
    const ConvShape s = convShapeFrom(x.dtype, geo);
    const DeviceTensor* bias = optionalInput(ctx, 2);
    KILN_RETURN_IF_ERROR(checkConvBias(bias, s.outC, s.dtype));
    KILN_RETURN_IF_ERROR(checkConvFloat(s.dtype, "FusedConvNhwc"));
    KILN_ASSIGN_OR_RETURN(EpilogueActivation act, parseFusedActivation(ctx.attrs()));
    return FusedConvCall{x, w, s, bias, act};
}

//! The problem Kiln's wgmma kernel is asked for when a fused epilogue (head, pool) may run in it: none where it cannot
//! (an activation other than ReLU or none, explicit borders, float64); whether the kernel serves the rest is its own
//! call's to say (kUnsupported).
Result<std::optional<CudnnConvProblem>> wgmmaProblem(const ConvShape& s, EpilogueActivation act) {
    const SymmetricPads pads = planSymmetricPads(s);
    if ((act.kind != EpilogueAct::kRelu && act.kind != EpilogueAct::kNone) || pads.explicitBorder ||
        s.dtype == DataType::kFloat64) {
        return std::optional<CudnnConvProblem>{};
    }
    KILN_ASSIGN_OR_RETURN(CudnnConvProblem p, cudnnProblem(s, s.inC, s.outC, pads.padded, s.win.out, pads.sym, true));
    return std::optional<CudnnConvProblem>{p};
}

//! y = act(conv(x, w) + bias + z) as FusedConvNhwc computes it: cuDNN, else Kiln's direct kernel and the epilogue.
Status fusedConvInto(CudaKernelContext& ctx, const ConvShape& s, const DeviceTensor& x, const DeviceTensor& w,
                     const DeviceTensor* bias, const DeviceTensor* z, EpilogueActivation act, DeviceTensor& y) {
    if (x.numel() > 0 && w.numel() > 0) {
        Status st = forwardCudnn(ctx, s, x, w, bias, z, act, y);
        if (st.code() != ErrorCode::kUnsupported) return st;
    }
    KILN_RETURN_IF_ERROR(directChannelsLast(ctx, s, false, x, w, y));
    return runEpilogue(ctx, y, bias, 1, z, act);
}

//! The head's part of a kiln_head node: inputs 4 (W2 [k, 1, 1, M]) and 5 (B2 [k], optional), no residual.
Result<int64_t> checkHeadOperands(const CudaKernelContext& ctx, const ConvShape& s) {
    const std::string node = "FusedConvNhwc '" + ctx.node.name() + "': ";
    if (optionalInput(ctx, 3) != nullptr) return invalidArgument(node + "kiln_head takes no residual input 'Z'");
    const DeviceTensor* w2 = optionalInput(ctx, 4);
    if (w2 == nullptr) return invalidArgument(node + "kiln_head needs the head's weights 'W2' (input 4)");
    const int64_t k = w2->rank() == 4 ? w2->shape[0] : 0;
    if (w2->dtype != s.dtype || w2->shape != Shape{k, 1, 1, s.outC} || k < 1) {
        return invalidArgument(node + "head weights 'W2' " + shapeView(*w2).describe() + " must be [k, 1, 1, " +
                               std::to_string(s.outC) + "] of " + dataTypeName(s.dtype));
    }
    KILN_RETURN_IF_ERROR(checkConvBias(optionalInput(ctx, 5), k, s.dtype));
    return k;
}

//! FusedConvNhwc with kiln_head: y = conv1x1(h, W2) + B2 with h = act(conv(X, W) + B) in the dtype (ops.def).
Status fusedConvHeadNhwc(CudaKernelContext& ctx) {
    KILN_ASSIGN_OR_RETURN(const FusedConvCall call, checkFusedConv(ctx, 6));
    const auto& [x, w, s, bias, act] = call;
    KILN_ASSIGN_OR_RETURN(const int64_t k, checkHeadOperands(ctx, s));
    const DeviceTensor& w2 = ctx.input(4);
    const DeviceTensor* b2 = optionalInput(ctx, 5);
    const Shape hShape = channelsLastShape(s.outShape);
    Shape outShape = hShape;
    outShape[3] = k;
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, s.dtype, outShape));
    if (y->numel() == 0) return Status::ok();
    KILN_ASSIGN_OR_RETURN(const std::optional<CudnnConvProblem> p, wgmmaProblem(s, act));
    if (p && k <= kWgmmaConvMaxHead) {
        const FusedConvOperands ops{x.data, w.data, bias ? bias->data : nullptr, nullptr, y->data};
        const WgmmaConvHead head{w2.data, b2 ? b2->data : nullptr, y->data, static_cast<int>(k)};
        const Status st = runWgmmaConvHead(ctx, *p, ops, act.kind == EpilogueAct::kRelu, head);
        if (st.code() != ErrorCode::kUnsupported) return st;
    }
    // h through workspace, then the head as a FusedConvNhwc of its own (1x1, no activation).
    KILN_ASSIGN_OR_RETURN(void* hData, ctx.workspace(static_cast<size_t>(shapeNumel(hShape)) * dataTypeSize(s.dtype)));
    DeviceTensor h{s.dtype, hShape, hData, nullptr};
    KILN_RETURN_IF_ERROR(fusedConvInto(ctx, s, x, w, bias, nullptr, act, h));
    const ir::Attributes pointwise;
    KILN_ASSIGN_OR_RETURN(nn::ConvGeometry headGeo,
                          nn::convGeometry(pointwise, channelsFirstView(h), channelsFirstView(w2)));
    return fusedConvInto(ctx, convShapeFrom(s.dtype, headGeo), h, w2, b2, nullptr, EpilogueActivation{}, *y);
}

//! FusedConvNhwc with kiln_pool: y (already allocated, non-empty) and output 1 = MaxPool 2x2 stride 2 of y (ops.def).
Status fusedConvPooled(CudaKernelContext& ctx, const FusedConvCall& call, const DeviceTensor* z, DeviceTensor& y) {
    const auto& [x, w, s, bias, act] = call;
    ir::Attributes window;
    window.set("kernel_shape", std::vector<int64_t>{2, 2});
    window.set("strides", std::vector<int64_t>{2, 2});
    Shape spatial;
    KILN_ASSIGN_OR_RETURN(const PoolWindow pw, resolvePoolWindow(window, {y.shape[1], y.shape[2]}, spatial));
    KILN_ASSIGN_OR_RETURN(DeviceTensor * pooled,
                          ctx.allocateOutput(1, s.dtype, {y.shape[0], spatial[0], spatial[1], y.shape[3]}));
    if (y.numel() == 0) return Status::ok();
    KILN_ASSIGN_OR_RETURN(const std::optional<CudnnConvProblem> p, wgmmaProblem(s, act));
    if (p) {
        const FusedConvOperands ops{x.data, w.data, bias ? bias->data : nullptr, z ? z->data : nullptr, y.data};
        const Status st = runWgmmaConvPool(ctx, *p, ops, act.kind == EpilogueAct::kRelu, WgmmaConvPool{pooled->data});
        if (st.code() != ErrorCode::kUnsupported) return st;
    }
    KILN_RETURN_IF_ERROR(fusedConvInto(ctx, s, x, w, bias, z, act, y));
    if (pooled->numel() == 0) return Status::ok();
    KILN_CUDA_CHECK(
        launchPoolChannelsLast(PoolOp::kMax, s.dtype, y.data, pooled->data, y.shape[0], y.shape[3], pw, ctx.stream()));
    return Status::ok();
}

Status fusedConvNhwc(CudaKernelContext& ctx) {
    const int64_t pool = ctx.attrs().getInt("kiln_pool", 0);
    if (ctx.attrs().getInt("kiln_head", 0) != 0) {
        if (pool != 0) {
            return invalidArgument("FusedConvNhwc '" + ctx.node.name() +
                                   "': attributes 'kiln_head' and 'kiln_pool' cannot both be set");
        }
        return fusedConvHeadNhwc(ctx);
    }
    if (pool != 0 && pool != 1) {
        return invalidArgument("FusedConvNhwc '" + ctx.node.name() + "': attribute 'kiln_pool' must be 0 or 1, got " +
                               std::to_string(pool));
    }
    if (pool == 1 && ctx.numOutputs() != 2) {
        return invalidArgument("FusedConvNhwc '" + ctx.node.name() + "': kiln_pool needs 2 outputs (y, pooled), got " +
                               std::to_string(ctx.numOutputs()));
    }
    KILN_ASSIGN_OR_RETURN(const FusedConvCall call, checkFusedConv(ctx, 4));
    const auto& [x, w, s, bias, act] = call;
    const Shape outShape = channelsLastShape(s.outShape);
    const DeviceTensor* z = optionalInput(ctx, 3);
    if (z) {
        KILN_RETURN_IF_ERROR(requireChannelsLast(*z, 3, "Z"));
        if (z->dtype != s.dtype || z->shape != outShape) {
            return invalidArgument("residual input 'Z' " + shapeView(*z).describe() + " must match the output " +
                                   shapeView(DeviceTensor{s.dtype, outShape, nullptr, nullptr}).describe());
        }
    }
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, s.dtype, outShape));
    if (pool == 1) return fusedConvPooled(ctx, call, z, *y);
    if (y->numel() == 0) return Status::ok();
    return fusedConvInto(ctx, s, x, w, bias, z, act, *y);
}

//! y = ConvTranspose(x, w) without bias through cuDNN's backward data; kUnsupported when cuDNN refuses.
Status transposedCudnn(CudaKernelContext& ctx, const ConvShape& s, const DeviceTensor& x, const DeviceTensor& w,
                       DeviceTensor& y) {
    if (s.dtype == DataType::kFloat64) return unsupported("cuDNN's channels-last convolutions have no float64");
    const TransposedConvPlan plan = planTransposedConv(s);
    if (plan.exact) {
        KILN_ASSIGN_OR_RETURN(CudnnConvProblem p,
                              cudnnProblem(s, s.outC, s.inC, s.win.out, s.win.in, s.win.padBegin, true));
        return cudnnConvBackwardData(ctx, p, x.data, w.data, y.data, workspaceBudget(ctx, 0, SIZE_MAX));
    }
    KILN_ASSIGN_OR_RETURN(CudnnConvProblem p, cudnnProblem(s, s.outC, s.inC, plan.full, s.win.in, plan.pad, true));
    const int64_t count = s.batch * s.outC * convSpatialProduct(plan.full);
    KILN_ASSIGN_OR_RETURN(void* buf, scratchBuffer(ctx, s.dtype, count));
    const size_t used = static_cast<size_t>(count) * dataTypeSize(s.dtype);
    KILN_RETURN_IF_ERROR(cudnnConvBackwardData(ctx, p, x.data, w.data, buf, workspaceBudget(ctx, used, SIZE_MAX)));
    return shiftChannelsLast(ctx, s.dtype, buf, s.batch, s.outC, plan.full, plan.shift, s.win.out, y.data);
}

//! y = ConvTranspose(x, w) + bias for the checked problem `s`, y allocated: cuBLASLt GEMMs where the taps do not
//! overlap, else cuDNN's backward data, else the direct kernel.
Status convTransposeInto(CudaKernelContext& ctx, const ConvShape& s, const DeviceTensor& x, const DeviceTensor& w,
                         const DeviceTensor* bias, DeviceTensor& y) {
    if (y.numel() == 0) return Status::ok();
    if (x.numel() > 0 && w.numel() > 0 && convTransposeIsGemm(s)) {
        Status gemm = convTransposeGemm(ctx, s, x, w, bias, y);
        if (gemm.code() != ErrorCode::kUnsupported) return gemm;
    }
    Status st = unsupported("empty operand");
    if (x.numel() > 0 && w.numel() > 0) st = transposedCudnn(ctx, s, x, w, y);
    if (st.code() == ErrorCode::kUnsupported) {
        KILN_RETURN_IF_ERROR(directChannelsLast(ctx, s, true, x, w, y));
    } else {
        KILN_RETURN_IF_ERROR(st);
    }
    return runEpilogue(ctx, y, bias, 1, nullptr, EpilogueActivation{});
}

Status convTransposeNhwc(CudaKernelContext& ctx) {
    // Fused into its Concat (kiln_concat_slot): the Concat's other inputs follow X, W and B.
    const std::optional<int64_t> slot = ctx.attrs().get<int64_t>("kiln_concat_slot");
    KILN_RETURN_IF_ERROR(checkOperands(ctx, slot ? SIZE_MAX : 3));
    if (slot && ctx.numInputs() < 4) {
        return invalidArgument("kiln_concat_slot is set but there is nothing to concatenate: expects 4+ inputs, got " +
                               std::to_string(ctx.numInputs()));
    }
    const DeviceTensor& x = ctx.input(0);
    const DeviceTensor& w = ctx.input(1);
    KILN_ASSIGN_OR_RETURN(nn::ConvTransposeGeometry geo,
                          nn::convTransposeGeometry(ctx.attrs(), channelsFirstView(x), channelsFirstView(w)));
    const ConvShape s = convShapeFrom(x.dtype, geo);
    const DeviceTensor* bias = optionalInput(ctx, 2);
    KILN_RETURN_IF_ERROR(checkConvBias(bias, s.outC, s.dtype));
    KILN_RETURN_IF_ERROR(checkConvFloat(s.dtype, "ConvTransposeNhwc"));
    if (slot) {
        return convTransposeConcat(ctx, s, x, w, bias, *slot,
                                   [&](DeviceTensor& y) { return convTransposeInto(ctx, s, x, w, bias, y); });
    }
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, s.dtype, channelsLastShape(s.outShape)));
    return convTransposeInto(ctx, s, x, w, bias, *y);
}

}  // namespace

void registerNhwcConvKernels(KernelRegistry& r) {
    r.add(ir::OpKind::kFusedConvNhwc, fusedConvNhwc);
    r.add(ir::OpKind::kConvTransposeNhwc, convTransposeNhwc);
}

}  // namespace kiln::cuda
