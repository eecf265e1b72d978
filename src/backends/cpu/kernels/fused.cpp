// Reference kernels of Kiln's fused ops (domain "kiln"): the base op runs through its own reference kernel
// (kernelConv / kernelGemm / kernelMatMul, so there is one convolution and one GEMM), then one epilogue pass adds
// the bias (FusedMatMul), the residual Z, and applies the activation.
#include <algorithm>
#include <cmath>
#include <limits>

#include "backends/cpu/gelu.h"
#include "backends/cpu/kernel.h"
#include "common/dispatch.h"

namespace kiln::cpu {

namespace {

enum class Act { kNone, kRelu, kLeakyRelu, kClip, kSigmoid, kHardSigmoid, kTanh, kHardSwish, kGelu, kGeluTanh };

struct Activation {
    Act kind = Act::kNone;
    float a = 0.0f, b = 0.0f;
};

Result<Activation> parseActivation(const ir::Attributes& attrs) {
    const std::string name = attrs.getString("activation");
    const std::vector<float> p = attrs.getFloats("activation_params").value_or(std::vector<float>{});
    auto param = [&](size_t i, float fallback) { return i < p.size() ? p[i] : fallback; };
    Activation act;
    if (name.empty()) return act;
    if (name == "Relu") {
        act.kind = Act::kRelu;
    } else if (name == "LeakyRelu") {
        act = {Act::kLeakyRelu, param(0, 0.01f), 0.0f};
    } else if (name == "Clip") {
        act = {Act::kClip, param(0, -std::numeric_limits<float>::infinity()),
               param(1, std::numeric_limits<float>::infinity())};
    } else if (name == "Sigmoid") {
        act.kind = Act::kSigmoid;
    } else if (name == "HardSigmoid") {
        act = {Act::kHardSigmoid, param(0, 0.2f), param(1, 0.5f)};
    } else if (name == "Tanh") {
        act.kind = Act::kTanh;
    } else if (name == "HardSwish") {
        act = {Act::kHardSwish, 1.0f / 6.0f, 0.5f};
    } else if (name == "Gelu") {
        act.kind = Act::kGelu;
    } else if (name == "GeluTanh") {
        act.kind = Act::kGeluTanh;
    } else {
        return invalidArgument("attribute 'activation' '" + name + "' is not supported");
    }
    return act;
}

template <typename C>
C activate(const Activation& act, C x) {
    switch (act.kind) {
        case Act::kNone: return x;
        case Act::kRelu: return x < C(0) ? C(0) : x;
        case Act::kLeakyRelu: return x < C(0) ? static_cast<C>(act.a) * x : x;
        case Act::kClip: return std::min(std::max(x, static_cast<C>(act.a)), static_cast<C>(act.b));
        case Act::kSigmoid: return C(1) / (C(1) + std::exp(-x));
        case Act::kHardSigmoid:
            return std::max(C(0), std::min(C(1), static_cast<C>(act.a) * x + static_cast<C>(act.b)));
        case Act::kTanh: return std::tanh(x);
        case Act::kHardSwish:
            return x * std::max(C(0), std::min(C(1), static_cast<C>(act.a) * x + static_cast<C>(act.b)));
        case Act::kGelu: return geluErf(x);
        case Act::kGeluTanh: return geluTanh(x);
    }
    return x;
}

//! Runs the base op's reference kernel on the node's first `baseInputs` inputs into `y`.
Status runBase(KernelFn base, KernelContext& ctx, size_t baseInputs, Tensor& y) {
    KernelContext sub{ctx.node, {}, {}, ctx.runSubgraph, ctx.allocator};
    for (size_t i = 0; i < baseInputs && i < ctx.numInputs(); ++i) sub.inputs.push_back(ctx.inputs[i]);
    sub.outputs.resize(1);
    KILN_RETURN_IF_ERROR(base(sub));
    y = std::move(sub.outputs[0]);
    return Status::ok();
}

//! Whether `bias` is FusedMatMul's grouped form [G, 1, ..., 1, n] of y's rank (G = y's dim 0): one bias row per
//! leading slice, as src/passes/matmul_merge.cpp makes it.
bool groupedBias(const Tensor& bias, const Tensor& y, int64_t n) {
    if (bias.rank() < 2 || bias.rank() != y.rank() || bias.dim(0) != y.dim(0) || bias.dim(-1) != n) return false;
    for (int64_t d = 1; d + 1 < bias.rank(); ++d) {
        if (bias.dim(d) != 1) return false;
    }
    return true;
}

//! y = act(y + bias (along the last dim, per leading slice when grouped) + z), in place.
Status epilogue(const ir::Attributes& attrs, const Tensor* bias, const Tensor* z, Tensor& y) {
    KILN_ASSIGN_OR_RETURN(Activation act, parseActivation(attrs));
    if (z && (z->dtype() != y.dtype() || z->shape() != y.shape())) {
        return invalidArgument("residual input 'Z' " + z->describe() + " must match the output " + y.describe());
    }
    const int64_t n = y.rank() > 0 ? y.dim(-1) : 1;
    const bool grouped = bias && groupedBias(*bias, y, n);
    if (bias && (bias->dtype() != y.dtype() || ((bias->rank() != 1 || bias->dim(0) != n) && !grouped))) {
        return invalidArgument("input 'bias' " + bias->describe() + " must be 1-D of size " + std::to_string(n) +
                               " (or [dim 0, 1, ..., " + std::to_string(n) + "]) and dtype " + dataTypeName(y.dtype()));
    }
    // Elements of y per bias row: all of y, or one leading slice when grouped.
    const int64_t perRow = grouped && y.dim(0) > 0 ? y.numel() / y.dim(0) : std::max<int64_t>(y.numel(), 1);
    if (act.kind == Act::kNone && !bias && !z) return Status::ok();
    return dispatchFloat(
        y.dtype(),
        [&]<typename T>() {
            using C = ComputeT<T>;
            T* py = y.data<T>();
            const T* pz = z ? z->data<T>() : nullptr;
            const T* pb = bias ? bias->data<T>() : nullptr;
            const int64_t count = y.numel();
            for (int64_t i = 0; i < count; ++i) {
                C v = static_cast<C>(py[i]);
                if (pb) v = v + static_cast<C>(pb[(i / perRow) * n + i % n]);
                if (pz) v = v + static_cast<C>(pz[i]);
                py[i] = fromCompute<T>(activate(act, v));
            }
            return Status::ok();
        },
        "fused epilogue");
}

const Tensor* optionalInput(const KernelContext& ctx, size_t i) { return ctx.hasInput(i) ? &ctx.input(i) : nullptr; }

}  // namespace

Status kernelFusedConv(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 4));
    KILN_RETURN_IF_ERROR(runBase(&kernelConv, ctx, 3, ctx.outputs[0]));
    return epilogue(ctx.attrs(), nullptr, optionalInput(ctx, 3), ctx.outputs[0]);
}

Status kernelFusedGemm(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 4));
    KILN_RETURN_IF_ERROR(runBase(&kernelGemm, ctx, 3, ctx.outputs[0]));
    return epilogue(ctx.attrs(), nullptr, optionalInput(ctx, 3), ctx.outputs[0]);
}

Status kernelFusedMatMul(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 4));
    KILN_RETURN_IF_ERROR(runBase(&kernelMatMul, ctx, 2, ctx.outputs[0]));
    return epilogue(ctx.attrs(), optionalInput(ctx, 2), optionalInput(ctx, 3), ctx.outputs[0]);
}

}  // namespace kiln::cpu
