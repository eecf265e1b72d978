// Convolutions: Conv, ConvTranspose, ConvInteger. Conv is im2col + GEMM per group and image (OpenBLAS), with a
// direct loop for one-input-channel groups (depthwise) where a GEMM per channel would be all overhead;
// ConvTranspose is GEMM + col2im. float16/bfloat16 are widened to float once and rounded once at the end.
#include <algorithm>
#include <string>
#include <type_traits>

#include "backends/cpu/kernel.h"
#include "backends/cpu/nn_common.h"
#include "common/dispatch.h"

namespace kiln::cpu {

namespace {

template <typename T>
using BlasT = std::conditional_t<std::is_same_v<T, double>, double, float>;

//! Data of a float tensor as C: its own buffer when the types match, else a widened copy kept in `copy`.
template <typename C, typename T>
const C* asCompute(const Tensor& t, std::vector<C>& copy) {
    if constexpr (std::is_same_v<T, C>) {
        return t.data<T>();
    } else {
        copy = nn::toCompute<C>(t);
        return copy.data();
    }
}

//! Rounds a compute buffer into the output once (no-op when the output is the compute buffer).
template <typename T, typename C>
void storeOutput(const std::vector<C>& scratch, Tensor* y) {
    if constexpr (!std::is_same_v<T, C>) {
        T* p = y->data<T>();
        for (size_t i = 0; i < scratch.size(); ++i) p[i] = fromCompute<T>(scratch[i]);
    }
}

//! Adds w[k] * x[window position k] for one output channel of a group with a single input channel.
template <typename C>
void directConvChannel(const C* x, const C* w, const nn::Window& win, C* y) {
    const int64_t D = win.in[0], H = win.in[1], W = win.in[2];
    const int64_t OD = win.out[0], OH = win.out[1], OW = win.out[2];
    for (int64_t kd = 0; kd < win.kernel[0]; ++kd) {
        for (int64_t kh = 0; kh < win.kernel[1]; ++kh) {
            for (int64_t kw = 0; kw < win.kernel[2]; ++kw) {
                const C wv = w[(kd * win.kernel[1] + kh) * win.kernel[2] + kw];
                const int64_t iw0 = kw * win.dilation[2] - win.padBegin[2];
                // Output columns whose input column is inside the image.
                int64_t lo = 0;
                while (lo < OW && iw0 + lo * win.stride[2] < 0) ++lo;
                int64_t hi = OW;
                while (hi > lo && iw0 + (hi - 1) * win.stride[2] >= W) --hi;
                for (int64_t od = 0; od < OD; ++od) {
                    const int64_t id = od * win.stride[0] - win.padBegin[0] + kd * win.dilation[0];
                    if (id < 0 || id >= D) continue;
                    for (int64_t oh = 0; oh < OH; ++oh) {
                        const int64_t ih = oh * win.stride[1] - win.padBegin[1] + kh * win.dilation[1];
                        if (ih < 0 || ih >= H) continue;
                        const C* src = x + (id * H + ih) * W;
                        C* dst = y + (od * OH + oh) * OW;
                        const int64_t s = win.stride[2];
                        for (int64_t ow = lo; ow < hi; ++ow) dst[ow] += wv * src[iw0 + ow * s];
                    }
                }
            }
        }
    }
}

template <typename T>
Status convFloat(const Tensor& x, const Tensor& w, const Tensor* bias, const nn::ConvGeometry& geo, Tensor* y) {
    using C = BlasT<T>;
    std::vector<C> xCopy, wCopy, scratch;
    const C* px = asCompute<C, T>(x, xCopy);
    const C* pw = asCompute<C, T>(w, wCopy);
    C* py = nullptr;
    if constexpr (std::is_same_v<T, C>) {
        py = y->data<T>();
    } else {
        scratch.assign(static_cast<size_t>(y->numel()), C(0));
        py = scratch.data();
    }
    const nn::Window& win = geo.win;
    const int64_t cg = geo.inC / geo.group;
    const int64_t mg = geo.outC / geo.group;
    const int64_t kSize = win.kernelSize();
    const int64_t kg = cg * kSize;
    const int64_t inSize = win.inSize();
    const int64_t outSize = win.outSize();
    const int64_t rows = win.out[0] * win.out[1];
    const int64_t ow = win.out[2];

    // Bias first, so every GEMM accumulates onto it (beta = 1).
    for (int64_t n = 0; n < geo.batch; ++n) {
        for (int64_t m = 0; m < geo.outC; ++m) {
            const C b = bias ? static_cast<C>(bias->getDouble(m)) : C(0);
            std::fill_n(py + (n * geo.outC + m) * outSize, outSize, b);
        }
    }
    bool pointwise = kSize == 1;
    for (int i = 0; i < nn::kMaxSpatial; ++i) {
        pointwise = pointwise && win.stride[i] == 1 && win.padBegin[i] == 0 && win.padEnd[i] == 0;
    }
    const int64_t blockRows = nn::rowsPerBlock(win, kg);
    std::vector<C> col;
    if (!pointwise && cg > 1) col.resize(static_cast<size_t>(kg * blockRows * ow));
    for (int64_t n = 0; n < geo.batch; ++n) {
        for (int64_t g = 0; g < geo.group; ++g) {
            const C* xg = px + (n * geo.inC + g * cg) * inSize;
            const C* wg = pw + g * mg * kg;
            C* yg = py + (n * geo.outC + g * mg) * outSize;
            if (pointwise) {
                nn::gemm(false, false, mg, outSize, cg, C(1), wg, cg, xg, inSize, C(1), yg, outSize);
            } else if (cg == 1) {
                for (int64_t m = 0; m < mg; ++m) directConvChannel(xg, wg + m * kSize, win, yg + m * outSize);
            } else {
                for (int64_t r0 = 0; r0 < rows; r0 += blockRows) {
                    const int64_t r1 = std::min(rows, r0 + blockRows);
                    const int64_t cols = (r1 - r0) * ow;
                    nn::im2col<C>(xg, cg, win, r0, r1, C(0), col.data());
                    nn::gemm(false, false, mg, cols, kg, C(1), wg, kg, col.data(), cols, C(1), yg + r0 * ow, outSize);
                }
            }
        }
    }
    storeOutput<T>(scratch, y);
    return Status::ok();
}

Status checkBias(const Tensor* bias, int64_t channels, DataType dtype) {
    if (!bias) return Status::ok();
    if (bias->rank() != 1 || bias->dim(0) != channels) {
        return invalidArgument("input 'B' must be 1-D of size " + std::to_string(channels) + ", got " +
                               bias->describe());
    }
    if (bias->dtype() != dtype) {
        return invalidArgument(std::string("input 'B' must be ") + dataTypeName(dtype) + ", got " + bias->describe());
    }
    return Status::ok();
}

}  // namespace

Status kernelConv(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 3));
    const Tensor& x = ctx.input(0);
    const Tensor& w = ctx.input(1);
    const Tensor* bias = ctx.hasInput(2) ? &ctx.input(2) : nullptr;
    if (w.dtype() != x.dtype()) {
        return invalidArgument("input 'W' " + w.describe() + " must have the dtype of input 'X' " + x.describe());
    }
    KILN_ASSIGN_OR_RETURN(nn::ConvGeometry geo, nn::convGeometry(ctx.attrs(), x, w));
    KILN_RETURN_IF_ERROR(checkBias(bias, geo.outC, x.dtype()));
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, x.dtype(), geo.outShape));
    return dispatchFloat(
        x.dtype(), [&]<typename T>() { return convFloat<T>(x, w, bias, geo, y); }, "Conv");
}

Status kernelConvTranspose(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 3));
    const Tensor& x = ctx.input(0);
    const Tensor& w = ctx.input(1);
    const Tensor* bias = ctx.hasInput(2) ? &ctx.input(2) : nullptr;
    KILN_ASSIGN_OR_RETURN(nn::ConvTransposeGeometry geo, nn::convTransposeGeometry(ctx.attrs(), x, w));
    KILN_RETURN_IF_ERROR(checkBias(bias, geo.outC, x.dtype()));
    const int64_t group = geo.group, inC = geo.inC, outC = geo.outC;
    const nn::Window& win = geo.win;
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, x.dtype(), geo.outShape));
    return dispatchFloat(
        x.dtype(),
        [&]<typename T>() {
            using C = BlasT<T>;
            std::vector<C> xCopy, wCopy;
            const C* px = asCompute<C, T>(x, xCopy);
            const C* pw = asCompute<C, T>(w, wCopy);
            std::vector<C> scratch(static_cast<size_t>(y->numel()), C(0));
            const int64_t cg = inC / group;
            const int64_t mg = outC / group;
            const int64_t kSize = win.kernelSize();
            const int64_t ySize = win.inSize();
            const int64_t xSize = win.outSize();
            const int64_t rows = win.out[0] * win.out[1];
            const int64_t blockRows = nn::rowsPerBlock(win, mg * kSize);
            std::vector<C> col(static_cast<size_t>(mg * kSize * blockRows * win.out[2]));
            for (int64_t n = 0; n < x.dim(0); ++n) {
                for (int64_t g = 0; g < group; ++g) {
                    const C* xg = px + (n * inC + g * cg) * xSize;
                    const C* wg = pw + g * cg * mg * kSize;
                    C* yg = scratch.data() + (n * outC + g * mg) * ySize;
                    for (int64_t r0 = 0; r0 < rows; r0 += blockRows) {
                        const int64_t r1 = std::min(rows, r0 + blockRows);
                        const int64_t cols = (r1 - r0) * win.out[2];
                        nn::gemm(true, false, mg * kSize, cols, cg, C(1), wg, mg * kSize, xg + r0 * win.out[2], xSize,
                                 C(0), col.data(), cols);
                        nn::col2imAdd<C>(col.data(), mg, win, r0, r1, yg);
                    }
                }
                if (bias) {
                    for (int64_t m = 0; m < outC; ++m) {
                        const C b = static_cast<C>(bias->getDouble(m));
                        C* ym = scratch.data() + (n * outC + m) * ySize;
                        for (int64_t i = 0; i < ySize; ++i) ym[i] += b;
                    }
                }
            }
            T* out = y->data<T>();
            for (size_t i = 0; i < scratch.size(); ++i) out[i] = fromCompute<T>(scratch[i]);
            return Status::ok();
        },
        "ConvTranspose");
}

Status kernelConvInteger(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 4));
    const Tensor& x = ctx.input(0);
    const Tensor& w = ctx.input(1);
    for (const Tensor* t : {&x, &w}) {
        if (t->dtype() != DataType::kUInt8 && t->dtype() != DataType::kInt8) {
            return invalidArgument("inputs 'x' and 'w' must be uint8 or int8, got " + t->describe());
        }
    }
    KILN_ASSIGN_OR_RETURN(nn::ConvGeometry geo, nn::convGeometry(ctx.attrs(), x, w));
    int32_t xZero = 0;
    if (ctx.hasInput(2)) {
        const Tensor& z = ctx.input(2);
        if (z.numel() != 1 || z.dtype() != x.dtype()) {
            return invalidArgument("input 'x_zero_point' must be a single " + std::string(dataTypeName(x.dtype())) +
                                   ", got " + z.describe());
        }
        xZero = static_cast<int32_t>(z.getInt(0));
    }
    std::vector<int32_t> wZero(static_cast<size_t>(geo.outC), 0);
    if (ctx.hasInput(3)) {
        const Tensor& z = ctx.input(3);
        if (z.dtype() != w.dtype() || (z.numel() != 1 && z.numel() != geo.outC) || z.rank() > 1) {
            return invalidArgument("input 'w_zero_point' must be a scalar or 1-D of size M=" +
                                   std::to_string(geo.outC) + " of the dtype of 'w', got " + z.describe());
        }
        for (int64_t m = 0; m < geo.outC; ++m) wZero[m] = static_cast<int32_t>(z.getInt(z.numel() == 1 ? 0 : m));
    }
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, DataType::kInt32, geo.outShape));
    return nn::convInteger(x, xZero, w, wZero, geo, y->data<int32_t>());
}

}  // namespace kiln::cpu
