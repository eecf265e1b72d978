// Quantization: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, MatMulInteger, QLinearMatMul,
// QLinearConv. Integer products accumulate in int32; requantization is float32 arithmetic with round half to
// even and saturation, as onnxruntime does.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "backends/cpu/kernel.h"
#include "backends/cpu/nn_common.h"
#include "common/dispatch.h"

namespace kiln::cpu {

namespace {

bool isQuantType(DataType t) { return t == DataType::kUInt8 || t == DataType::kInt8; }

//! Calls fn.template operator()<Q>() for the 8-bit quantized type `t`.
template <typename Fn>
Status dispatchQuant(DataType t, Fn&& fn, const char* what) {
    if (t == DataType::kUInt8) return fn.template operator()<uint8_t>();
    if (t == DataType::kInt8) return fn.template operator()<int8_t>();
    return unsupported(std::string(what) + ": dtype " + dataTypeName(t) + " is not supported (uint8 and int8 are)");
}

//! round-half-to-even(v) + zero, saturated to Q.
template <typename Q>
Q saturateRound(float v, int32_t zero) {
    if (std::isnan(v)) return static_cast<Q>(zero);
    const float r = std::nearbyint(v) + static_cast<float>(zero);
    const float lo = static_cast<float>(std::numeric_limits<Q>::min());
    const float hi = static_cast<float>(std::numeric_limits<Q>::max());
    return static_cast<Q>(std::clamp(r, lo, hi));
}

//! Scale and zero point, per tensor or per slice along `axis`: element i uses index (i / inner) % count.
struct QuantParams {
    std::vector<float> scale;
    std::vector<int32_t> zero;
    int64_t inner = 1;
    int64_t count = 1;
    int64_t channelOf(int64_t i) const { return count == 1 ? 0 : (i / inner) % count; }
};

Result<QuantParams> quantParams(const KernelContext& ctx, const Tensor& x, size_t scaleIndex, size_t zeroIndex) {
    const Tensor& scale = ctx.input(scaleIndex);
    const Tensor* zero = ctx.hasInput(zeroIndex) ? &ctx.input(zeroIndex) : nullptr;
    if (!isFloatingPoint(scale.dtype())) {
        return invalidArgument("input 'scale' must be a float type, got " + scale.describe());
    }
    QuantParams q;
    if (scale.numel() != 1) {
        if (scale.rank() != 1) {
            return invalidArgument("input 'scale' must be a scalar or 1-D (per-axis), got " + scale.describe());
        }
        KILN_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(ctx.attrs().getInt("axis", 1), x.rank()));
        if (scale.dim(0) != x.dim(axis)) {
            return invalidArgument("input 'scale' " + scale.describe() + " must have size " +
                                   std::to_string(x.dim(axis)) + " (input dim " + std::to_string(axis) + ")");
        }
        q.count = scale.dim(0);
        for (int64_t d = axis + 1; d < x.rank(); ++d) q.inner *= x.dim(d);
    }
    if (zero && zero->numel() != scale.numel()) {
        return invalidArgument("input 'zero_point' " + zero->describe() + " must have the shape of 'scale' " +
                               scale.describe());
    }
    for (int64_t i = 0; i < q.count; ++i) {
        q.scale.push_back(static_cast<float>(scale.getDouble(i)));
        q.zero.push_back(zero ? static_cast<int32_t>(zero->getInt(i)) : 0);
    }
    return q;
}

//! A zero point tensor (absent → 0) of `dtype`, read as int32; `name` names the input.
Result<std::vector<int32_t>> readZero(const KernelContext& ctx, size_t index, DataType dtype, const char* name) {
    if (!ctx.hasInput(index)) return std::vector<int32_t>{0};
    const Tensor& z = ctx.input(index);
    if (z.dtype() != dtype) {
        return invalidArgument(std::string("input '") + name + "' must be " + dataTypeName(dtype) + ", got " +
                               z.describe());
    }
    if (z.numel() == 0) return invalidArgument(std::string("input '") + name + "' is empty");
    std::vector<int32_t> v(static_cast<size_t>(z.numel()));
    for (int64_t i = 0; i < z.numel(); ++i) v[i] = static_cast<int32_t>(z.getInt(i));
    return v;
}

Result<std::vector<float>> readScale(const KernelContext& ctx, size_t index, const char* name) {
    const Tensor& s = ctx.input(index);
    if (!isFloatingPoint(s.dtype()) || s.numel() == 0) {
        return invalidArgument(std::string("input '") + name + "' must be a non-empty float tensor, got " +
                               s.describe());
    }
    std::vector<float> v(static_cast<size_t>(s.numel()));
    for (int64_t i = 0; i < s.numel(); ++i) v[i] = static_cast<float>(s.getDouble(i));
    return v;
}

//! Per-row (A) or per-column (B) parameters of a batched matmul: one value, one per row/column, or one per
//! row/column of each of the operand's own batches. Returns the flat index for (batch, i).
struct RowParam {
    int64_t size = 1;  // 1, rows, or batches * rows
    int64_t rows = 1;
    int64_t at(int64_t batch, int64_t i) const { return size == 1 ? 0 : size == rows ? i : batch * rows + i; }
};

Result<RowParam> rowParam(int64_t size, int64_t rows, int64_t batches, const char* name) {
    if (size != 1 && size != rows && size != rows * batches) {
        return invalidArgument(std::string("input '") + name + "' has " + std::to_string(size) +
                               " values; expected 1 or one per row/column (" + std::to_string(rows) + ")");
    }
    return RowParam{size, rows};
}

//! Integer batched matmul with per-row A and per-column B zero points: int32 accumulators [batches, M, N].
Result<std::vector<int32_t>> matmulIntegerAcc(const Tensor& a, const std::vector<int32_t>& aZero, const Tensor& b,
                                              const std::vector<int32_t>& bZero, const nn::MatMulPlan& plan) {
    const int64_t m = plan.m, n = plan.n, k = plan.k;
    const int64_t aBatches = m * k > 0 ? a.numel() / (m * k) : 1;
    const int64_t bBatches = k * n > 0 ? b.numel() / (k * n) : 1;
    KILN_ASSIGN_OR_RETURN(RowParam za, rowParam(static_cast<int64_t>(aZero.size()), m, aBatches, "a_zero_point"));
    KILN_ASSIGN_OR_RETURN(RowParam zb, rowParam(static_cast<int64_t>(bZero.size()), n, bBatches, "b_zero_point"));
    const int64_t batches = static_cast<int64_t>(plan.aOffsets.size());
    std::vector<int32_t> acc(static_cast<size_t>(batches * m * n), 0);
    std::vector<int32_t> a32(static_cast<size_t>(m * k)), b32(static_cast<size_t>(k * n));
    for (int64_t i = 0; i < batches; ++i) {
        const int64_t ab = m * k > 0 ? plan.aOffsets[i] / (m * k) : 0;
        const int64_t bb = k * n > 0 ? plan.bOffsets[i] / (k * n) : 0;
        KILN_RETURN_IF_ERROR(dispatchInteger(a.dtype(), [&]<typename T>() {
            const T* p = a.data<T>() + plan.aOffsets[i];
            for (int64_t r = 0; r < m; ++r) {
                const int32_t z = aZero[za.at(ab, r)];
                for (int64_t c = 0; c < k; ++c) a32[r * k + c] = static_cast<int32_t>(p[r * k + c]) - z;
            }
            return Status::ok();
        }));
        KILN_RETURN_IF_ERROR(dispatchInteger(b.dtype(), [&]<typename T>() {
            const T* p = b.data<T>() + plan.bOffsets[i];
            for (int64_t r = 0; r < k; ++r) {
                for (int64_t c = 0; c < n; ++c)
                    b32[r * n + c] = static_cast<int32_t>(p[r * n + c]) - bZero[zb.at(bb, c)];
            }
            return Status::ok();
        }));
        nn::gemmLoop<int32_t>(m, n, k, a32.data(), k, b32.data(), n, acc.data() + i * m * n, n);
    }
    return acc;
}

}  // namespace

Status kernelQuantizeLinear(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 3));
    const Tensor& x = ctx.input(0);
    if (!isFloatingPoint(x.dtype()) && x.dtype() != DataType::kInt32) {
        return invalidArgument("input 'x' must be a float type or int32, got " + x.describe());
    }
    const DataType outType = ctx.hasInput(2) ? ctx.input(2).dtype() : DataType::kUInt8;
    KILN_ASSIGN_OR_RETURN(QuantParams q, quantParams(ctx, x, 1, 2));
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, outType, x.shape()));
    return dispatchQuant(
        outType,
        [&]<typename Q>() {
            return dispatchNumeric(x.dtype(), [&]<typename T>() {
                const T* in = x.data<T>();
                Q* out = y->data<Q>();
                for (int64_t i = 0; i < x.numel(); ++i) {
                    const int64_t c = q.channelOf(i);
                    out[i] = saturateRound<Q>(static_cast<float>(in[i]) / q.scale[c], q.zero[c]);
                }
                return Status::ok();
            });
        },
        "QuantizeLinear output (y_zero_point)");
}

Status kernelDequantizeLinear(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 3));
    const Tensor& x = ctx.input(0);
    if (!isQuantType(x.dtype()) && x.dtype() != DataType::kInt32) {
        return invalidArgument("input 'x' must be uint8, int8 or int32, got " + x.describe());
    }
    if (ctx.hasInput(2) && ctx.input(2).dtype() != x.dtype()) {
        return invalidArgument("input 'x_zero_point' " + ctx.input(2).describe() + " must have the dtype of 'x' " +
                               x.describe());
    }
    KILN_ASSIGN_OR_RETURN(QuantParams q, quantParams(ctx, x, 1, 2));
    const DataType outType = ctx.input(1).dtype();
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, outType, x.shape()));
    return dispatchFloat(
        outType,
        [&]<typename T>() {
            return dispatchInteger(x.dtype(), [&]<typename X>() {
                const X* in = x.data<X>();
                T* out = y->data<T>();
                for (int64_t i = 0; i < x.numel(); ++i) {
                    const int64_t c = q.channelOf(i);
                    out[i] = fromCompute<T>(static_cast<ComputeT<T>>(
                        static_cast<float>(static_cast<int32_t>(in[i]) - q.zero[c]) * q.scale[c]));
                }
                return Status::ok();
            });
        },
        "DequantizeLinear");
}

Status kernelDynamicQuantizeLinear(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const Tensor& x = ctx.input(0);
    if (x.dtype() != DataType::kFloat32) return invalidArgument("input 'x' must be float32, got " + x.describe());
    const float* in = x.data<float>();
    // The range always includes 0 so that 0 is exactly representable.
    float lo = 0.0f, hi = 0.0f;
    for (int64_t i = 0; i < x.numel(); ++i) {
        lo = std::min(lo, in[i]);
        hi = std::max(hi, in[i]);
    }
    const float scale = hi == lo ? 1.0f : (hi - lo) / 255.0f;
    const float zeroF = std::clamp(0.0f - lo / scale, 0.0f, 255.0f);
    const auto zero = static_cast<uint8_t>(std::nearbyint(zeroF));
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, DataType::kUInt8, x.shape()));
    for (int64_t i = 0; i < x.numel(); ++i) y->data<uint8_t>()[i] = saturateRound<uint8_t>(in[i] / scale, zero);
    if (ctx.wantsOutput(1)) {
        KILN_ASSIGN_OR_RETURN(Tensor * s, ctx.allocateOutput(1, DataType::kFloat32, {}));
        *s->data<float>() = scale;
    }
    if (ctx.wantsOutput(2)) {
        KILN_ASSIGN_OR_RETURN(Tensor * z, ctx.allocateOutput(2, DataType::kUInt8, {}));
        *z->data<uint8_t>() = zero;
    }
    return Status::ok();
}

Status kernelMatMulInteger(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 4));
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    if (!isQuantType(a.dtype()) || !isQuantType(b.dtype())) {
        return invalidArgument("inputs 'A' and 'B' must be uint8 or int8, got " + a.describe() + " and " +
                               b.describe());
    }
    KILN_ASSIGN_OR_RETURN(nn::MatMulPlan plan, nn::planMatMul(a.shape(), b.shape()));
    KILN_ASSIGN_OR_RETURN(auto aZero, readZero(ctx, 2, a.dtype(), "a_zero_point"));
    KILN_ASSIGN_OR_RETURN(auto bZero, readZero(ctx, 3, b.dtype(), "b_zero_point"));
    KILN_ASSIGN_OR_RETURN(auto acc, matmulIntegerAcc(a, aZero, b, bZero, plan));
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, DataType::kInt32, plan.outShape));
    std::copy(acc.begin(), acc.end(), y->data<int32_t>());
    return Status::ok();
}

Status kernelQLinearMatMul(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(8, 8));
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(3);
    if (!isQuantType(a.dtype()) || !isQuantType(b.dtype())) {
        return invalidArgument("inputs 'a' and 'b' must be uint8 or int8, got " + a.describe() + " and " +
                               b.describe());
    }
    const DataType outType = ctx.input(7).dtype();
    KILN_ASSIGN_OR_RETURN(nn::MatMulPlan plan, nn::planMatMul(a.shape(), b.shape()));
    KILN_ASSIGN_OR_RETURN(auto aScale, readScale(ctx, 1, "a_scale"));
    KILN_ASSIGN_OR_RETURN(auto aZero, readZero(ctx, 2, a.dtype(), "a_zero_point"));
    KILN_ASSIGN_OR_RETURN(auto bScale, readScale(ctx, 4, "b_scale"));
    KILN_ASSIGN_OR_RETURN(auto bZero, readZero(ctx, 5, b.dtype(), "b_zero_point"));
    KILN_ASSIGN_OR_RETURN(auto yScale, readScale(ctx, 6, "y_scale"));
    KILN_ASSIGN_OR_RETURN(auto yZero, readZero(ctx, 7, outType, "y_zero_point"));
    if (yScale.size() != 1 || yZero.size() != 1) {
        return invalidArgument("inputs 'y_scale' and 'y_zero_point' must be scalars");
    }
    const int64_t m = plan.m, n = plan.n, k = plan.k;
    const int64_t aBatches = m * k > 0 ? a.numel() / (m * k) : 1;
    const int64_t bBatches = k * n > 0 ? b.numel() / (k * n) : 1;
    KILN_ASSIGN_OR_RETURN(RowParam sa, rowParam(static_cast<int64_t>(aScale.size()), m, aBatches, "a_scale"));
    KILN_ASSIGN_OR_RETURN(RowParam sb, rowParam(static_cast<int64_t>(bScale.size()), n, bBatches, "b_scale"));
    KILN_ASSIGN_OR_RETURN(auto acc, matmulIntegerAcc(a, aZero, b, bZero, plan));
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, outType, plan.outShape));
    return dispatchQuant(
        outType,
        [&]<typename Q>() {
            Q* out = y->data<Q>();
            for (size_t i = 0; i < plan.aOffsets.size(); ++i) {
                const int64_t ab = m * k > 0 ? plan.aOffsets[i] / (m * k) : 0;
                const int64_t bb = k * n > 0 ? plan.bOffsets[i] / (k * n) : 0;
                for (int64_t r = 0; r < m; ++r) {
                    for (int64_t c = 0; c < n; ++c) {
                        const float mult = aScale[sa.at(ab, r)] * bScale[sb.at(bb, c)] / yScale[0];
                        const int64_t at = (static_cast<int64_t>(i) * m + r) * n + c;
                        out[at] = saturateRound<Q>(static_cast<float>(acc[at]) * mult, yZero[0]);
                    }
                }
            }
            return Status::ok();
        },
        "QLinearMatMul output (y_zero_point)");
}

Status kernelQLinearConv(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(8, 9));
    const Tensor& x = ctx.input(0);
    const Tensor& w = ctx.input(3);
    if (!isQuantType(x.dtype()) || !isQuantType(w.dtype())) {
        return invalidArgument("inputs 'x' and 'w' must be uint8 or int8, got " + x.describe() + " and " +
                               w.describe());
    }
    const DataType outType = ctx.input(7).dtype();
    KILN_ASSIGN_OR_RETURN(nn::ConvGeometry geo, nn::convGeometry(ctx.attrs(), x, w));
    KILN_ASSIGN_OR_RETURN(auto xScale, readScale(ctx, 1, "x_scale"));
    KILN_ASSIGN_OR_RETURN(auto xZero, readZero(ctx, 2, x.dtype(), "x_zero_point"));
    KILN_ASSIGN_OR_RETURN(auto wScale, readScale(ctx, 4, "w_scale"));
    KILN_ASSIGN_OR_RETURN(auto wZero, readZero(ctx, 5, w.dtype(), "w_zero_point"));
    KILN_ASSIGN_OR_RETURN(auto yScale, readScale(ctx, 6, "y_scale"));
    KILN_ASSIGN_OR_RETURN(auto yZero, readZero(ctx, 7, outType, "y_zero_point"));
    const auto outC = static_cast<size_t>(geo.outC);
    if (xScale.size() != 1 || xZero.size() != 1 || yScale.size() != 1 || yZero.size() != 1) {
        return invalidArgument("inputs 'x_scale', 'x_zero_point', 'y_scale' and 'y_zero_point' must be scalars");
    }
    if ((wScale.size() != 1 && wScale.size() != outC) || (wZero.size() != 1 && wZero.size() != outC)) {
        return invalidArgument("inputs 'w_scale' and 'w_zero_point' must be scalars or have M=" + std::to_string(outC) +
                               " values");
    }
    std::vector<int32_t> wZeroPerChannel(outC);
    for (size_t m = 0; m < outC; ++m) wZeroPerChannel[m] = wZero[wZero.size() == 1 ? 0 : m];
    const Tensor* bias = ctx.hasInput(8) ? &ctx.input(8) : nullptr;
    if (bias && (bias->dtype() != DataType::kInt32 || bias->rank() != 1 || bias->dim(0) != geo.outC)) {
        return invalidArgument("input 'B' must be int32 of shape [" + std::to_string(outC) + "], got " +
                               bias->describe());
    }
    std::vector<int32_t> acc(static_cast<size_t>(shapeNumel(geo.outShape)));
    KILN_RETURN_IF_ERROR(nn::convInteger(x, xZero[0], w, wZeroPerChannel, geo, acc.data()));
    KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, outType, geo.outShape));
    const int64_t outSize = geo.win.outSize();
    return dispatchQuant(
        outType,
        [&]<typename Q>() {
            Q* out = y->data<Q>();
            for (int64_t n = 0; n < geo.batch; ++n) {
                for (int64_t m = 0; m < geo.outC; ++m) {
                    const float mult = xScale[0] * wScale[wScale.size() == 1 ? 0 : m] / yScale[0];
                    const int32_t b = bias ? bias->data<int32_t>()[m] : 0;
                    const int64_t base = (n * geo.outC + m) * outSize;
                    for (int64_t i = 0; i < outSize; ++i) {
                        out[base + i] = saturateRound<Q>(static_cast<float>(acc[base + i] + b) * mult, yZero[0]);
                    }
                }
            }
            return Status::ok();
        },
        "QLinearConv output (y_zero_point)");
}

}  // namespace kiln::cpu
