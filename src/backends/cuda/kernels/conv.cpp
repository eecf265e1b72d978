// Conv, ConvTranspose and Kiln's FusedConv on the GPU.
//
// The convolution itself is cuDNN's (conv_cudnn.cpp): Conv through cudnnConvolutionForward, ConvTranspose through
// cudnnConvolutionBackwardData (its adjoint). cuDNN's legacy API pads symmetrically only, so
//   - a Conv with asymmetric pads (auto_pad SAME_* with an odd total, or explicit pads) pads by min(begin, end) in
//     cuDNN and copies the input with the remaining zero border into workspace first;
//   - a ConvTranspose whose output is not exactly cuDNN's (asymmetric pads, output_padding, output_shape) runs
//     into a workspace buffer with a smaller symmetric pad and is then cropped / zero-extended into the output.
// float64, empty channel counts, problems beyond cuDNN's 32-bit dims, and any problem cuDNN refuses run Kiln's
// direct kernels (conv.cu): correct everywhere, fast nowhere. Bias, FusedConv's residual and its activation are
// one epilogue pass (conv_gemm_epilogue.cu); cuDNN's fused bias+activation call only knows ReLU, and a fused
// cuDNN graph is issue 7's business. Layout is NCHW as in the graph.
#include <algorithm>
#include <climits>

#include "backends/cpu/nn_common.h"
#include "backends/cuda/check.h"
#include "backends/cuda/kernels/conv.h"
#include "backends/cuda/kernels/conv_cudnn.h"
#include "backends/cuda/kernels/conv_gemm_common.h"
#include "backends/cuda/kernels/families.h"

namespace kiln::cuda {

namespace {

namespace nn = cpu::nn;

constexpr int kSpatial = 3;

//! A validated convolution. Spatial arrays are padded at the front to 3 dims (size 1, kernel 1, no pad).
struct ConvShape {
    DataType dtype = DataType::kUndefined;
    int64_t batch = 0, inC = 0, outC = 0, group = 1;
    int64_t rank = 0;                      //!< Real spatial dims: 1 to 3.
    ConvWindow3 win;                       //!< in = X's spatial dims, out = Y's (for ConvTranspose too).
    int64_t padEnd[kSpatial] = {0, 0, 0};  //!< Conv only (ConvTranspose crops by padBegin; its end follows).
    Shape outShape;
};

int64_t product(const int64_t (&d)[kSpatial]) { return d[0] * d[1] * d[2]; }

Status checkBias(const DeviceTensor* bias, int64_t channels, DataType dtype) {
    if (!bias) return Status::ok();
    if (bias->rank() != 1 || bias->shape[0] != channels) {
        return invalidArgument("input 'B' must be 1-D of size " + std::to_string(channels) + ", got " +
                               shapeView(*bias).describe());
    }
    if (bias->dtype != dtype) {
        return invalidArgument(std::string("input 'B' must be ") + dataTypeName(dtype) + ", got " +
                               shapeView(*bias).describe());
    }
    return Status::ok();
}

Status checkFloat(DataType t, const char* op) {
    if (isFloatingPoint(t)) return Status::ok();
    return unsupported(std::string("dtype ") + dataTypeName(t) + " is not supported by " + op);
}

//! This file's view of a CPU reference window: `in` is always X's spatial dims and `out` Y's (the CPU's ConvTranspose
//! window, col2im's view, has them the other way round).
template <typename Geometry>
ConvShape shapeFrom(DataType dtype, const Geometry& geo, bool transposed) {
    ConvShape s;
    s.dtype = dtype;
    s.batch = geo.batch;
    s.inC = geo.inC;
    s.outC = geo.outC;
    s.group = geo.group;
    s.rank = geo.win.rank;
    for (int d = 0; d < kSpatial; ++d) {
        s.win.in[d] = transposed ? geo.win.out[d] : geo.win.in[d];
        s.win.out[d] = transposed ? geo.win.in[d] : geo.win.out[d];
        s.win.kernel[d] = geo.win.kernel[d];
        s.win.stride[d] = geo.win.stride[d];
        s.win.dilation[d] = geo.win.dilation[d];
        s.win.padBegin[d] = geo.win.padBegin[d];
        s.padEnd[d] = geo.win.padEnd[d];
    }
    s.outShape = geo.outShape;
    return s;
}

// The geometry (and messages) are the CPU reference's, computed on data-less views of the inputs.
Result<ConvShape> convShape(const CudaKernelContext& ctx) {
    const DeviceTensor& x = ctx.input(0);
    const DeviceTensor& w = ctx.input(1);
    if (w.dtype != x.dtype) {
        return invalidArgument("input 'W' " + shapeView(w).describe() + " must have the dtype of input 'X' " +
                               shapeView(x).describe());
    }
    KILN_ASSIGN_OR_RETURN(nn::ConvGeometry geo, nn::convGeometry(ctx.attrs(), shapeView(x), shapeView(w)));
    return shapeFrom(x.dtype, geo, false);
}

Result<ConvShape> convTransposeShape(const CudaKernelContext& ctx) {
    const DeviceTensor& x = ctx.input(0);
    KILN_ASSIGN_OR_RETURN(nn::ConvTransposeGeometry geo,
                          nn::convTransposeGeometry(ctx.attrs(), shapeView(x), shapeView(ctx.input(1))));
    return shapeFrom(x.dtype, geo, true);
}

//! cuDNN's NCHW form of a forward convolution from `inSpatial` (with symmetric `pad`) to `outSpatial`, channels
//! inC → outC. 1-D keeps a leading spatial dim of 1 (cuDNN wants 4-D at least). kUnsupported beyond 32-bit sizes.
Result<CudnnConvProblem> cudnnProblem(const ConvShape& s, int64_t convInC, int64_t convOutC,
                                      const int64_t (&inSpatial)[kSpatial], const int64_t (&outSpatial)[kSpatial],
                                      const int64_t (&pad)[kSpatial]) {
    CudnnConvProblem p;
    p.dtype = s.dtype;
    const int spatial = s.rank == 3 ? 3 : 2;
    p.nbDims = 2 + spatial;
    p.group = static_cast<int>(s.group);
    int64_t inCount = s.batch * convInC, outCount = s.batch * convOutC, filterCount = convOutC * (convInC / s.group);
    const int64_t dims[] = {s.batch, convInC, convOutC, convInC / s.group};
    bool fits = std::all_of(std::begin(dims), std::end(dims), [](int64_t v) { return v <= INT_MAX; });
    p.in[0] = p.out[0] = static_cast<int>(s.batch);
    p.in[1] = static_cast<int>(convInC);
    p.out[1] = p.filter[0] = static_cast<int>(convOutC);
    p.filter[1] = static_cast<int>(convInC / s.group);
    for (int j = 0; j < spatial; ++j) {
        const int d = kSpatial - spatial + j;
        inCount *= inSpatial[d];
        outCount *= outSpatial[d];
        filterCount *= s.win.kernel[d];
        p.in[2 + j] = static_cast<int>(inSpatial[d]);
        p.out[2 + j] = static_cast<int>(outSpatial[d]);
        p.filter[2 + j] = static_cast<int>(s.win.kernel[d]);
        p.pad[j] = static_cast<int>(pad[d]);
        p.stride[j] = static_cast<int>(s.win.stride[d]);
        p.dilation[j] = static_cast<int>(s.win.dilation[d]);
        fits = fits && inSpatial[d] <= INT_MAX && outSpatial[d] <= INT_MAX && s.win.stride[d] <= INT_MAX &&
               s.win.dilation[d] <= INT_MAX && pad[d] <= INT_MAX;
    }
    fits = fits && inCount <= INT_MAX && outCount <= INT_MAX && filterCount <= INT_MAX;
    if (!fits) return unsupported("convolution beyond cuDNN's 32-bit tensor sizes");
    return p;
}

//! Scratch for `elements` of `dtype` within the workspace limit; kUnsupported when it does not fit (the caller then
//! takes the direct kernel, which needs none).
Result<void*> scratchBuffer(CudaKernelContext& ctx, DataType dtype, int64_t elements) {
    const size_t bytes = static_cast<size_t>(elements) * dataTypeSize(dtype);
    if (ctx.run.workspaceLimit != 0 && bytes > ctx.run.workspaceLimit) {
        return unsupported("the padded copy needs more than the workspace limit");
    }
    return ctx.workspace(bytes);
}

Status convForwardCudnn(CudaKernelContext& ctx, const ConvShape& s, const DeviceTensor& x, const DeviceTensor& w,
                        DeviceTensor& y) {
    // cuDNN pads symmetrically by min(begin, end); an explicit zero border supplies the rest.
    int64_t sym[kSpatial], border[kSpatial], padded[kSpatial];
    bool explicitPad = false;
    for (int d = 0; d < kSpatial; ++d) {
        sym[d] = std::min(s.win.padBegin[d], s.padEnd[d]);
        border[d] = s.win.padBegin[d] - sym[d];
        padded[d] = s.win.in[d] + border[d] + (s.padEnd[d] - sym[d]);
        explicitPad = explicitPad || padded[d] != s.win.in[d];
    }
    KILN_ASSIGN_OR_RETURN(CudnnConvProblem p, cudnnProblem(s, s.inC, s.outC, padded, s.win.out, sym));
    const void* src = x.data;
    size_t used = 0;
    if (explicitPad) {
        const int64_t count = s.batch * s.inC * product(padded);
        KILN_ASSIGN_OR_RETURN(void* buf, scratchBuffer(ctx, s.dtype, count));
        KILN_CUDA_CHECK(launchShiftCopy(s.dtype, x.data, s.batch * s.inC, s.win.in, border, padded, buf, ctx.stream()));
        src = buf;
        used = static_cast<size_t>(count) * dataTypeSize(s.dtype);
    }
    return cudnnConvForward(ctx, p, src, w.data, y.data, workspaceBudget(ctx, used, SIZE_MAX));
}

Status convTransposeCudnn(CudaKernelContext& ctx, const ConvShape& s, const DeviceTensor& x, const DeviceTensor& w,
                          DeviceTensor& y) {
    // cuDNN's adjoint writes the output exactly when the forward geometry of Y with pad padBegin gives back X.
    bool exact = true;
    int64_t pad[kSpatial], full[kSpatial], shift[kSpatial];
    for (int d = 0; d < kSpatial; ++d) {
        const int64_t dk = (s.win.kernel[d] - 1) * s.win.dilation[d] + 1;
        const int64_t span = s.win.out[d] + 2 * s.win.padBegin[d] - dk;
        exact = exact && span >= 0 && span / s.win.stride[d] + 1 == s.win.in[d];
        // Otherwise: the uncropped result F = stride * (in - 1) + dk, computed with the largest symmetric pad that
        // still keeps every position Y needs, then shifted into Y (zeros where output_padding / output_shape reach
        // past F).
        const int64_t natural = s.win.stride[d] * (s.win.in[d] - 1) + dk;
        pad[d] =
            std::min({s.win.padBegin[d], std::max<int64_t>(0, natural - s.win.padBegin[d] - s.win.out[d]), dk - 1});
        full[d] = natural - 2 * pad[d];
        shift[d] = pad[d] - s.win.padBegin[d];
    }
    if (exact) {
        KILN_ASSIGN_OR_RETURN(CudnnConvProblem p, cudnnProblem(s, s.outC, s.inC, s.win.out, s.win.in, s.win.padBegin));
        return cudnnConvBackwardData(ctx, p, x.data, w.data, y.data, workspaceBudget(ctx, 0, SIZE_MAX));
    }
    KILN_ASSIGN_OR_RETURN(CudnnConvProblem p, cudnnProblem(s, s.outC, s.inC, full, s.win.in, pad));
    const int64_t count = s.batch * s.outC * product(full);
    KILN_ASSIGN_OR_RETURN(void* buf, scratchBuffer(ctx, s.dtype, count));
    const size_t used = static_cast<size_t>(count) * dataTypeSize(s.dtype);
    KILN_RETURN_IF_ERROR(cudnnConvBackwardData(ctx, p, x.data, w.data, buf, workspaceBudget(ctx, used, SIZE_MAX)));
    KILN_CUDA_CHECK(launchShiftCopy(s.dtype, buf, s.batch * s.outC, full, shift, s.win.out, y.data, ctx.stream()));
    return Status::ok();
}

//! y = Conv or ConvTranspose of x and w (no bias): cuDNN where it can, else the direct kernel.
Status convolve(CudaKernelContext& ctx, const ConvShape& s, bool transposed, const DeviceTensor& x,
                const DeviceTensor& w, DeviceTensor& y) {
    if (y.numel() == 0) return Status::ok();
    if (s.dtype != DataType::kFloat64 && x.numel() > 0 && w.numel() > 0) {
        Status st = transposed ? convTransposeCudnn(ctx, s, x, w, y) : convForwardCudnn(ctx, s, x, w, y);
        if (st.code() != ErrorCode::kUnsupported) return st;
    }
    KILN_CUDA_CHECK(launchDirectConv(s.dtype, transposed, x.data, w.data, y.data, s.batch, s.inC, s.outC, s.group,
                                     s.win, ctx.stream()));
    return Status::ok();
}

//! Conv (fused = false) and FusedConv: X, W, optional B, then FusedConv's optional residual Z.
Status convKernel(CudaKernelContext& ctx, bool fused) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, fused ? 4 : 3));
    KILN_ASSIGN_OR_RETURN(ConvShape s, convShape(ctx));
    const DeviceTensor* bias = optionalInput(ctx, 2);
    KILN_RETURN_IF_ERROR(checkBias(bias, s.outC, s.dtype));
    KILN_RETURN_IF_ERROR(checkFloat(s.dtype, fused ? "FusedConv" : "Conv"));
    EpilogueActivation act;
    const DeviceTensor* z = nullptr;
    if (fused) {
        KILN_ASSIGN_OR_RETURN(act, parseFusedActivation(ctx.attrs()));
        z = optionalInput(ctx, 3);
        if (z && (z->dtype != s.dtype || z->shape != s.outShape)) {
            return invalidArgument("residual input 'Z' " + shapeView(*z).describe() + " must match the output " +
                                   shapeView(DeviceTensor{s.dtype, s.outShape, nullptr, nullptr}).describe());
        }
    }
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, s.dtype, s.outShape));
    KILN_RETURN_IF_ERROR(convolve(ctx, s, false, ctx.input(0), ctx.input(1), *y));
    return runEpilogue(ctx, *y, bias, product(s.win.out), z, act);
}

Status conv(CudaKernelContext& ctx) { return convKernel(ctx, false); }
Status fusedConv(CudaKernelContext& ctx) { return convKernel(ctx, true); }

Status convTranspose(CudaKernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 3));
    KILN_ASSIGN_OR_RETURN(ConvShape s, convTransposeShape(ctx));
    const DeviceTensor* bias = optionalInput(ctx, 2);
    KILN_RETURN_IF_ERROR(checkBias(bias, s.outC, s.dtype));
    KILN_RETURN_IF_ERROR(checkFloat(s.dtype, "ConvTranspose"));
    KILN_ASSIGN_OR_RETURN(DeviceTensor * y, ctx.allocateOutput(0, s.dtype, s.outShape));
    KILN_RETURN_IF_ERROR(convolve(ctx, s, true, ctx.input(0), ctx.input(1), *y));
    return runEpilogue(ctx, *y, bias, product(s.win.out), nullptr, EpilogueActivation{});
}

}  // namespace

void registerConvKernels(KernelRegistry& r) {
    r.add(ir::OpKind::kConv, conv);
    r.add(ir::OpKind::kConvTranspose, convTranspose);
    r.add(ir::OpKind::kFusedConv, fusedConv);
}

}  // namespace kiln::cuda
