// Pooling: MaxPool, AveragePool, LpPool, their Global forms, MaxUnpool, MaxRoiPool. Direct loops over each
// (image, channel) plane; windows are clipped to the image once per output position, so the inner loops carry no
// bounds checks.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include "backends/cpu/broadcast.h"
#include "backends/cpu/kernel.h"
#include "backends/cpu/nn_common.h"
#include "common/dispatch.h"

namespace kiln::cpu {

namespace {

//! The taps k in [k0, k1) of one window dim whose position start + k * dilation lies inside the input; `padded`
//! counts the taps inside input plus padding (count_include_pad's divisor).
struct Taps {
    int64_t start, dilation, k0, k1, padded;
    int64_t pos(int64_t k) const { return start + k * dilation; }
};

Taps tapsOf(const nn::Window& win, int dim, int64_t o) {
    Taps t{};
    t.start = o * win.stride[dim] - win.padBegin[dim];
    t.dilation = win.dilation[dim];
    const int64_t kernel = win.kernel[dim];
    const int64_t in = win.in[dim];
    auto countBelow = [&](int64_t bound) {  // taps with pos < bound
        if (t.start >= bound) return int64_t{0};
        return std::min(kernel, (bound - t.start + t.dilation - 1) / t.dilation);
    };
    t.k0 = t.start >= 0 ? 0 : std::min(kernel, (-t.start + t.dilation - 1) / t.dilation);
    t.k1 = std::max(t.k0, countBelow(in));
    t.padded = countBelow(in + win.padEnd[dim]);
    return t;
}

//! The taps of every output position along each dim, computed once per op rather than once per plane.
struct WindowTaps {
    std::array<std::vector<Taps>, nn::kMaxSpatial> dims;
    explicit WindowTaps(const nn::Window& win) {
        for (int d = 0; d < nn::kMaxSpatial; ++d) {
            for (int64_t o = 0; o < win.out[d]; ++o) dims[d].push_back(tapsOf(win, d, o));
        }
    }
};

//! Calls fn(outIndex, taps[3]) for every output position of one plane.
template <typename Fn>
void forEachWindow(const WindowTaps& taps, Fn&& fn) {
    int64_t o = 0;
    for (const Taps& td : taps.dims[0]) {
        for (const Taps& th : taps.dims[1]) {
            for (const Taps& tw : taps.dims[2]) fn(o++, td, th, tw);
        }
    }
}

//! Calls visit(offset) with the in-plane offset of every in-bounds tap of one window (planes are D x H x W).
template <typename Fn>
void forEachTap(const Taps& td, const Taps& th, const Taps& tw, int64_t H, int64_t W, Fn&& visit) {
    for (int64_t kd = td.k0; kd < td.k1; ++kd) {
        for (int64_t kh = th.k0; kh < th.k1; ++kh) {
            const int64_t row = (td.pos(kd) * H + th.pos(kh)) * W;
            for (int64_t kw = tw.k0; kw < tw.k1; ++kw) visit(row + tw.pos(kw));
        }
    }
}

//! One (image, channel) plane in compute type: the input itself, or for float16/bfloat16 a widened copy.
template <typename T>
class PlaneReader {
public:
    const ComputeT<T>* operator()(const T* plane, int64_t n) {
        if constexpr (std::is_same_v<T, ComputeT<T>>) {
            return plane;
        } else {
            mBuffer.resize(static_cast<size_t>(n));
            nn::widen(plane, n, mBuffer.data());
            return mBuffer.data();
        }
    }

private:
    std::vector<ComputeT<T>> mBuffer;
};

//! Resolves a pooling op's window from kernel_shape and the common attributes.
Result<nn::Window> poolWindow(const KernelContext& ctx, const Tensor& x, bool ceilMode) {
    KILN_RETURN_IF_ERROR(nn::checkSpatialInput(x, "X"));
    const Shape spatial(x.shape().begin() + 2, x.shape().end());
    KILN_ASSIGN_OR_RETURN(auto kernel, nn::kernelShapeAttr(ctx.attrs(), spatial.size()));
    return nn::resolveWindow(ctx.attrs(), spatial, kernel, ceilMode);
}

Shape pooledShape(const Tensor& x, const nn::Window& win) {
    Shape s{x.dim(0), x.dim(1)};
    for (int64_t d : win.outShape()) s.push_back(d);
    return s;
}

}  // namespace

Status kernelMaxPool(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const Tensor& x = ctx.input(0);
    if (!isFloatingPoint(x.dtype()) && x.dtype() != DataType::kInt8 && x.dtype() != DataType::kUInt8) {
        return unsupported("MaxPool input 'X' must be a float type, int8 or uint8, got " + x.describe());
    }
    const int64_t storageOrder = ctx.attrs().getInt("storage_order", 0);
    if (storageOrder != 0 && storageOrder != 1) {
        return invalidArgument("attribute 'storage_order' must be 0 or 1, got " + std::to_string(storageOrder));
    }
    KILN_ASSIGN_OR_RETURN(nn::Window win, poolWindow(ctx, x, ctx.attrs().getInt("ceil_mode", 0) != 0));
    const Shape outShape = pooledShape(x, win);
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, x.dtype(), outShape));
    int64_t* indices = nullptr;
    if (ctx.wantsOutput(1)) {
        KILN_ASSIGN_OR_RETURN(Tensor * t, ctx.allocateOutput(1, DataType::kInt64, outShape));
        indices = t->data<int64_t>();
    }
    const int64_t planes = x.dim(0) * x.dim(1);
    const int64_t inSize = win.inSize(), outSize = win.outSize();
    const WindowTaps taps(win);
    const int64_t D = win.in[0], H = win.in[1], W = win.in[2];
    return dispatchNumeric(
        x.dtype(),
        [&]<typename T>() {
            using C = ComputeT<T>;
            PlaneReader<T> reader;
            for (int64_t p = 0; p < planes; ++p) {
                const T* raw = x.data<T>() + p * inSize;
                const C* in = reader(raw, inSize);
                T* out = y->data<T>() + p * outSize;
                forEachWindow(taps, [&](int64_t o, const Taps& td, const Taps& th, const Taps& tw) {
                    C best = std::numeric_limits<C>::lowest();
                    int64_t bestAt = -1;
                    forEachTap(td, th, tw, H, W, [&](int64_t at) {
                        if (in[at] > best || bestAt < 0) {
                            best = in[at];
                            bestAt = at;
                        }
                    });
                    out[o] = bestAt >= 0 ? raw[bestAt] : fromCompute<T>(best);
                    if (indices) {
                        int64_t at = 0;
                        if (bestAt >= 0 && storageOrder == 1) {
                            const int64_t id = bestAt / (H * W), ih = bestAt / W % H, iw = bestAt % W;
                            at = (iw * H + ih) * D + id;
                        } else if (bestAt >= 0) {
                            at = bestAt;
                        }
                        indices[p * outSize + o] = p * inSize + at;
                    }
                });
            }
            return Status::ok();
        },
        "MaxPool");
}

Status kernelAveragePool(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const Tensor& x = ctx.input(0);
    const bool includePad = ctx.attrs().getInt("count_include_pad", 0) != 0;
    KILN_ASSIGN_OR_RETURN(nn::Window win, poolWindow(ctx, x, ctx.attrs().getInt("ceil_mode", 0) != 0));
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, x.dtype(), pooledShape(x, win)));
    const int64_t planes = x.dim(0) * x.dim(1);
    const int64_t inSize = win.inSize(), outSize = win.outSize();
    const WindowTaps taps(win);
    const int64_t H = win.in[1], W = win.in[2];
    return dispatchFloat(
        x.dtype(),
        [&]<typename T>() {
            using C = ComputeT<T>;
            PlaneReader<T> reader;
            for (int64_t p = 0; p < planes; ++p) {
                const C* in = reader(x.data<T>() + p * inSize, inSize);
                T* out = y->data<T>() + p * outSize;
                forEachWindow(taps, [&](int64_t o, const Taps& td, const Taps& th, const Taps& tw) {
                    C sum = 0;
                    forEachTap(td, th, tw, H, W, [&](int64_t at) { sum += in[at]; });
                    const int64_t count = includePad ? td.padded * th.padded * tw.padded
                                                     : (td.k1 - td.k0) * (th.k1 - th.k0) * (tw.k1 - tw.k0);
                    out[o] = fromCompute<T>(count > 0 ? sum / static_cast<C>(count) : C(0));
                });
            }
            return Status::ok();
        },
        "AveragePool");
}

Status kernelLpPool(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const Tensor& x = ctx.input(0);
    const int64_t pInt = ctx.attrs().getInt("p", 2);
    if (pInt < 1) return invalidArgument("attribute 'p' must be positive, got " + std::to_string(pInt));
    KILN_ASSIGN_OR_RETURN(nn::Window win, poolWindow(ctx, x, ctx.attrs().getInt("ceil_mode", 0) != 0));
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, x.dtype(), pooledShape(x, win)));
    const int64_t planes = x.dim(0) * x.dim(1);
    const int64_t inSize = win.inSize(), outSize = win.outSize();
    const WindowTaps taps(win);
    const int64_t H = win.in[1], W = win.in[2];
    return dispatchFloat(
        x.dtype(),
        [&]<typename T>() {
            using C = ComputeT<T>;
            const C p = static_cast<C>(pInt);
            PlaneReader<T> reader;
            for (int64_t pl = 0; pl < planes; ++pl) {
                const C* in = reader(x.data<T>() + pl * inSize, inSize);
                T* out = y->data<T>() + pl * outSize;
                forEachWindow(taps, [&](int64_t o, const Taps& td, const Taps& th, const Taps& tw) {
                    C sum = 0;
                    forEachTap(td, th, tw, H, W, [&](int64_t at) { sum += std::pow(std::fabs(in[at]), p); });
                    out[o] = fromCompute<T>(std::pow(sum, C(1) / p));
                });
            }
            return Status::ok();
        },
        "LpPool");
}

namespace {

//! Global pooling over all dims after (N, C): out[n, c, 1, ...] = finish(fold over the plane).
template <typename Fold>
Status globalPool(KernelContext& ctx, bool allowIntegers, Fold fold) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const Tensor& x = ctx.input(0);
    if (x.rank() < 2) return invalidArgument("input 'X' must be (N, C, ...), got " + x.describe());
    Shape outShape{x.dim(0), x.dim(1)};
    outShape.resize(static_cast<size_t>(x.rank()), 1);
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, x.dtype(), outShape));
    const int64_t planes = x.dim(0) * x.dim(1);
    const int64_t size = planes > 0 ? x.numel() / planes : 0;
    auto run = [&]<typename T>() {
        for (int64_t p = 0; p < planes; ++p)
            y->data<T>()[p] = fold.template operator()<T>(x.data<T>() + p * size, size);
        return Status::ok();
    };
    return allowIntegers ? dispatchNumeric(x.dtype(), run) : dispatchFloat(x.dtype(), run);
}

}  // namespace

Status kernelGlobalAveragePool(KernelContext& ctx) {
    return globalPool(ctx, false, []<typename T>(const T* in, int64_t n) {
        using C = ComputeT<T>;
        C sum = 0;
        for (int64_t i = 0; i < n; ++i) sum += static_cast<C>(in[i]);
        return fromCompute<T>(n > 0 ? sum / static_cast<C>(n) : C(0));
    });
}

Status kernelGlobalMaxPool(KernelContext& ctx) {
    return globalPool(ctx, false, []<typename T>(const T* in, int64_t n) {
        using C = ComputeT<T>;
        C best = std::numeric_limits<C>::lowest();
        for (int64_t i = 0; i < n; ++i) best = std::max(best, static_cast<C>(in[i]));
        return fromCompute<T>(best);
    });
}

Status kernelGlobalLpPool(KernelContext& ctx) {
    const int64_t pInt = ctx.attrs().getInt("p", 2);
    if (pInt < 1) return invalidArgument("attribute 'p' must be positive, got " + std::to_string(pInt));
    return globalPool(ctx, false, [pInt]<typename T>(const T* in, int64_t n) {
        using C = ComputeT<T>;
        const C p = static_cast<C>(pInt);
        C sum = 0;
        for (int64_t i = 0; i < n; ++i) sum += std::pow(std::fabs(static_cast<C>(in[i])), p);
        return fromCompute<T>(std::pow(sum, C(1) / p));
    });
}

Status kernelMaxUnpool(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 3));
    const Tensor& x = ctx.input(0);
    const Tensor& idx = ctx.input(1);
    KILN_RETURN_IF_ERROR(nn::checkSpatialInput(x, "X"));
    if (idx.dtype() != DataType::kInt64 || idx.shape() != x.shape()) {
        return invalidArgument("input 'I' must be int64 with the shape of 'X' " + x.describe() + ", got " +
                               idx.describe());
    }
    const size_t r = static_cast<size_t>(x.rank() - 2);
    KILN_ASSIGN_OR_RETURN(auto kernel, nn::kernelShapeAttr(ctx.attrs(), r));
    const auto strides = ctx.attrs().getInts("strides").value_or(std::vector<int64_t>(r, 1));
    const auto pads = ctx.attrs().getInts("pads").value_or(std::vector<int64_t>(2 * r, 0));
    if (strides.size() != r || pads.size() != 2 * r) {
        return invalidArgument("attributes 'strides'/'pads' must have " + std::to_string(r) + "/" +
                               std::to_string(2 * r) + " values");
    }
    // The indices address the shape MaxPool's input had (the inferred shape); an explicit output_shape only pads
    // that shape at the end, so each index is re-addressed into it.
    Shape inferred{x.dim(0), x.dim(1)};
    for (size_t i = 0; i < r; ++i) {
        const int64_t d = (x.dim(static_cast<int64_t>(i + 2)) - 1) * strides[i] + kernel[i] - pads[i] - pads[i + r];
        if (d < 0) return invalidArgument("computed output dim " + std::to_string(i) + " is negative");
        inferred.push_back(d);
    }
    Shape outShape = inferred;
    if (ctx.hasInput(2)) {
        outShape = ctx.input(2).toInt64Vector();
        if (static_cast<int64_t>(outShape.size()) != x.rank() || outShape[0] != x.dim(0) || outShape[1] != x.dim(1)) {
            return invalidArgument("input 'output_shape' " + shapeToString(outShape) + " must be [N, C, ...] for 'X' " +
                                   x.describe());
        }
        for (size_t i = 0; i < outShape.size(); ++i) {
            if (outShape[i] < inferred[i]) {
                return invalidArgument("input 'output_shape' " + shapeToString(outShape) +
                                       " is smaller than the unpooled shape " + shapeToString(inferred));
            }
        }
    }
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, x.dtype(), outShape));
    const int64_t total = shapeNumel(inferred);
    const auto inStrides = stridesOf(inferred);
    const auto outStrides = stridesOf(outShape);
    std::vector<int64_t> target(static_cast<size_t>(idx.numel()));
    const int64_t* pi = idx.data<int64_t>();
    for (int64_t i = 0; i < idx.numel(); ++i) {
        if (pi[i] < 0 || pi[i] >= total) {
            return outOfRange("input 'I' value " + std::to_string(pi[i]) + " at " + std::to_string(i) +
                              " is outside the unpooled shape " + shapeToString(inferred));
        }
        int64_t rest = pi[i], at = 0;
        for (size_t d = 0; d < inferred.size(); ++d) {
            at += rest / inStrides[d] * outStrides[d];
            rest %= inStrides[d];
        }
        target[i] = at;
    }
    return dispatchNumeric(
        x.dtype(),
        [&]<typename T>() {
            for (int64_t i = 0; i < x.numel(); ++i) y->data<T>()[target[i]] = x.data<T>()[i];
            return Status::ok();
        },
        "MaxUnpool");
}

Status kernelMaxRoiPool(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 2));
    const Tensor& x = ctx.input(0);
    const Tensor& rois = ctx.input(1);
    if (x.rank() != 4) return invalidArgument("input 'X' must be (N, C, H, W), got " + x.describe());
    if (rois.rank() != 2 || rois.dim(1) != 5 || rois.dtype() != x.dtype()) {
        return invalidArgument("input 'rois' must be (num_rois, 5) of the dtype of 'X', got " + rois.describe());
    }
    const auto pooled = ctx.attrs().getInts("pooled_shape");
    if (!pooled || pooled->size() != 2 || (*pooled)[0] < 1 || (*pooled)[1] < 1) {
        return invalidArgument("attribute 'pooled_shape' must be two positive values");
    }
    const float scale = ctx.attrs().getFloat("spatial_scale", 1.0f);
    const int64_t ph = (*pooled)[0], pw = (*pooled)[1];
    const int64_t channels = x.dim(1), H = x.dim(2), W = x.dim(3);
    const int64_t numRois = rois.dim(0);
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, x.dtype(), {numRois, channels, ph, pw}));
    return dispatchFloat(
        x.dtype(),
        [&]<typename T>() {
            using C = ComputeT<T>;
            for (int64_t r = 0; r < numRois; ++r) {
                const int64_t b = static_cast<int64_t>(rois.getDouble(r * 5));
                if (b < 0 || b >= x.dim(0)) {
                    return outOfRange("roi " + std::to_string(r) + " has batch index " + std::to_string(b) +
                                      " outside [0, " + std::to_string(x.dim(0)) + ")");
                }
                // Caffe's RoI pooling: rounded scaled corners, bins of roi_size / pooled_size, floor/ceil bin edges.
                const int64_t x1 = std::lround(rois.getDouble(r * 5 + 1) * scale);
                const int64_t y1 = std::lround(rois.getDouble(r * 5 + 2) * scale);
                const int64_t x2 = std::lround(rois.getDouble(r * 5 + 3) * scale);
                const int64_t y2 = std::lround(rois.getDouble(r * 5 + 4) * scale);
                const double binH = static_cast<double>(std::max<int64_t>(y2 - y1 + 1, 1)) / static_cast<double>(ph);
                const double binW = static_cast<double>(std::max<int64_t>(x2 - x1 + 1, 1)) / static_cast<double>(pw);
                for (int64_t c = 0; c < channels; ++c) {
                    const T* plane = x.data<T>() + (b * channels + c) * H * W;
                    T* out = y->data<T>() + ((r * channels + c) * ph) * pw;
                    for (int64_t i = 0; i < ph; ++i) {
                        const int64_t h0 = std::clamp<int64_t>(static_cast<int64_t>(std::floor(i * binH)) + y1, 0, H);
                        const int64_t h1 =
                            std::clamp<int64_t>(static_cast<int64_t>(std::ceil((i + 1) * binH)) + y1, 0, H);
                        for (int64_t j = 0; j < pw; ++j) {
                            const int64_t w0 =
                                std::clamp<int64_t>(static_cast<int64_t>(std::floor(j * binW)) + x1, 0, W);
                            const int64_t w1 =
                                std::clamp<int64_t>(static_cast<int64_t>(std::ceil((j + 1) * binW)) + x1, 0, W);
                            C best = std::numeric_limits<C>::lowest();
                            const bool empty = h1 <= h0 || w1 <= w0;
                            for (int64_t h = h0; h < h1; ++h) {
                                for (int64_t w = w0; w < w1; ++w)
                                    best = std::max(best, static_cast<C>(plane[h * W + w]));
                            }
                            out[i * pw + j] = fromCompute<T>(empty ? C(0) : best);
                        }
                    }
                }
            }
            return Status::ok();
        },
        "MaxRoiPool");
}

}  // namespace kiln::cpu
