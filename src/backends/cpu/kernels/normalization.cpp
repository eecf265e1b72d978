// Normalizations: BatchNormalization, InstanceNormalization, LayerNormalization, LpNormalization,
// MeanVarianceNormalization, LRN. Statistics are computed in double and each output is rounded once.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "backends/cpu/broadcast.h"
#include "backends/cpu/reduce_plan.h"

namespace kiln::cpu {

namespace {

//! A float parameter tensor (scale, bias, mean, ...) as doubles; its element count must be one of `counts`.
Result<std::vector<double>> paramVector(const KernelContext& ctx, size_t index, const char* name,
                                        std::initializer_list<int64_t> counts) {
    const Tensor& t = ctx.input(index);
    if (!isFloatingPoint(t.dtype())) {
        return invalidArgument("input " + std::to_string(index) + " '" + name + "' must be a float tensor, got " +
                               dataTypeName(t.dtype()));
    }
    if (std::find(counts.begin(), counts.end(), t.numel()) == counts.end()) {
        return invalidArgument("input " + std::to_string(index) + " '" + name + "' has shape " +
                               shapeToString(t.shape()) + ", expected " + std::to_string(*counts.begin()) +
                               " elements");
    }
    std::vector<double> v(static_cast<size_t>(t.numel()));
    for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = t.getDouble(i);
    return v;
}

//! Writes doubles into a new output tensor of `type`.
Status writeOutput(KernelContext& ctx, size_t index, DataType type, Shape shape, const std::vector<double>& values) {
    return dispatchFloat(type, [&]<typename T>() {
        KILN_ASSIGN_OR_RETURN(Tensor * t, ctx.allocateOutput(index, type, std::move(shape)));
        for (size_t i = 0; i < values.size(); ++i) t->data<T>()[i] = castFromDouble<T>(values[i]);
        return Status::ok();
    });
}

//! Input 0 as doubles, after checking it is a float tensor of rank >= minRank.
Result<std::vector<double>> inputAsDouble(const Tensor& x, int64_t minRank) {
    if (!isFloatingPoint(x.dtype())) {
        return invalidArgument(std::string("input 0 'X' must be a float tensor, got ") + dataTypeName(x.dtype()));
    }
    if (x.rank() < minRank) {
        return invalidArgument("input 0 'X' must have rank >= " + std::to_string(minRank) + ", got shape " +
                               shapeToString(x.shape()));
    }
    std::vector<double> v(static_cast<size_t>(x.numel()));
    dispatchFloat(x.dtype(), [&]<typename T>() {
        for (int64_t i = 0; i < x.numel(); ++i)
            v[static_cast<size_t>(i)] = static_cast<double>(static_cast<ComputeT<T>>(x.data<T>()[i]));
        return Status::ok();
    }).ignore();
    return v;
}

}  // namespace

Status kernelBatchNormalization(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(5, 5));
    const Tensor& x = ctx.input(0);
    KILN_ASSIGN_OR_RETURN(std::vector<double> xs, inputAsDouble(x, 2));
    const int64_t n = x.dim(0);
    const int64_t c = x.dim(1);
    const int64_t spatial = dimProduct(x.shape(), 2, x.rank());
    // Before opset 9, spatial=0 gave every activation (channel and position) its own statistics.
    const bool perActivation = ctx.opset() < 9 && ctx.attrs().getInt("spatial", 1) == 0;
    const int64_t paramCount = perActivation ? c * spatial : c;
    const int64_t period = perActivation ? c * spatial : c;  // parameter index = (flat index / stride) % period
    const int64_t stride = perActivation ? 1 : spatial;
    KILN_ASSIGN_OR_RETURN(std::vector<double> scale, paramVector(ctx, 1, "scale", {paramCount}));
    KILN_ASSIGN_OR_RETURN(std::vector<double> bias, paramVector(ctx, 2, "B", {paramCount}));
    KILN_ASSIGN_OR_RETURN(std::vector<double> mean, paramVector(ctx, 3, "input_mean", {paramCount}));
    KILN_ASSIGN_OR_RETURN(std::vector<double> var, paramVector(ctx, 4, "input_var", {paramCount}));
    const double epsilon = ctx.attrs().getFloat("epsilon", 1e-5f);
    const double momentum = ctx.attrs().getFloat("momentum", 0.9f);
    // Opset 14 made training explicit; before, asking for the statistics outputs meant training.
    bool training = ctx.attrs().getInt("training_mode", 0) != 0;
    if (ctx.opset() < 14) {
        for (size_t i = 1; i < 5; ++i) training = training || ctx.wantsOutput(i);
    }
    if (ctx.opset() < 7 && ctx.attrs().getInt("is_test", 0) != 0) training = false;  // opset 1-6's explicit flag
    const auto count = static_cast<size_t>(paramCount);
    std::vector<double> useMean = mean, useVar = var;
    if (training) {
        // Batch statistics over every axis but the channel (population variance, as numpy's var).
        const auto m = static_cast<double>(perActivation ? n : n * spatial);
        std::vector<double> sum(count, 0.0), sq(count, 0.0);
        for (size_t i = 0; i < xs.size(); ++i)
            sum[(i / static_cast<size_t>(stride)) % static_cast<size_t>(period)] += xs[i];
        for (size_t k = 0; k < count; ++k) useMean[k] = sum[k] / m;
        for (size_t i = 0; i < xs.size(); ++i) {
            const size_t k = (i / static_cast<size_t>(stride)) % static_cast<size_t>(period);
            sq[k] += (xs[i] - useMean[k]) * (xs[i] - useMean[k]);
        }
        for (size_t k = 0; k < count; ++k) useVar[k] = sq[k] / m;
    }
    std::vector<double> y(xs.size());
    for (size_t i = 0; i < xs.size(); ++i) {
        const size_t k = (i / static_cast<size_t>(stride)) % static_cast<size_t>(period);
        y[i] = scale[k] * (xs[i] - useMean[k]) / std::sqrt(useVar[k] + epsilon) + bias[k];
    }
    KILN_RETURN_IF_ERROR(writeOutput(ctx, 0, x.dtype(), x.shape(), y));
    if (!training) return Status::ok();
    const DataType statType = ctx.input(3).dtype();
    const Shape statShape = ctx.input(3).shape();
    std::vector<double> runningMean(count), runningVar(count);
    for (size_t k = 0; k < count; ++k) {
        runningMean[k] = mean[k] * momentum + useMean[k] * (1.0 - momentum);
        runningVar[k] = var[k] * momentum + useVar[k] * (1.0 - momentum);
    }
    if (ctx.wantsOutput(1)) KILN_RETURN_IF_ERROR(writeOutput(ctx, 1, statType, statShape, runningMean));
    if (ctx.wantsOutput(2)) KILN_RETURN_IF_ERROR(writeOutput(ctx, 2, statType, statShape, runningVar));
    if (ctx.wantsOutput(3)) KILN_RETURN_IF_ERROR(writeOutput(ctx, 3, statType, statShape, useMean));
    if (ctx.wantsOutput(4)) KILN_RETURN_IF_ERROR(writeOutput(ctx, 4, statType, statShape, useVar));
    return Status::ok();
}

Status kernelInstanceNormalization(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(3, 3));
    const Tensor& x = ctx.input(0);
    KILN_ASSIGN_OR_RETURN(std::vector<double> xs, inputAsDouble(x, 2));
    const int64_t c = x.dim(1);
    const int64_t spatial = dimProduct(x.shape(), 2, x.rank());
    KILN_ASSIGN_OR_RETURN(std::vector<double> scale, paramVector(ctx, 1, "scale", {c}));
    KILN_ASSIGN_OR_RETURN(std::vector<double> bias, paramVector(ctx, 2, "B", {c}));
    const double epsilon = ctx.attrs().getFloat("epsilon", 1e-5f);
    std::vector<double> y(xs.size());
    const int64_t planes = dimProduct(x.shape(), 0, 2);
    for (int64_t p = 0; p < planes; ++p) {
        const size_t k = static_cast<size_t>(p % c);
        const double* in = xs.data() + p * spatial;
        double mean = 0.0, var = 0.0;
        for (int64_t s = 0; s < spatial; ++s) mean += in[s];
        mean /= static_cast<double>(spatial);
        for (int64_t s = 0; s < spatial; ++s) var += (in[s] - mean) * (in[s] - mean);
        var /= static_cast<double>(spatial);
        const double inv = 1.0 / std::sqrt(var + epsilon);
        for (int64_t s = 0; s < spatial; ++s)
            y[static_cast<size_t>(p * spatial + s)] = scale[k] * (in[s] - mean) * inv + bias[k];
    }
    return writeOutput(ctx, 0, x.dtype(), x.shape(), y);
}

Status kernelLayerNormalization(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 3));
    const Tensor& x = ctx.input(0);
    KILN_ASSIGN_OR_RETURN(std::vector<double> xs, inputAsDouble(x, 1));
    KILN_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(ctx.attrs().getInt("axis", -1), x.rank()));
    const double epsilon = ctx.attrs().getFloat("epsilon", 1e-5f);
    const auto stashType = static_cast<DataType>(ctx.attrs().getInt("stash_type", 1));
    if (!isFloatingPoint(stashType)) {
        return invalidArgument("attribute stash_type " + std::to_string(static_cast<int>(stashType)) +
                               " is not a float type");
    }
    const Shape normShape(x.shape().begin() + axis, x.shape().end());
    const int64_t rows = dimProduct(x.shape(), 0, axis);
    const int64_t cols = shapeNumel(normShape);
    // Scale and B broadcast (unidirectionally) to the normalized shape x.shape[axis:].
    auto loadParam = [&](size_t index, const char* name, double fallback) -> Result<std::vector<double>> {
        std::vector<double> v(static_cast<size_t>(cols), fallback);
        if (!ctx.hasInput(index)) return v;
        const Tensor& p = ctx.input(index);
        auto shape = broadcastShapes({p.shape(), normShape});
        if (!isFloatingPoint(p.dtype()) || !shape.isOk() || *shape != normShape) {
            return invalidArgument("input " + std::to_string(index) + " '" + name + "' (" + p.describe() +
                                   ") must be a float tensor broadcastable to the normalized shape " +
                                   shapeToString(normShape));
        }
        const BroadcastIndexer idx(p.shape(), normShape);
        for (int64_t i = 0; i < cols; ++i) v[static_cast<size_t>(i)] = p.getDouble(idx(i));
        return v;
    };
    KILN_ASSIGN_OR_RETURN(std::vector<double> scale, loadParam(1, "Scale", 1.0));
    KILN_ASSIGN_OR_RETURN(std::vector<double> bias, loadParam(2, "B", 0.0));
    std::vector<double> y(xs.size()), means(static_cast<size_t>(rows)), invStd(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
        const double* in = xs.data() + r * cols;
        double mean = 0.0, var = 0.0;
        for (int64_t i = 0; i < cols; ++i) mean += in[i];
        mean /= static_cast<double>(cols);
        for (int64_t i = 0; i < cols; ++i) var += (in[i] - mean) * (in[i] - mean);
        var /= static_cast<double>(cols);
        const double inv = 1.0 / std::sqrt(var + epsilon);
        means[static_cast<size_t>(r)] = mean;
        invStd[static_cast<size_t>(r)] = inv;
        for (int64_t i = 0; i < cols; ++i) {
            y[static_cast<size_t>(r * cols + i)] =
                (in[i] - mean) * inv * scale[static_cast<size_t>(i)] + bias[static_cast<size_t>(i)];
        }
    }
    KILN_RETURN_IF_ERROR(writeOutput(ctx, 0, x.dtype(), x.shape(), y));
    Shape statShape(x.shape().begin(), x.shape().begin() + axis);
    statShape.resize(static_cast<size_t>(x.rank()), 1);
    if (ctx.wantsOutput(1)) KILN_RETURN_IF_ERROR(writeOutput(ctx, 1, stashType, statShape, means));
    if (ctx.wantsOutput(2)) KILN_RETURN_IF_ERROR(writeOutput(ctx, 2, stashType, statShape, invStd));
    return Status::ok();
}

Status kernelFusedAddLayerNorm(KernelContext& ctx) {
    // LayerNormalization(Add(X, R)): the Add's reference kernel (numpy broadcasting, the sum rounded to the dtype as
    // in the unfused graph), then LayerNormalization's.
    KILN_RETURN_IF_ERROR(ctx.requireInputs(3, 4));
    KernelContext add{ctx.node, {ctx.inputs[0], ctx.inputs[1]}, {}, ctx.runSubgraph, nullptr};
    add.outputs.resize(1);
    KILN_RETURN_IF_ERROR(kernelAdd(add).withContext("X + R"));
    KernelContext sub{ctx.node, {&add.outputs[0], ctx.inputs[2]}, {}, ctx.runSubgraph, ctx.allocator};
    if (ctx.hasInput(3)) sub.inputs.push_back(ctx.inputs[3]);
    sub.outputs.resize(1);
    KILN_RETURN_IF_ERROR(kernelLayerNormalization(sub));
    ctx.outputs[0] = std::move(sub.outputs[0]);
    return Status::ok();
}

Status kernelLpNormalization(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const Tensor& x = ctx.input(0);
    KILN_ASSIGN_OR_RETURN(std::vector<double> xs, inputAsDouble(x, 1));
    KILN_ASSIGN_OR_RETURN(int64_t axis, normalizeAxis(ctx.attrs().getInt("axis", -1), x.rank()));
    const int64_t p = ctx.attrs().getInt("p", 2);
    if (p != 1 && p != 2) return invalidArgument("attribute p must be 1 or 2, got " + std::to_string(p));
    const int64_t outer = dimProduct(x.shape(), 0, axis);
    const int64_t n = x.dim(axis);
    const int64_t inner = dimProduct(x.shape(), axis + 1, x.rank());
    std::vector<double> y(xs.size());
    for (int64_t o = 0; o < outer; ++o) {
        for (int64_t i = 0; i < inner; ++i) {
            const int64_t base = o * n * inner + i;
            double norm = 0.0;
            for (int64_t k = 0; k < n; ++k) {
                const double v = xs[static_cast<size_t>(base + k * inner)];
                norm += p == 1 ? std::fabs(v) : v * v;
            }
            if (p == 2) norm = std::sqrt(norm);
            // A zero vector stays zero rather than becoming 0/0 = NaN (ONNX Runtime does the same).
            for (int64_t k = 0; k < n; ++k) {
                const auto at = static_cast<size_t>(base + k * inner);
                y[at] = norm == 0.0 ? 0.0 : xs[at] / norm;
            }
        }
    }
    return writeOutput(ctx, 0, x.dtype(), x.shape(), y);
}

Status kernelMeanVarianceNormalization(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const Tensor& x = ctx.input(0);
    KILN_ASSIGN_OR_RETURN(std::vector<double> xs, inputAsDouble(x, 1));
    const std::vector<int64_t> axes = ctx.attrs().getInts("axes").value_or(std::vector<int64_t>{0, 2, 3});
    KILN_ASSIGN_OR_RETURN(std::vector<bool> flags, axesToFlags(axes, x.rank(), "attribute axes"));
    KILN_ASSIGN_OR_RETURN(ReducePlan plan, makeReducePlan(x.shape(), flags, true));
    const double count = static_cast<double>(plan.reduceCount());
    std::vector<double> y(xs.size());
    for (int64_t base : plan.outerOffsets) {
        double mean = 0.0, var = 0.0;
        for (int64_t off : plan.innerOffsets) mean += xs[static_cast<size_t>(base + off)];
        mean /= count;
        for (int64_t off : plan.innerOffsets) {
            const double d = xs[static_cast<size_t>(base + off)] - mean;
            var += d * d;
        }
        // The function body's formula: (X - E[X]) / (sqrt(E[X^2] - E[X]^2) + 1e-9).
        const double denom = std::sqrt(var / count) + 1e-9;
        for (int64_t off : plan.innerOffsets) {
            const auto at = static_cast<size_t>(base + off);
            y[at] = (xs[at] - mean) / denom;
        }
    }
    return writeOutput(ctx, 0, x.dtype(), x.shape(), y);
}

Status kernelLRN(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    const Tensor& x = ctx.input(0);
    KILN_ASSIGN_OR_RETURN(std::vector<double> xs, inputAsDouble(x, 2));
    const auto size = ctx.attrs().get<int64_t>("size");
    if (!size || *size < 1) return invalidArgument("attribute size must be a positive integer");
    const double alpha = ctx.attrs().getFloat("alpha", 1e-4f);
    const double beta = ctx.attrs().getFloat("beta", 0.75f);
    const double bias = ctx.attrs().getFloat("bias", 1.0f);
    const int64_t c = x.dim(1);
    const int64_t spatial = dimProduct(x.shape(), 2, x.rank());
    const int64_t before = (*size - 1) / 2;    // floor((size - 1) / 2)
    const int64_t after = *size - 1 - before;  // ceil((size - 1) / 2)
    std::vector<double> y(xs.size());
    for (int64_t b = 0; b < x.dim(0); ++b) {
        const int64_t batch = b * c * spatial;
        for (int64_t ch = 0; ch < c; ++ch) {
            const int64_t lo = std::max<int64_t>(0, ch - before);
            const int64_t hi = std::min<int64_t>(c - 1, ch + after);
            for (int64_t s = 0; s < spatial; ++s) {
                double sq = 0.0;
                for (int64_t k = lo; k <= hi; ++k) {
                    const double v = xs[static_cast<size_t>(batch + k * spatial + s)];
                    sq += v * v;
                }
                const auto at = static_cast<size_t>(batch + ch * spatial + s);
                y[at] = xs[at] / std::pow(bias + alpha / static_cast<double>(*size) * sq, beta);
            }
        }
    }
    return writeOutput(ctx, 0, x.dtype(), x.shape(), y);
}

}  // namespace kiln::cpu
