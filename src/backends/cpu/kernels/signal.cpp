// Signal processing: DFT, STFT, HannWindow, HammingWindow, BlackmanWindow, MelWeightMatrix (opset 17).
//
// The transforms are direct O(n^2) sums in double over a precomputed twiddle table (indices reduced mod n, so
// the table is exact for every product j*k); the reference backend favours accuracy over speed here.
#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "backends/cpu/kernel.h"
#include "common/dispatch.h"

namespace kiln::cpu {
namespace {

//! Reads a scalar (or 1-element) integer input.
Result<int64_t> scalarInt(const KernelContext& ctx, size_t index, const char* name) {
    const Tensor& t = ctx.input(index);
    if (!isInteger(t.dtype())) {
        return invalidArgument(std::string("input '") + name + "' must be int32 or int64, got " +
                               dataTypeName(t.dtype()));
    }
    if (t.numel() != 1 || t.rank() > 1) {
        return invalidArgument(std::string("input '") + name + "' must be a scalar, got shape " +
                               shapeToString(t.shape()));
    }
    return t.getInt(0);
}

Result<double> scalarFloat(const KernelContext& ctx, size_t index, const char* name) {
    const Tensor& t = ctx.input(index);
    if (!isFloatingPoint(t.dtype())) {
        return invalidArgument(std::string("input '") + name + "' must be a float type, got " +
                               dataTypeName(t.dtype()));
    }
    if (t.numel() != 1 || t.rank() > 1) {
        return invalidArgument(std::string("input '") + name + "' must be a scalar, got shape " +
                               shapeToString(t.shape()));
    }
    return t.getDouble(0);
}

//! Twiddle factors e^{-2 pi i m / n} for m in [0, n).
struct Twiddles {
    std::vector<double> cosines;
    std::vector<double> sines;
    explicit Twiddles(int64_t n) : cosines(static_cast<size_t>(n)), sines(static_cast<size_t>(n)) {
        for (int64_t m = 0; m < n; ++m) {
            const double angle = 2.0 * std::numbers::pi * static_cast<double>(m) / static_cast<double>(n);
            cosines[static_cast<size_t>(m)] = std::cos(angle);
            sines[static_cast<size_t>(m)] = std::sin(angle);
        }
    }
};

//! out[k] for k < outLen = sum_j in[j] e^{-+2 pi i jk/n} (scaled by 1/n when inverse); in has n complex values.
void dft(const std::vector<double>& re, const std::vector<double>& im, int64_t n, int64_t outLen, bool inverse,
         const Twiddles& tw, std::vector<double>& outRe, std::vector<double>& outIm) {
    const double sign = inverse ? 1.0 : -1.0;
    const double scale = inverse ? 1.0 / static_cast<double>(n) : 1.0;
    for (int64_t k = 0; k < outLen; ++k) {
        double sr = 0.0;
        double si = 0.0;
        for (int64_t j = 0; j < n; ++j) {
            const size_t m = static_cast<size_t>((j * k) % n);
            const double c = tw.cosines[m];
            const double s = sign * tw.sines[m];
            sr += re[static_cast<size_t>(j)] * c - im[static_cast<size_t>(j)] * s;
            si += re[static_cast<size_t>(j)] * s + im[static_cast<size_t>(j)] * c;
        }
        outRe[static_cast<size_t>(k)] = sr * scale;
        outIm[static_cast<size_t>(k)] = si * scale;
    }
}

//! Generalised cosine window a0 - a1 cos(2 pi k / N) + a2 cos(4 pi k / N); N = size (periodic) or size - 1.
Status cosineWindow(KernelContext& ctx, double a0, double a1, double a2) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    KILN_ASSIGN_OR_RETURN(int64_t size, scalarInt(ctx, 0, "size"));
    if (size < 0) return invalidArgument("input 'size' must be non-negative, got " + std::to_string(size));
    KILN_ASSIGN_OR_RETURN(DataType outType, dataTypeAttribute(ctx, "output_datatype", DataType::kFloat32, false));
    const bool periodic = ctx.attrs().getInt("periodic", 1) != 0;
    const double denom = static_cast<double>(periodic ? size : size - 1);
    return dispatchNumeric(outType, [&]<typename T>() -> Status {
        KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, outType, {size}));
        for (int64_t k = 0; k < size; ++k) {
            // A symmetric window of one point is [1] (numpy.hanning(1)), not the 0/0 of the formula.
            const double x = denom > 0 ? 2.0 * std::numbers::pi * static_cast<double>(k) / denom : 0.0;
            const double v = denom > 0 ? a0 - a1 * std::cos(x) + a2 * std::cos(2.0 * x) : 1.0;
            y->data<T>()[k] = fromDouble<T>(v);
        }
        return Status::ok();
    });
}

}  // namespace

Status kernelDFT(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 2));
    const Tensor& x = ctx.input(0);
    if (x.rank() < 2) return invalidArgument("input 'input' must have rank >= 2, got " + shapeToString(x.shape()));
    const int64_t comps = x.dim(-1);
    if (comps != 1 && comps != 2) {
        return invalidArgument("input 'input' last dimension must be 1 (real) or 2 (complex), got " +
                               shapeToString(x.shape()));
    }
    const int64_t rank = x.rank();
    KILN_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(ctx.attrs().getInt("axis", 1), rank));
    if (axis == rank - 1) {
        return invalidArgument("attribute 'axis' must not be the last (real/imaginary) dimension of " +
                               shapeToString(x.shape()));
    }
    const bool inverse = ctx.attrs().getInt("inverse", 0) != 0;
    const bool onesided = ctx.attrs().getInt("onesided", 0) != 0;
    if (onesided && comps == 2) return invalidArgument("attribute 'onesided' requires a real input (last dim 1)");
    const int64_t axisLen = x.dim(axis);
    int64_t n = axisLen;
    if (ctx.hasInput(1)) {
        KILN_ASSIGN_OR_RETURN(n, scalarInt(ctx, 1, "dft_length"));
        if (n <= 0) return invalidArgument("input 'dft_length' must be positive, got " + std::to_string(n));
    }
    const int64_t outLen = onesided ? n / 2 + 1 : n;
    Shape outShape = x.shape();
    outShape[static_cast<size_t>(axis)] = outLen;
    outShape.back() = 2;
    int64_t outer = 1;
    for (int64_t i = 0; i < axis; ++i) outer *= x.dim(i);
    int64_t inner = 1;
    for (int64_t i = axis + 1; i < rank - 1; ++i) inner *= x.dim(i);
    return dispatchFloat(x.dtype(), [&]<typename T>() -> Status {
        KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, x.dtype(), outShape));
        if (y->numel() == 0 || n == 0) return Status::ok();
        const Twiddles tw(n);
        std::vector<double> re(static_cast<size_t>(n));
        std::vector<double> im(static_cast<size_t>(n));
        std::vector<double> oRe(static_cast<size_t>(outLen));
        std::vector<double> oIm(static_cast<size_t>(outLen));
        const T* in = x.data<T>();
        T* out = y->data<T>();
        const int64_t used = std::min(n, axisLen);
        for (int64_t o = 0; o < outer; ++o) {
            for (int64_t i = 0; i < inner; ++i) {
                std::fill(re.begin(), re.end(), 0.0);
                std::fill(im.begin(), im.end(), 0.0);
                for (int64_t j = 0; j < used; ++j) {
                    const int64_t src = ((o * axisLen + j) * inner + i) * comps;
                    re[static_cast<size_t>(j)] = static_cast<double>(in[src]);
                    if (comps == 2) im[static_cast<size_t>(j)] = static_cast<double>(in[src + 1]);
                }
                dft(re, im, n, outLen, inverse, tw, oRe, oIm);
                for (int64_t k = 0; k < outLen; ++k) {
                    const int64_t dst = ((o * outLen + k) * inner + i) * 2;
                    out[dst] = fromDouble<T>(oRe[static_cast<size_t>(k)]);
                    out[dst + 1] = fromDouble<T>(oIm[static_cast<size_t>(k)]);
                }
            }
        }
        return Status::ok();
    });
}

Status kernelSTFT(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 4));
    const Tensor& signal = ctx.input(0);
    if (signal.rank() != 3 || (signal.dim(2) != 1 && signal.dim(2) != 2)) {
        return invalidArgument("input 'signal' must have shape [batch, length, 1 or 2], got " +
                               shapeToString(signal.shape()));
    }
    const int64_t batch = signal.dim(0);
    const int64_t length = signal.dim(1);
    const int64_t comps = signal.dim(2);
    KILN_ASSIGN_OR_RETURN(int64_t step, scalarInt(ctx, 1, "frame_step"));
    if (step <= 0) return invalidArgument("input 'frame_step' must be positive, got " + std::to_string(step));
    const bool hasWindow = ctx.hasInput(2);
    if (hasWindow) {
        const Tensor& w = ctx.input(2);
        if (w.rank() != 1) return invalidArgument("input 'window' must have rank 1, got " + shapeToString(w.shape()));
        if (w.dtype() != signal.dtype()) {
            return invalidArgument(std::string("input 'window' must have the dtype of 'signal' (") +
                                   dataTypeName(signal.dtype()) + "), got " + dataTypeName(w.dtype()));
        }
    }
    int64_t frameLength = 0;
    if (ctx.hasInput(3)) {
        KILN_ASSIGN_OR_RETURN(frameLength, scalarInt(ctx, 3, "frame_length"));
        if (hasWindow && ctx.input(2).dim(0) != frameLength) {
            return invalidArgument("input 'window' " + shapeToString(ctx.input(2).shape()) +
                                   " does not match frame_length " + std::to_string(frameLength));
        }
    } else if (hasWindow) {
        frameLength = ctx.input(2).dim(0);
    } else {
        return invalidArgument("STFT needs input 'window' or input 'frame_length'");
    }
    if (frameLength <= 0 || frameLength > length) {
        return invalidArgument("frame length " + std::to_string(frameLength) + " must be in [1, signal length " +
                               std::to_string(length) + "]");
    }
    const bool onesided = ctx.attrs().getInt("onesided", 1) != 0;
    if (onesided && comps == 2) {
        return invalidArgument("attribute 'onesided' must be 0 for a complex signal (last dim 2)");
    }
    const int64_t frames = (length - frameLength) / step + 1;
    const int64_t bins = onesided ? frameLength / 2 + 1 : frameLength;
    return dispatchFloat(signal.dtype(), [&]<typename T>() -> Status {
        KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, signal.dtype(), {batch, frames, bins, 2}));
        const Twiddles tw(frameLength);
        std::vector<double> window(static_cast<size_t>(frameLength), 1.0);
        if (hasWindow) {
            for (int64_t j = 0; j < frameLength; ++j) window[static_cast<size_t>(j)] = ctx.input(2).getDouble(j);
        }
        std::vector<double> re(static_cast<size_t>(frameLength));
        std::vector<double> im(static_cast<size_t>(frameLength));
        std::vector<double> oRe(static_cast<size_t>(bins));
        std::vector<double> oIm(static_cast<size_t>(bins));
        const T* in = signal.data<T>();
        T* out = y->data<T>();
        for (int64_t b = 0; b < batch; ++b) {
            for (int64_t f = 0; f < frames; ++f) {
                for (int64_t j = 0; j < frameLength; ++j) {
                    const int64_t src = (b * length + f * step + j) * comps;
                    const double w = window[static_cast<size_t>(j)];
                    re[static_cast<size_t>(j)] = static_cast<double>(in[src]) * w;
                    im[static_cast<size_t>(j)] = comps == 2 ? static_cast<double>(in[src + 1]) * w : 0.0;
                }
                dft(re, im, frameLength, bins, false, tw, oRe, oIm);
                for (int64_t k = 0; k < bins; ++k) {
                    const int64_t dst = ((b * frames + f) * bins + k) * 2;
                    out[dst] = fromDouble<T>(oRe[static_cast<size_t>(k)]);
                    out[dst + 1] = fromDouble<T>(oIm[static_cast<size_t>(k)]);
                }
            }
        }
        return Status::ok();
    });
}

Status kernelHannWindow(KernelContext& ctx) { return cosineWindow(ctx, 0.5, 0.5, 0.0); }

Status kernelHammingWindow(KernelContext& ctx) { return cosineWindow(ctx, 25.0 / 46.0, 21.0 / 46.0, 0.0); }

Status kernelBlackmanWindow(KernelContext& ctx) { return cosineWindow(ctx, 0.42, 0.5, 0.08); }

Status kernelMelWeightMatrix(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(5, 5));
    KILN_ASSIGN_OR_RETURN(int64_t numMelBins, scalarInt(ctx, 0, "num_mel_bins"));
    KILN_ASSIGN_OR_RETURN(int64_t dftLength, scalarInt(ctx, 1, "dft_length"));
    KILN_ASSIGN_OR_RETURN(int64_t sampleRate, scalarInt(ctx, 2, "sample_rate"));
    KILN_ASSIGN_OR_RETURN(double lowerHz, scalarFloat(ctx, 3, "lower_edge_hertz"));
    KILN_ASSIGN_OR_RETURN(double upperHz, scalarFloat(ctx, 4, "upper_edge_hertz"));
    KILN_ASSIGN_OR_RETURN(DataType outType, dataTypeAttribute(ctx, "output_datatype", DataType::kFloat32, false));
    if (numMelBins <= 0) {
        return invalidArgument("input 'num_mel_bins' must be positive, got " + std::to_string(numMelBins));
    }
    if (dftLength <= 0) return invalidArgument("input 'dft_length' must be positive, got " + std::to_string(dftLength));
    if (sampleRate <= 0) {
        return invalidArgument("input 'sample_rate' must be positive, got " + std::to_string(sampleRate));
    }
    if (!(lowerHz >= 0.0) || !(upperHz > lowerHz)) {
        return invalidArgument("edges must satisfy 0 <= lower_edge_hertz < upper_edge_hertz, got " +
                               std::to_string(lowerHz) + " and " + std::to_string(upperHz));
    }
    const int64_t spectrogramBins = dftLength / 2 + 1;
    // Band edges: num_mel_bins + 2 points evenly spaced on the mel scale, mapped to DFT bins (as the ONNX
    // reference and ONNX Runtime do, including the step of (high - low) / (num_mel_bins + 2)).
    auto hzToMel = [](double hz) { return 2595.0 * std::log10(1.0 + hz / 700.0); };
    const double lowMel = hzToMel(lowerHz);
    const double highMel = hzToMel(upperHz);
    const int64_t points = numMelBins + 2;
    const double melStep = (highMel - lowMel) / static_cast<double>(points);
    std::vector<int64_t> edges(static_cast<size_t>(points));
    for (int64_t i = 0; i < points; ++i) {
        const double mel = static_cast<double>(i) * melStep + lowMel;
        const double hz = 700.0 * (std::pow(10.0, mel / 2595.0) - 1.0);
        edges[static_cast<size_t>(i)] =
            static_cast<int64_t>(std::floor(static_cast<double>(dftLength + 1) * hz / static_cast<double>(sampleRate)));
    }
    std::vector<double> m(static_cast<size_t>(spectrogramBins * numMelBins), 0.0);
    auto set = [&](int64_t row, int64_t col, double v) {
        // Bands reaching past the Nyquist bin (upper edge above sample_rate / 2) are cut at the last bin.
        if (row >= 0 && row < spectrogramBins) m[static_cast<size_t>(row * numMelBins + col)] = v;
    };
    for (int64_t i = 0; i < numMelBins; ++i) {
        const int64_t lo = edges[static_cast<size_t>(i)];
        const int64_t center = edges[static_cast<size_t>(i + 1)];
        const int64_t hi = edges[static_cast<size_t>(i + 2)];
        if (center == lo) {
            set(center, i, 1.0);
        } else {
            for (int64_t j = lo; j <= center; ++j) {
                set(j, i, static_cast<double>(j - lo) / static_cast<double>(center - lo));
            }
        }
        if (hi > center) {
            for (int64_t j = center; j < hi; ++j) {
                set(j, i, static_cast<double>(hi - j) / static_cast<double>(hi - center));
            }
        }
    }
    return dispatchNumeric(outType, [&]<typename T>() -> Status {
        KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, outType, {spectrogramBins, numMelBins}));
        for (size_t i = 0; i < m.size(); ++i) y->data<T>()[i] = fromDouble<T>(m[i]);
        return Status::ok();
    });
}

}  // namespace kiln::cpu
