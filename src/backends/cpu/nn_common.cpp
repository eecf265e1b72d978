#include "backends/cpu/nn_common.h"

#include <cblas.h>

#include <algorithm>
#include <climits>
#include <string>
#include <type_traits>

#include "backends/cpu/broadcast.h"
#include "common/dispatch.h"

namespace kiln::cpu::nn {

Status checkDropoutIsNoOp(const Tensor* ratioInput, const Tensor* trainingMode) {
    double ratio = 0.5;
    if (ratioInput != nullptr) {
        const Tensor& r = *ratioInput;
        if (!isFloatingPoint(r.dtype()) || r.numel() != 1) {
            return invalidArgument("input 1 'ratio' must be a float scalar, got " + r.describe());
        }
        ratio = r.getDouble(0);
    }
    if (!(ratio >= 0.0 && ratio < 1.0)) {
        return invalidArgument("input 1 'ratio' must be in [0, 1), got " + std::to_string(ratio));
    }
    bool training = false;
    if (trainingMode != nullptr) {
        const Tensor& t = *trainingMode;
        if (t.dtype() != DataType::kBool || t.numel() != 1) {
            return invalidArgument("input 2 'training_mode' must be a bool scalar, got " + t.describe());
        }
        training = t.data<bool>()[0];
    }
    // Before opset 12 there is no training input; like other runtimes, treat those Dropouts (is_test included)
    // as the inference no-op.
    if (training && ratio > 0.0) {
        return unsupported("Dropout with training_mode=true and ratio > 0 has random outputs; not supported");
    }
    return Status::ok();
}

namespace {

// Bound on im2col buffers (elements): large images (ISNet at 1024x1024) would otherwise need GiBs of columns.
constexpr int64_t kColBudget = int64_t{4} << 20;

std::string listToString(const std::vector<int64_t>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    return s + "]";
}

Result<std::vector<int64_t>> intsAttr(const ir::Attributes& attrs, const char* name, size_t length, int64_t fallback,
                                      int64_t minValue) {
    auto values = attrs.getInts(name);
    if (!values) return std::vector<int64_t>(length, fallback);
    if (values->size() != length) {
        return invalidArgument(std::string("attribute '") + name + "' must have " + std::to_string(length) +
                               " values, got " + listToString(*values));
    }
    for (int64_t v : *values) {
        if (v < minValue) {
            return invalidArgument(std::string("attribute '") + name + "' values must be >= " +
                                   std::to_string(minValue) + ", got " + listToString(*values));
        }
    }
    return *values;
}

}  // namespace

Result<AutoPad> parseAutoPad(const ir::Attributes& attrs) {
    const std::string s = attrs.getString("auto_pad", "NOTSET");
    if (s == "NOTSET" || s.empty()) return AutoPad::kNotSet;
    if (s == "SAME_UPPER") return AutoPad::kSameUpper;
    if (s == "SAME_LOWER") return AutoPad::kSameLower;
    if (s == "VALID") return AutoPad::kValid;
    return invalidArgument("attribute 'auto_pad' must be NOTSET, SAME_UPPER, SAME_LOWER or VALID, got '" + s + "'");
}

Result<std::vector<int64_t>> kernelShapeAttr(const ir::Attributes& attrs, size_t spatialRank) {
    auto kernel = attrs.getInts("kernel_shape");
    if (!kernel) return invalidArgument("attribute 'kernel_shape' is required");
    if (kernel->size() != spatialRank) {
        return invalidArgument("attribute 'kernel_shape' " + listToString(*kernel) + " must have " +
                               std::to_string(spatialRank) + " values (the input's spatial rank)");
    }
    for (int64_t k : *kernel) {
        if (k < 1) return invalidArgument("attribute 'kernel_shape' " + listToString(*kernel) + " must be positive");
    }
    return *kernel;
}

Status checkSpatialInput(const Tensor& x, const char* what) {
    if (x.rank() < 3) {
        return invalidArgument(std::string("input '") + what + "' must be (N, C, D1, ...), got " + x.describe());
    }
    if (x.rank() > 2 + kMaxSpatial) {
        return unsupported(std::string("input '") + what + "' " + x.describe() + ": more than " +
                           std::to_string(kMaxSpatial) + " spatial dims is not supported");
    }
    return Status::ok();
}

Status checkConcatSlotInputs(const Tensor& y, const std::vector<const Tensor*>& others, int64_t slot) {
    if (slot < 0 || slot > static_cast<int64_t>(others.size())) {
        return invalidArgument("kiln_concat_slot " + std::to_string(slot) + " is outside [0, " +
                               std::to_string(others.size()) + "] (the node concatenates " +
                               std::to_string(others.size()) + " other inputs)");
    }
    for (size_t k = 0; k < others.size(); ++k) {
        const std::string name = "concatenated input " + std::to_string(k + 3);
        const Tensor* e = others[k];
        if (e == nullptr) return invalidArgument(name + " is missing");
        if (e->rank() != 4 || e->dtype() != y.dtype() || e->dim(0) != y.dim(0) || e->dim(1) != y.dim(1) ||
            e->dim(2) != y.dim(2)) {
            return invalidArgument(name + " " + e->describe() +
                                   " must be channels-last like the ConvTranspose's result " + y.describe() +
                                   " (same dtype, N, H and W)");
        }
    }
    return Status::ok();
}

Result<Window> resolveWindow(const ir::Attributes& attrs, const Shape& inSpatial, const std::vector<int64_t>& kernel,
                             bool ceilMode) {
    const size_t r = inSpatial.size();
    if (r < 1 || r > kMaxSpatial) {
        return unsupported(std::to_string(r) + " spatial dims is not supported (1 to 3 are)");
    }
    if (kernel.size() != r) {
        return invalidArgument("kernel has " + std::to_string(kernel.size()) + " spatial dims, input has " +
                               std::to_string(r));
    }
    KILN_ASSIGN_OR_RETURN(auto strides, intsAttr(attrs, "strides", r, 1, 1));
    KILN_ASSIGN_OR_RETURN(auto dilations, intsAttr(attrs, "dilations", r, 1, 1));
    KILN_ASSIGN_OR_RETURN(auto pads, intsAttr(attrs, "pads", 2 * r, 0, 0));
    KILN_ASSIGN_OR_RETURN(AutoPad autoPad, parseAutoPad(attrs));

    Window win;
    win.rank = static_cast<int64_t>(r);
    const size_t off = kMaxSpatial - r;
    for (size_t i = 0; i < r; ++i) {
        const int64_t in = inSpatial[i];
        const int64_t k = kernel[i];
        const int64_t s = strides[i];
        const int64_t d = dilations[i];
        if (k < 1)
            return invalidArgument("kernel dim " + std::to_string(i) + " must be positive, got " + std::to_string(k));
        const int64_t dk = (k - 1) * d + 1;
        int64_t pb = pads[i];
        int64_t pe = pads[i + r];
        int64_t out = 0;
        if (autoPad == AutoPad::kSameUpper || autoPad == AutoPad::kSameLower) {
            out = (in + s - 1) / s;
            const int64_t total = std::max<int64_t>(0, (out - 1) * s + dk - in);
            pb = autoPad == AutoPad::kSameUpper ? total / 2 : total - total / 2;
            pe = total - pb;
        } else {
            if (autoPad == AutoPad::kValid) pb = pe = 0;
            const int64_t span = in + pb + pe - dk;
            if (span < 0) {
                return invalidArgument("spatial dim " + std::to_string(i) + " of size " + std::to_string(in) +
                                       " (pads " + std::to_string(pb) + "+" + std::to_string(pe) +
                                       ") is smaller than the dilated kernel " + std::to_string(dk));
            }
            out = (ceilMode ? (span + s - 1) / s : span / s) + 1;
            if (ceilMode && (out - 1) * s >= in + pb) --out;
        }
        win.in[off + i] = in;
        win.kernel[off + i] = k;
        win.stride[off + i] = s;
        win.dilation[off + i] = d;
        win.padBegin[off + i] = pb;
        win.padEnd[off + i] = pe;
        win.out[off + i] = out;
    }
    return win;
}

Result<ConvGeometry> convGeometry(const ir::Attributes& attrs, const Tensor& x, const Tensor& w) {
    KILN_RETURN_IF_ERROR(checkSpatialInput(x, "X"));
    if (w.rank() != x.rank()) {
        return invalidArgument("input 'W' " + w.describe() + " must have the rank of input 'X' " + x.describe());
    }
    ConvGeometry geo;
    geo.batch = x.dim(0);
    geo.inC = x.dim(1);
    geo.outC = w.dim(0);
    geo.group = attrs.getInt("group", 1);
    if (geo.group < 1) return invalidArgument("attribute 'group' must be positive, got " + std::to_string(geo.group));
    if (geo.inC % geo.group != 0 || w.dim(1) * geo.group != geo.inC || geo.outC % geo.group != 0) {
        return invalidArgument("input 'W' " + w.describe() + " does not match input 'X' " + x.describe() +
                               " with group " + std::to_string(geo.group) +
                               " (need W.dim(1) * group == C and M divisible by group)");
    }
    const Shape spatial(x.shape().begin() + 2, x.shape().end());
    const std::vector<int64_t> kernel(w.shape().begin() + 2, w.shape().end());
    if (auto ks = attrs.getInts("kernel_shape"); ks && *ks != kernel) {
        return invalidArgument("attribute 'kernel_shape' " + listToString(*ks) + " does not match input 'W' " +
                               w.describe());
    }
    KILN_ASSIGN_OR_RETURN(geo.win, resolveWindow(attrs, spatial, kernel));
    geo.outShape = {geo.batch, geo.outC};
    for (int64_t d : geo.win.outShape()) geo.outShape.push_back(d);
    return geo;
}

Result<ConvTransposeGeometry> convTransposeGeometry(const ir::Attributes& attrs, const Tensor& x, const Tensor& w) {
    KILN_RETURN_IF_ERROR(checkSpatialInput(x, "X"));
    if (w.rank() != x.rank() || w.dtype() != x.dtype()) {
        return invalidArgument("input 'W' " + w.describe() + " must have the rank and dtype of input 'X' " +
                               x.describe());
    }
    ConvTransposeGeometry geo;
    geo.batch = x.dim(0);
    geo.inC = x.dim(1);
    geo.group = attrs.getInt("group", 1);
    if (geo.group < 1 || geo.inC % geo.group != 0 || w.dim(0) != geo.inC) {
        return invalidArgument("input 'W' " + w.describe() + " must be [C, M/group, k...] for input 'X' " +
                               x.describe() + " and group " + std::to_string(geo.group));
    }
    geo.outC = w.dim(1) * geo.group;
    const size_t r = static_cast<size_t>(x.rank() - 2);
    const std::vector<int64_t> kernel(w.shape().begin() + 2, w.shape().end());
    if (auto ks = attrs.getInts("kernel_shape"); ks && *ks != kernel) {
        return invalidArgument("attribute 'kernel_shape' does not match input 'W' " + w.describe());
    }
    auto readInts = [&](const char* name, int64_t fallback, size_t length) -> Result<std::vector<int64_t>> {
        auto v = attrs.getInts(name);
        if (!v) return std::vector<int64_t>(length, fallback);
        if (v->size() != length) {
            return invalidArgument(std::string("attribute '") + name + "' must have " + std::to_string(length) +
                                   " values, got " + std::to_string(v->size()));
        }
        return *v;
    };
    KILN_ASSIGN_OR_RETURN(auto strides, readInts("strides", 1, r));
    KILN_ASSIGN_OR_RETURN(auto dilations, readInts("dilations", 1, r));
    KILN_ASSIGN_OR_RETURN(auto pads, readInts("pads", 0, 2 * r));
    KILN_ASSIGN_OR_RETURN(auto outputPadding, readInts("output_padding", 0, r));
    KILN_ASSIGN_OR_RETURN(AutoPad autoPad, parseAutoPad(attrs));
    auto outputShape = attrs.getInts("output_shape");
    if (outputShape && outputShape->size() == r + 2) outputShape->erase(outputShape->begin(), outputShape->begin() + 2);
    if (outputShape && outputShape->size() != r) {
        return invalidArgument("attribute 'output_shape' must have " + std::to_string(r) + " values");
    }

    Window& win = geo.win;
    win.rank = static_cast<int64_t>(r);
    geo.outShape = {geo.batch, geo.outC};
    const size_t off = kMaxSpatial - r;
    for (size_t i = 0; i < r; ++i) {
        const int64_t in = x.dim(static_cast<int64_t>(i + 2));
        const int64_t k = kernel[i], s = strides[i], d = dilations[i];
        if (k < 1 || s < 1 || d < 1 || outputPadding[i] < 0 || pads[i] < 0 || pads[i + r] < 0) {
            return invalidArgument(
                "kernel, strides, dilations, pads and output_padding must be valid (positive "
                "kernel/strides/dilations, non-negative pads)");
        }
        const int64_t natural = s * (in - 1) + outputPadding[i] + (k - 1) * d + 1;
        int64_t out = 0;
        int64_t pb = 0;
        if (outputShape || autoPad == AutoPad::kSameUpper || autoPad == AutoPad::kSameLower) {
            out = outputShape ? (*outputShape)[i] : in * s;
            const int64_t total = std::max<int64_t>(0, natural - out);
            pb = autoPad == AutoPad::kSameUpper ? total / 2 : total - total / 2;
        } else {
            pb = autoPad == AutoPad::kValid ? 0 : pads[i];
            const int64_t pe = autoPad == AutoPad::kValid ? 0 : pads[i + r];
            out = natural - pb - pe;
        }
        if (out < 0) return invalidArgument("output spatial dim " + std::to_string(i) + " would be negative");
        geo.outShape.push_back(out);
        win.in[off + i] = out;
        win.out[off + i] = in;
        win.kernel[off + i] = k;
        win.stride[off + i] = s;
        win.dilation[off + i] = d;
        win.padBegin[off + i] = pb;
    }
    return geo;
}

int64_t rowsPerBlock(const Window& win, int64_t colRows) {
    const int64_t rows = win.out[0] * win.out[1];
    const int64_t perRow = std::max<int64_t>(1, colRows * win.out[2]);
    return std::clamp<int64_t>(kColBudget / perRow, 1, std::max<int64_t>(rows, 1));
}

template <typename T>
void im2col(const T* x, int64_t channels, const Window& win, int64_t row0, int64_t row1, T pad, T* col) {
    const int64_t D = win.in[0], H = win.in[1], W = win.in[2];
    const int64_t OH = win.out[1], OW = win.out[2];
    T* dst = col;
    for (int64_t c = 0; c < channels; ++c) {
        for (int64_t kd = 0; kd < win.kernel[0]; ++kd) {
            for (int64_t kh = 0; kh < win.kernel[1]; ++kh) {
                for (int64_t kw = 0; kw < win.kernel[2]; ++kw) {
                    const int64_t iw0 = kw * win.dilation[2] - win.padBegin[2];
                    for (int64_t r = row0; r < row1; ++r, dst += OW) {
                        const int64_t id = (r / OH) * win.stride[0] - win.padBegin[0] + kd * win.dilation[0];
                        const int64_t ih = (r % OH) * win.stride[1] - win.padBegin[1] + kh * win.dilation[1];
                        if (id < 0 || id >= D || ih < 0 || ih >= H) {
                            std::fill(dst, dst + OW, pad);
                            continue;
                        }
                        const T* src = x + ((c * D + id) * H + ih) * W;
                        if (win.stride[2] == 1) {
                            const int64_t lo = std::clamp<int64_t>(-iw0, 0, OW);
                            const int64_t hi = std::clamp<int64_t>(W - iw0, lo, OW);
                            std::fill(dst, dst + lo, pad);
                            std::copy(src + iw0 + lo, src + iw0 + hi, dst + lo);
                            std::fill(dst + hi, dst + OW, pad);
                        } else {
                            for (int64_t ow = 0; ow < OW; ++ow) {
                                const int64_t iw = iw0 + ow * win.stride[2];
                                dst[ow] = iw >= 0 && iw < W ? src[iw] : pad;
                            }
                        }
                    }
                }
            }
        }
    }
}

template <typename T>
void col2imAdd(const T* col, int64_t channels, const Window& win, int64_t row0, int64_t row1, T* x) {
    const int64_t D = win.in[0], H = win.in[1], W = win.in[2];
    const int64_t OH = win.out[1], OW = win.out[2];
    const T* src = col;
    for (int64_t c = 0; c < channels; ++c) {
        for (int64_t kd = 0; kd < win.kernel[0]; ++kd) {
            for (int64_t kh = 0; kh < win.kernel[1]; ++kh) {
                for (int64_t kw = 0; kw < win.kernel[2]; ++kw) {
                    const int64_t iw0 = kw * win.dilation[2] - win.padBegin[2];
                    for (int64_t r = row0; r < row1; ++r, src += OW) {
                        const int64_t id = (r / OH) * win.stride[0] - win.padBegin[0] + kd * win.dilation[0];
                        const int64_t ih = (r % OH) * win.stride[1] - win.padBegin[1] + kh * win.dilation[1];
                        if (id < 0 || id >= D || ih < 0 || ih >= H) continue;
                        T* dst = x + ((c * D + id) * H + ih) * W;
                        for (int64_t ow = 0; ow < OW; ++ow) {
                            const int64_t iw = iw0 + ow * win.stride[2];
                            if (iw >= 0 && iw < W) dst[iw] += src[ow];
                        }
                    }
                }
            }
        }
    }
}

template void im2col<float>(const float*, int64_t, const Window&, int64_t, int64_t, float, float*);
template void im2col<double>(const double*, int64_t, const Window&, int64_t, int64_t, double, double*);
template void im2col<int32_t>(const int32_t*, int64_t, const Window&, int64_t, int64_t, int32_t, int32_t*);
template void col2imAdd<float>(const float*, int64_t, const Window&, int64_t, int64_t, float*);
template void col2imAdd<double>(const double*, int64_t, const Window&, int64_t, int64_t, double*);

namespace {

template <typename T>
bool trivialGemm(int64_t m, int64_t n, int64_t k, T beta, T* c, int64_t ldc) {
    if (m == 0 || n == 0) return true;
    if (k != 0) return false;
    for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
    }
    return true;
}

}  // namespace

void gemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
    if (trivialGemm(m, n, k, beta, c, ldc)) return;
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                static_cast<blasint>(m), static_cast<blasint>(n), static_cast<blasint>(k), alpha, a,
                static_cast<blasint>(lda), b, static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
}

void gemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
    if (trivialGemm(m, n, k, beta, c, ldc)) return;
    cblas_dgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                static_cast<blasint>(m), static_cast<blasint>(n), static_cast<blasint>(k), alpha, a,
                static_cast<blasint>(lda), b, static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
}

void widen(const Half* in, int64_t n, float* out) {
    static const std::vector<float> table = [] {
        std::vector<float> t(65536);
        for (uint32_t b = 0; b < 65536; ++b) t[b] = Half::toFloat(static_cast<uint16_t>(b));
        return t;
    }();
    for (int64_t i = 0; i < n; ++i) out[i] = table[in[i].bits];
}

void widen(const BFloat16* in, int64_t n, float* out) {
    for (int64_t i = 0; i < n; ++i) out[i] = BFloat16::toFloat(in[i].bits);
}

template <typename C>
std::vector<C> toCompute(const Tensor& t) {
    std::vector<C> out(static_cast<size_t>(t.numel()));
    dispatchFloat(t.dtype(), [&]<typename T>() {
        const T* p = t.data<T>();
        if constexpr (std::is_same_v<C, float> && (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>)) {
            widen(p, t.numel(), out.data());
        } else {
            for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<C>(static_cast<ComputeT<T>>(p[i]));
        }
        return Status::ok();
    }).ignore();
    return out;
}

template std::vector<float> toCompute<float>(const Tensor&);
template std::vector<double> toCompute<double>(const Tensor&);

Status convInteger(const Tensor& x, int32_t xZero, const Tensor& w, const std::vector<int32_t>& wZero,
                   const ConvGeometry& geo, int32_t* y) {
    const Window& win = geo.win;
    const int64_t batch = geo.batch;
    const int64_t inC = geo.inC;
    const int64_t outC = geo.outC;
    const int64_t group = geo.group;
    const int64_t cg = inC / group;
    const int64_t mg = outC / group;
    const int64_t kSize = win.kernelSize();
    const int64_t kg = cg * kSize;
    const int64_t inSize = win.inSize();
    const int64_t outSize = win.outSize();

    std::vector<int32_t> w32(static_cast<size_t>(w.numel()));
    KILN_RETURN_IF_ERROR(dispatchInteger(w.dtype(), [&]<typename T>() {
        const T* p = w.data<T>();
        for (int64_t m = 0; m < outC; ++m) {
            for (int64_t j = 0; j < kg; ++j) w32[m * kg + j] = static_cast<int32_t>(p[m * kg + j]) - wZero[m];
        }
        return Status::ok();
    }));
    std::vector<int32_t> x32(static_cast<size_t>(inC * inSize));
    const int64_t blockRows = rowsPerBlock(win, kg);
    std::vector<int32_t> col(static_cast<size_t>(kg * blockRows * win.out[2]));
    std::vector<int32_t> acc(static_cast<size_t>(mg * blockRows * win.out[2]));
    const int64_t rows = win.out[0] * win.out[1];
    for (int64_t n = 0; n < batch; ++n) {
        KILN_RETURN_IF_ERROR(dispatchInteger(x.dtype(), [&]<typename T>() {
            const T* p = x.data<T>() + n * inC * inSize;
            for (int64_t i = 0; i < inC * inSize; ++i) x32[i] = static_cast<int32_t>(p[i]) - xZero;
            return Status::ok();
        }));
        for (int64_t g = 0; g < group; ++g) {
            for (int64_t r0 = 0; r0 < rows; r0 += blockRows) {
                const int64_t r1 = std::min(rows, r0 + blockRows);
                const int64_t cols = (r1 - r0) * win.out[2];
                im2col<int32_t>(x32.data() + g * cg * inSize, cg, win, r0, r1, 0, col.data());
                std::fill(acc.begin(), acc.begin() + mg * cols, 0);
                gemmLoop<int32_t>(mg, cols, kg, w32.data() + g * mg * kg, kg, col.data(), cols, acc.data(), cols);
                int32_t* yg = y + (n * outC + g * mg) * outSize + r0 * win.out[2];
                for (int64_t m = 0; m < mg; ++m) std::copy_n(acc.data() + m * cols, cols, yg + m * outSize);
            }
        }
    }
    return Status::ok();
}

Result<MatMulPlan> planMatMul(const Shape& aShape, const Shape& bShape) {
    if (aShape.empty() || bShape.empty()) {
        return invalidArgument("matmul inputs must have rank >= 1, got " + shapeToString(aShape) + " and " +
                               shapeToString(bShape));
    }
    Shape a = aShape;
    Shape b = bShape;
    if (a.size() == 1) a.insert(a.begin(), 1);
    if (b.size() == 1) b.push_back(1);
    MatMulPlan plan;
    plan.m = a[a.size() - 2];
    plan.k = a.back();
    plan.n = b.back();
    if (b[b.size() - 2] != plan.k) {
        return invalidArgument("matmul inner dims differ: " + shapeToString(aShape) + " and " + shapeToString(bShape));
    }
    const Shape aBatch(a.begin(), a.end() - 2);
    const Shape bBatch(b.begin(), b.end() - 2);
    KILN_ASSIGN_OR_RETURN(Shape batch, broadcastShapes({aBatch, bBatch}));
    plan.outShape = batch;
    if (aShape.size() > 1) plan.outShape.push_back(plan.m);
    if (bShape.size() > 1) plan.outShape.push_back(plan.n);
    const int64_t count = shapeNumel(batch);
    const BroadcastIndexer ia(aBatch, batch);
    const BroadcastIndexer ib(bBatch, batch);
    plan.aOffsets.resize(static_cast<size_t>(count));
    plan.bOffsets.resize(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) {
        plan.aOffsets[i] = ia(i) * plan.m * plan.k;
        plan.bOffsets[i] = ib(i) * plan.k * plan.n;
    }
    plan.bShared = shapeNumel(bBatch) == 1 && ia.isIdentity();
    return plan;
}

}  // namespace kiln::cpu::nn
