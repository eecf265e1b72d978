#include "backends/cuda/kernels/conv_shape.h"

#include <algorithm>
#include <climits>
#include <string>

#include "backends/cuda/kernels/conv_gemm_common.h"

namespace kiln::cuda {

namespace {

template <typename Geometry>
ConvShape shapeFromGeometry(DataType dtype, const Geometry& geo, bool transposed) {
    ConvShape s;
    s.dtype = dtype;
    s.batch = geo.batch;
    s.inC = geo.inC;
    s.outC = geo.outC;
    s.group = geo.group;
    s.rank = geo.win.rank;
    for (int d = 0; d < kConvSpatial; ++d) {
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

}  // namespace

Status checkConvBias(const DeviceTensor* bias, int64_t channels, DataType dtype) {
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

Status checkConvFloat(DataType t, const char* op) {
    if (isFloatingPoint(t)) return Status::ok();
    return unsupported(std::string("dtype ") + dataTypeName(t) + " is not supported by " + op);
}

ConvShape convShapeFrom(DataType dtype, const cpu::nn::ConvGeometry& geo) {
    return shapeFromGeometry(dtype, geo, false);
}

ConvShape convShapeFrom(DataType dtype, const cpu::nn::ConvTransposeGeometry& geo) {
    return shapeFromGeometry(dtype, geo, true);
}

SymmetricPads planSymmetricPads(const ConvShape& s) {
    SymmetricPads p;
    for (int d = 0; d < kConvSpatial; ++d) {
        p.sym[d] = std::min(s.win.padBegin[d], s.padEnd[d]);
        p.border[d] = s.win.padBegin[d] - p.sym[d];
        p.padded[d] = s.win.in[d] + p.border[d] + (s.padEnd[d] - p.sym[d]);
        p.explicitBorder = p.explicitBorder || p.padded[d] != s.win.in[d];
    }
    return p;
}

Result<void*> borderedInputBuffer(CudaKernelContext& ctx, const ConvShape& s, const SymmetricPads& pads, size_t& used) {
    const int64_t count = s.batch * s.inC * convSpatialProduct(pads.padded);
    KILN_ASSIGN_OR_RETURN(void* buf, scratchBuffer(ctx, s.dtype, count));
    used += static_cast<size_t>(count) * dataTypeSize(s.dtype);
    return buf;
}

TransposedConvPlan planTransposedConv(const ConvShape& s) {
    TransposedConvPlan plan;
    // cuDNN's adjoint writes the output exactly when the forward geometry of Y with pad padBegin gives back X.
    for (int d = 0; d < kConvSpatial; ++d) {
        const int64_t dk = (s.win.kernel[d] - 1) * s.win.dilation[d] + 1;
        const int64_t span = s.win.out[d] + 2 * s.win.padBegin[d] - dk;
        plan.exact = plan.exact && span >= 0 && span / s.win.stride[d] + 1 == s.win.in[d];
        // Otherwise: the uncropped result F = stride * (in - 1) + dk, computed with the largest symmetric pad that
        // still keeps every position Y needs, then shifted into Y (zeros where output_padding / output_shape reach
        // past F).
        const int64_t natural = s.win.stride[d] * (s.win.in[d] - 1) + dk;
        plan.pad[d] =
            std::min({s.win.padBegin[d], std::max<int64_t>(0, natural - s.win.padBegin[d] - s.win.out[d]), dk - 1});
        plan.full[d] = natural - 2 * plan.pad[d];
        plan.shift[d] = plan.pad[d] - s.win.padBegin[d];
    }
    return plan;
}

Result<CudnnConvProblem> cudnnProblem(const ConvShape& s, int64_t convInC, int64_t convOutC,
                                      const int64_t (&inSpatial)[kConvSpatial],
                                      const int64_t (&outSpatial)[kConvSpatial], const int64_t (&pad)[kConvSpatial],
                                      bool channelsLast) {
    CudnnConvProblem p;
    p.dtype = s.dtype;
    p.channelsLast = channelsLast;
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
        const int d = kConvSpatial - spatial + j;
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

}  // namespace kiln::cuda
