// Losses: NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss (with its optional log_prob output).
//
// Both gather -input[n, target[n, d...], d...] (SoftmaxCrossEntropyLoss on the log-softmax of its scores over
// axis 1), weight each element by weight[target] (0 where target == ignore_index) and reduce per `reduction`:
// "none" keeps target's shape, "sum" adds, "mean" divides by the sum of the weights in play (ONNX's reference).
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "backends/cpu/reduce_plan.h"

namespace kiln::cpu {

namespace {

enum class Reduction { kNone, kSum, kMean };

Result<Reduction> parseReduction(const KernelContext& ctx) {
    const std::string r = ctx.attrs().getString("reduction", "mean");
    if (r == "none") return Reduction::kNone;
    if (r == "sum") return Reduction::kSum;
    if (r == "mean") return Reduction::kMean;
    return invalidArgument("attribute reduction must be 'none', 'sum' or 'mean', got '" + r + "'");
}

//! Checks input 0 (N, C, d...) against input 1 'target' (N, d...) and the optional weight (C).
Status checkShapes(const KernelContext& ctx, const char* inputName) {
    const Tensor& x = ctx.input(0);
    const Tensor& target = ctx.input(1);
    if (!isFloatingPoint(x.dtype())) {
        return invalidArgument(std::string("input 0 '") + inputName + "' must be a float tensor, got " +
                               dataTypeName(x.dtype()));
    }
    if (x.rank() < 2) {
        return invalidArgument(std::string("input 0 '") + inputName + "' must have shape (N, C, ...), got " +
                               shapeToString(x.shape()));
    }
    if (target.dtype() != DataType::kInt32 && target.dtype() != DataType::kInt64) {
        return invalidArgument(std::string("input 1 'target' must be int32 or int64, got ") +
                               dataTypeName(target.dtype()));
    }
    Shape expected = x.shape();
    expected.erase(expected.begin() + 1);
    if (target.shape() != expected) {
        return invalidArgument("input 1 'target' has shape " + shapeToString(target.shape()) + ", expected " +
                               shapeToString(expected) + " for input 0 of shape " + shapeToString(x.shape()));
    }
    if (ctx.hasInput(2)) {
        const Tensor& w = ctx.input(2);
        if (w.dtype() != x.dtype() || w.shape() != Shape{x.dim(1)}) {
            return invalidArgument("input 2 'weight' must be " + std::string(dataTypeName(x.dtype())) + "[" +
                                   std::to_string(x.dim(1)) + "], got " + w.describe());
        }
    }
    return Status::ok();
}

//! The loss from log-probabilities `logp` laid out as input 0 (N, C, d...); writes output 0.
Status nllLoss(KernelContext& ctx, const std::vector<double>& logp) {
    const Tensor& x = ctx.input(0);
    const Tensor& target = ctx.input(1);
    KILN_ASSIGN_OR_RETURN(Reduction reduction, parseReduction(ctx));
    const std::optional<int64_t> ignoreIndex = ctx.attrs().get<int64_t>("ignore_index");
    const int64_t n = x.dim(0);
    const int64_t c = x.dim(1);
    const int64_t d = dimProduct(x.shape(), 2, x.rank());
    std::vector<double> loss(static_cast<size_t>(n * d), 0.0);
    double weightSum = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        for (int64_t k = 0; k < d; ++k) {
            const int64_t at = i * d + k;
            const int64_t t = target.getInt(at);
            if (ignoreIndex && t == *ignoreIndex) continue;
            if (t < 0 || t >= c) {
                return invalidArgument("input 1 'target' value " + std::to_string(t) + " at element " +
                                       std::to_string(at) + " is out of range [0, " + std::to_string(c) + ")");
            }
            const double w = ctx.hasInput(2) ? ctx.input(2).getDouble(t) : 1.0;
            loss[static_cast<size_t>(at)] = -logp[static_cast<size_t>((i * c + t) * d + k)] * w;
            weightSum += w;
        }
    }
    std::vector<double> result = loss;
    Shape shape = target.shape();
    if (reduction != Reduction::kNone) {
        double sum = 0.0;
        for (double v : loss) sum += v;
        result = {reduction == Reduction::kSum ? sum : sum / weightSum};  // 0/0 = NaN when every weight is 0
        shape = {};
    }
    return dispatchFloat(x.dtype(), [&]<typename T>() {
        KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(0, x.dtype(), shape));
        for (size_t i = 0; i < result.size(); ++i) y->data<T>()[i] = castFromDouble<T>(result[i]);
        return Status::ok();
    });
}

std::vector<double> toDoubles(const Tensor& t) {
    std::vector<double> v(static_cast<size_t>(t.numel()));
    for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = t.getDouble(i);
    return v;
}

}  // namespace

Status kernelNegativeLogLikelihoodLoss(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 3));
    KILN_RETURN_IF_ERROR(checkShapes(ctx, "input"));
    return nllLoss(ctx, toDoubles(ctx.input(0)));
}

Status kernelSoftmaxCrossEntropyLoss(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 3));
    KILN_RETURN_IF_ERROR(checkShapes(ctx, "scores"));
    const Tensor& x = ctx.input(0);
    std::vector<double> logp = toDoubles(x);
    const int64_t n = x.dim(0);
    const int64_t c = x.dim(1);
    const int64_t d = dimProduct(x.shape(), 2, x.rank());
    // Log-softmax over the class axis, maximum subtracted first.
    for (int64_t i = 0; i < n; ++i) {
        for (int64_t k = 0; k < d; ++k) {
            double* base = logp.data() + i * c * d + k;
            double mx = -std::numeric_limits<double>::infinity();
            for (int64_t j = 0; j < c; ++j) mx = std::fmax(mx, base[j * d]);
            double sum = 0.0;
            for (int64_t j = 0; j < c; ++j) sum += std::exp(base[j * d] - mx);
            const double logSum = std::log(sum);
            for (int64_t j = 0; j < c; ++j) base[j * d] = base[j * d] - mx - logSum;
        }
    }
    KILN_RETURN_IF_ERROR(nllLoss(ctx, logp));
    if (!ctx.wantsOutput(1)) return Status::ok();
    return dispatchFloat(x.dtype(), [&]<typename T>() {
        KILN_ASSIGN_OR_RETURN(Tensor * y, ctx.allocateOutput(1, x.dtype(), x.shape()));
        for (size_t i = 0; i < logp.size(); ++i) y->data<T>()[i] = castFromDouble<T>(logp[i]);
        return Status::ok();
    });
}

}  // namespace kiln::cpu
