// Resize and Upsample. A first kernel builds each axis's taps (input offset and weight per output index, and the
// tf_crop_and_resize "outside" flag) in workspace memory with the CPU reference's formulas; the second sums the
// product of the axes' taps per output element in the reference's order. 2-D images (every axis but the last two
// copied through) take a kernel with the two tap loops unrolled.
#include "backends/cuda/kernels/resize.h"
#include "backends/cuda/kernels/resize_common.cuh"

namespace kiln::cuda {

namespace {

using dm::addRn;
using dm::blocksFor;
using dm::divRn;
using dm::kThreads;
using dm::mulRn;
using dm::subRn;

struct Tables {
    int64_t* offset;   //!< Per axis: outLen * count input offsets.
    float* weight;     //!< Per axis: outLen * count weights.
    uint8_t* outside;  //!< Per axis: outLen flags.
    int64_t tapStart[kMaxResizeDims];
    int64_t flagStart[kMaxResizeDims];
    int32_t count[kMaxResizeDims];
    int64_t totalTaps;
    int64_t totalFlags;
};

int32_t tapCount(const ResizeDesc& d, int axis) {
    if (d.mode == kResizeNearest || !d.axes[axis].interpolate) return 1;
    return d.mode == kResizeLinear ? 2 : 4;
}

Tables layout(const ResizeDesc& d, void* workspace) {
    Tables t{};
    for (int a = 0; a < d.rank; ++a) {
        t.count[a] = tapCount(d, a);
        t.tapStart[a] = t.totalTaps;
        t.flagStart[a] = t.totalFlags;
        t.totalTaps += d.axes[a].outLen * t.count[a];
        t.totalFlags += d.axes[a].outLen;
    }
    if (workspace != nullptr) {
        auto* base = static_cast<char*>(workspace);
        t.offset = reinterpret_cast<int64_t*>(base);
        t.weight = reinterpret_cast<float*>(base + t.totalTaps * 8);
        t.outside = reinterpret_cast<uint8_t*>(base + t.totalTaps * 12);
    }
    return t;
}

__device__ float originalCoordinate(int32_t mode, float x, float scale, float outLen, float inLen, float roiStart,
                                    float roiEnd) {
    switch (mode) {
        case kCoordAsymmetric: return divRn(x, scale);
        case kCoordPytorchHalfPixel: return outLen > 1 ? subRn(divRn(addRn(x, 0.5F), scale), 0.5F) : 0.0F;
        case kCoordTfHalfPixelForNn: return divRn(addRn(x, 0.5F), scale);
        case kCoordAlignCorners: return outLen == 1 ? 0.0F : divRn(mulRn(x, subRn(inLen, 1.0F)), subRn(outLen, 1.0F));
        case kCoordTfCropAndResize:
            if (outLen > 1) {
                return addRn(mulRn(roiStart, subRn(inLen, 1.0F)),
                             divRn(mulRn(mulRn(x, subRn(roiEnd, roiStart)), subRn(inLen, 1.0F)), subRn(outLen, 1.0F)));
            }
            return __double2float_rn(mulRn(mulRn(0.5, static_cast<double>(addRn(roiStart, roiEnd))),
                                           static_cast<double>(subRn(inLen, 1.0F))));
        default: return subRn(divRn(addRn(x, 0.5F), scale), 0.5F);
    }
}

__device__ int64_t nearestPixel(int32_t mode, float x, bool downsample) {
    switch (mode) {
        case kNearestSimple: return static_cast<int64_t>(downsample ? ceilf(x) : x);
        case kNearestRoundPreferCeil: return static_cast<int64_t>(roundf(x));
        case kNearestFloor: return static_cast<int64_t>(floorf(x));
        case kNearestCeil: return static_cast<int64_t>(ceilf(x));
        default:
            if (x == addRn(static_cast<float>(static_cast<int64_t>(x)), 0.5F)) return static_cast<int64_t>(floorf(x));
            return static_cast<int64_t>(roundf(x));
    }
}

__device__ int64_t clampIndex(int64_t i, int64_t hi) { return i < 0 ? 0 : (i > hi ? hi : i); }

//! The taps of output index o along one axis (the reference's buildTaps).
__device__ void buildAxisTaps(const ResizeDesc& p, const ResizeAxis& a, int32_t count, int64_t o, int64_t* offset,
                              float* weight, uint8_t* outside) {
    const bool identity = a.scale == 1.0F;
    const bool extrapolate = p.coord == kCoordTfCropAndResize && !identity;
    const auto in = static_cast<float>(a.inLen);
    const float x =
        identity ? static_cast<float>(o)
                 : originalCoordinate(p.coord, static_cast<float>(o), a.scale, a.resizedLen, in, a.roiStart, a.roiEnd);
    *outside = extrapolate && (x < 0 || x > subRn(in, 1.0F)) ? 1 : 0;
    if (count == 1) {
        int64_t i = o;
        if (!identity) i = clampIndex(nearestPixel(p.nearest, x, a.scale < 1), a.inLen - 1);
        offset[0] = (i < a.inLen - 1 ? i : a.inLen - 1) * a.stride;
        weight[0] = 1.0F;
        return;
    }
    if (count == 2) {
        const float last = subRn(in, 1.0F);
        const float m = last < x ? last : x;   // std::min(x, in - 1), NaN passes through
        const float xc = 0.0F < m ? m : 0.0F;  // std::max(0, m), NaN becomes 0
        int64_t x1 = static_cast<int64_t>(xc);
        if (x1 > a.inLen - 1) x1 = a.inLen - 1;
        const int64_t x2 = x1 + 1 < a.inLen - 1 ? x1 + 1 : a.inLen - 1;
        float d1 = fabsf(subRn(xc, static_cast<float>(x1)));
        float d2 = fabsf(subRn(xc, static_cast<float>(x2)));
        if (x1 == x2) d1 = d2 = 0.5F;
        offset[0] = x1 * a.stride;
        weight[0] = d2;
        offset[1] = x2 * a.stride;
        weight[1] = d1;
        return;
    }
    const float fl = floorf(x);
    const auto xi = static_cast<int64_t>(fl);
    float c[4];
    dm::cubicCoeffs(subRn(x, fl), p.cubicA, c);
    float sum = 0;
    for (int j = 0; j < 4; ++j) {
        const int64_t idx = xi - 1 + j;
        if (p.excludeOutside && (idx < 0 || idx >= a.inLen)) c[j] = 0;
        sum = addRn(sum, c[j]);
    }
    for (int j = 0; j < 4; ++j) {
        offset[j] = clampIndex(xi - 1 + j, a.inLen - 1) * a.stride;
        weight[j] = p.excludeOutside && sum != 0 ? divRn(c[j], sum) : c[j];
    }
}

__global__ void __launch_bounds__(kThreads) buildTapsKernel(ResizeDesc p, Tables t) {
    for (const int64_t i : dm::gridStride(t.totalFlags)) {
        int a = 0;
        while (a + 1 < p.rank && i >= t.flagStart[a + 1]) ++a;
        const int64_t o = i - t.flagStart[a];
        const int64_t k = t.tapStart[a] + o * t.count[a];
        buildAxisTaps(p, p.axes[a], t.count[a], o, t.offset + k, t.weight + k, t.outside + i);
    }
}

template <typename W>
__global__ void __launch_bounds__(kThreads)
    resizeNearestKernel(const W* __restrict__ x, W* __restrict__ y, int64_t total, ResizeDesc p, Tables t, W fill) {
    for (const int64_t e : dm::gridStride(total)) {
        int64_t rem = e;
        int64_t off = 0;
        bool outside = false;
        for (int a = p.rank - 1; a >= 0; --a) {
            const int64_t c = rem % p.axes[a].outLen;
            rem /= p.axes[a].outLen;
            off += t.offset[t.tapStart[a] + c];
            outside = outside || t.outside[t.flagStart[a] + c] != 0;
        }
        y[e] = outside ? fill : x[off];
    }
}

//! Linear / cubic over any rank: the odometer over the product of the axes' taps, last axis fastest.
template <typename T, typename Acc>
__global__ void __launch_bounds__(kThreads)
    resizeInterpKernel(const T* __restrict__ x, T* __restrict__ y, int64_t total, ResizeDesc p, Tables t) {
    for (const int64_t e : dm::gridStride(total)) {
        int64_t oc[kMaxResizeDims];
        int64_t rem = e;
        bool outside = false;
        int64_t combos = 1;
        for (int a = p.rank - 1; a >= 0; --a) {
            oc[a] = rem % p.axes[a].outLen;
            rem /= p.axes[a].outLen;
            outside = outside || t.outside[t.flagStart[a] + oc[a]] != 0;
            combos *= t.count[a];
        }
        if (outside) {
            y[e] = dm::toOutput<T>(static_cast<Acc>(p.extrapolation));
            continue;
        }
        int tc[kMaxResizeDims] = {};
        Acc acc = 0;
        for (int64_t c = 0; c < combos; ++c) {
            float w = 1.0F;
            int64_t off = 0;
            for (int a = 0; a < p.rank; ++a) {
                const int64_t k = t.tapStart[a] + oc[a] * t.count[a] + tc[a];
                off += t.offset[k];
                w = mulRn(w, t.weight[k]);
            }
            acc = addRn(acc, mulRn(static_cast<Acc>(w), dm::toCompute<Acc>(x[off])));
            for (int a = p.rank - 1; a >= 0; --a) {
                if (++tc[a] < t.count[a]) break;
                tc[a] = 0;
            }
        }
        y[e] = dm::toOutput<T>(acc);
    }
}

//! Images: planes of hIn x wIn resized to hOut x wOut, every other axis copied through.
template <typename T, typename Acc>
__global__ void __launch_bounds__(kThreads)
    resize2dKernel(const T* __restrict__ x, T* __restrict__ y, int64_t total, int64_t hOut, int64_t wOut,
                   int64_t planeIn, Tables t, int hAxis, float extrapolation) {
    const int wAxis = hAxis + 1;
    const int ch = t.count[hAxis];
    const int cw = t.count[wAxis];
    for (const int64_t e : dm::gridStride(total)) {
        const int64_t ow = e % wOut;
        const int64_t oh = (e / wOut) % hOut;
        const int64_t plane = e / (wOut * hOut);
        if (t.outside[t.flagStart[hAxis] + oh] != 0 || t.outside[t.flagStart[wAxis] + ow] != 0) {
            y[e] = dm::toOutput<T>(static_cast<Acc>(extrapolation));
            continue;
        }
        const T* img = x + plane * planeIn;
        const int64_t kh = t.tapStart[hAxis] + oh * ch;
        const int64_t kw = t.tapStart[wAxis] + ow * cw;
        Acc acc = 0;
        for (int i = 0; i < ch; ++i) {
            const int64_t rowOff = t.offset[kh + i];
            const float wh = t.weight[kh + i];
            for (int j = 0; j < cw; ++j) {
                const float w = mulRn(wh, t.weight[kw + j]);
                acc = addRn(acc, mulRn(static_cast<Acc>(w), dm::toCompute<Acc>(img[rowOff + t.offset[kw + j]])));
            }
        }
        y[e] = dm::toOutput<T>(acc);
    }
}

//! Whether every axis before the last two is copied through unchanged (one tap, scale 1, same length).
bool isImageResize(const ResizeDesc& d, const Tables& t) {
    if (d.rank < 2) return false;
    for (int a = 0; a + 2 < d.rank; ++a) {
        const ResizeAxis& ax = d.axes[a];
        if (t.count[a] != 1 || ax.scale != 1.0F || ax.inLen != ax.outLen) return false;
    }
    return true;
}

}  // namespace

size_t resizeWorkspaceBytes(const ResizeDesc& desc) {
    const Tables t = layout(desc, nullptr);
    return static_cast<size_t>(t.totalTaps * 12 + t.totalFlags);
}

cudaError_t launchResize(const void* x, void* y, DataType type, const ResizeDesc& desc, const void* nearestFill,
                         void* workspace, cudaStream_t stream) {
    int64_t total = 1;
    for (int a = 0; a < desc.rank; ++a) total *= desc.axes[a].outLen;
    if (total == 0) return cudaSuccess;
    const Tables t = layout(desc, workspace);
    buildTapsKernel<<<blocksFor(t.totalFlags), kThreads, 0, stream>>>(desc, t);
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return err;
    const unsigned blocks = blocksFor(total);
    if (desc.mode == kResizeNearest) {
        return dm::dispatchWord(dataTypeSize(type), [&](auto tag) {
            using W = typename decltype(tag)::type;
            const W fill = dm::replicate<W>(nearestFill, sizeof(W));
            resizeNearestKernel<W>
                <<<blocks, kThreads, 0, stream>>>(static_cast<const W*>(x), static_cast<W*>(y), total, desc, t, fill);
            return cudaGetLastError();
        });
    }
    if (type == DataType::kBool) return cudaErrorInvalidValue;
    return dispatchDevice<dtypes::kAll>(type, [&](auto tag) {
        using T = typename decltype(tag)::type;
        if constexpr (std::is_same_v<T, bool>) {
            return cudaErrorInvalidValue;
        } else {
            using Acc = std::conditional_t<std::is_same_v<T, double>, double, float>;
            const auto* xs = static_cast<const T*>(x);
            auto* ys = static_cast<T*>(y);
            if (isImageResize(desc, t)) {
                const int h = desc.rank - 2;
                const int64_t planeIn = desc.axes[h].inLen * desc.axes[h + 1].inLen;
                resize2dKernel<T, Acc><<<blocks, kThreads, 0, stream>>>(
                    xs, ys, total, desc.axes[h].outLen, desc.axes[h + 1].outLen, planeIn, t, h, desc.extrapolation);
            } else {
                resizeInterpKernel<T, Acc><<<blocks, kThreads, 0, stream>>>(xs, ys, total, desc, t);
            }
            return cudaGetLastError();
        }
    });
}

}  // namespace kiln::cuda
