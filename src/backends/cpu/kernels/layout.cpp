// Reference kernels of Kiln's channels-last ops (domain "kiln", made by src/passes/nhwc_layout.cpp): each takes
// its channels-last inputs back to [N, C, H, W] (weights to [M, C/group, kH, kW]), runs the base op's reference
// kernel, and takes the result to [N, H, W, C]. Slow by design: one convolution and one pooling implementation stay
// the reference for both layouts, so the layout pass can be checked against the original graph bit for bit.
#include "backends/cpu/data_movement.h"
#include "backends/cpu/kernel.h"

namespace kiln::cpu {

namespace {

const std::vector<int64_t> kToChannelsFirst{0, 3, 1, 2};
const std::vector<int64_t> kToChannelsLast{0, 2, 3, 1};

//! Runs `base` on this node's inputs, the ones in `channelsLast` (bit i = input i) permuted to channels-first
//! first; writes its output 0 permuted to channels-last into output 0. `names` name the inputs in messages.
Status runChannelsFirst(KernelContext& ctx, KernelFn base, uint32_t channelsLast,
                        std::initializer_list<const char*> names) {
    std::vector<Tensor> permuted(ctx.numInputs());
    KernelContext sub{ctx.node, {}, {}, ctx.runSubgraph, nullptr};  // heap outputs: output 0's arena slot is ours
    for (size_t i = 0; i < ctx.numInputs(); ++i) {
        if (!ctx.hasInput(i) || !(channelsLast >> i & 1u)) {
            sub.inputs.push_back(ctx.inputs[i]);
            continue;
        }
        const Tensor& t = ctx.input(i);
        if (t.rank() != 4) {
            const char* name = i < names.size() ? names.begin()[i] : "";
            return invalidArgument("input " + std::to_string(i) + " '" + name + "' must be 4-D channels-last, got " +
                                   t.describe());
        }
        KILN_ASSIGN_OR_RETURN(permuted[i], transposed(t, kToChannelsFirst));
        sub.inputs.push_back(&permuted[i]);
    }
    sub.outputs.resize(1);
    KILN_RETURN_IF_ERROR(base(sub));
    const Tensor& y = sub.outputs[0];
    Shape shape;
    for (int64_t p : kToChannelsLast) shape.push_back(y.dim(p));
    KILN_ASSIGN_OR_RETURN(Tensor * out, ctx.allocateOutput(0, y.dtype(), std::move(shape)));
    gatherByDimOffsets(y, 0, transposeOffsets(y.shape(), kToChannelsLast), *out);
    return Status::ok();
}

}  // namespace

Status kernelFusedConvNhwc(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 4));
    return runChannelsFirst(ctx, &kernelFusedConv, 0b1011u, {"X", "W", "B", "Z"});
}

Status kernelConvTransposeNhwc(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 3));
    return runChannelsFirst(ctx, &kernelConvTranspose, 0b11u, {"X", "W", "B"});
}

Status kernelMaxPoolNhwc(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    return runChannelsFirst(ctx, &kernelMaxPool, 1u, {"X"});
}

Status kernelAveragePoolNhwc(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    return runChannelsFirst(ctx, &kernelAveragePool, 1u, {"X"});
}

Status kernelGlobalAveragePoolNhwc(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(1, 1));
    return runChannelsFirst(ctx, &kernelGlobalAveragePool, 1u, {"X"});
}

}  // namespace kiln::cpu
