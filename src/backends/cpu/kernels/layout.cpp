// Reference kernels of Kiln's channels-last ops (domain "kiln", made by src/passes/nhwc_layout.cpp): each takes
// its channels-last inputs back to [N, C, H, W] (weights to [M, C/group, kH, kW]), runs the base op's reference
// kernel, and takes the result to [N, H, W, C]. Slow by design: one convolution and one pooling implementation stay
// the reference for both layouts, so the layout pass can be checked against the original graph bit for bit.
//
// ConvTransposeNhwc with the attribute `kiln_concat_slot` (made by src/passes/convtranspose_concat_fusion.cpp) is a
// ConvTranspose fused into the channels-last Concat that read it: inputs X, W, B (B may be omitted), then the Concat's
// other inputs E0, E1, ... ([N, OH, OW, Ci], the result's dtype); the output is Concat(E0, ..., Y, ..., axis = 3)
// with the ConvTranspose's result Y at position `kiln_concat_slot` among them.
//
// FusedConvNhwc with the attribute `kiln_head` (made by src/passes/conv_head_fusion.cpp; semantics in src/ir/ops.def)
// runs its convolution as usual into a temporary of the node's dtype (so rounded as the stored intermediate of the
// unfused graph was), then the 1x1 head convolution over it through the same reference kernel: the result is the
// unfused graph's bit for bit.
//
// FusedConvNhwc with the attribute `kiln_pool` (made by src/passes/conv_pool_fusion.cpp; semantics in src/ir/ops.def)
// writes its result Y as usual into output 0, then MaxPool 2x2 stride 2 of that stored Y into output 1 through the
// MaxPool reference kernel: P is the replaced MaxPoolNhwc node's bit for bit (NaN and -0 included).
#include <optional>

#include "backends/cpu/data_movement.h"
#include "backends/cpu/kernel.h"
#include "backends/cpu/nn_common.h"

namespace kiln::cpu {

namespace {

const std::vector<int64_t> kToChannelsFirst{0, 3, 1, 2};
const std::vector<int64_t> kToChannelsLast{0, 2, 3, 1};

//! `base`'s output 0 on this node's first `count` inputs, the ones in `channelsLast` (bit i = input i) permuted to
//! channels-first first. `names` name the inputs in messages.
Result<Tensor> channelsFirstResult(KernelContext& ctx, KernelFn base, uint32_t channelsLast,
                                   std::initializer_list<const char*> names, size_t count) {
    std::vector<Tensor> permuted(count);
    KernelContext sub{ctx.node, {}, {}, ctx.runSubgraph, nullptr};  // heap outputs: output 0's arena slot is ours
    for (size_t i = 0; i < count; ++i) {
        if (!ctx.hasInput(i) || !(channelsLast >> i & 1u)) {
            sub.inputs.push_back(i < ctx.numInputs() ? ctx.inputs[i] : nullptr);
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
    return std::move(sub.outputs[0]);
}

//! Writes the channels-first `y` permuted to channels-last into output `index`.
Status writeChannelsLast(KernelContext& ctx, const Tensor& y, size_t index = 0) {
    Shape shape;
    for (int64_t p : kToChannelsLast) shape.push_back(y.dim(p));
    KILN_ASSIGN_OR_RETURN(Tensor * out, ctx.allocateOutput(index, y.dtype(), std::move(shape)));
    gatherByDimOffsets(y, 0, transposeOffsets(y.shape(), kToChannelsLast), *out);
    return Status::ok();
}

//! Runs `base` as channelsFirstResult does on every input; writes its output 0 permuted to channels-last into
//! output 0.
Status runChannelsFirst(KernelContext& ctx, KernelFn base, uint32_t channelsLast,
                        std::initializer_list<const char*> names) {
    KILN_ASSIGN_OR_RETURN(const Tensor y, channelsFirstResult(ctx, base, channelsLast, names, ctx.numInputs()));
    return writeChannelsLast(ctx, y);
}

//! FusedConvNhwc with `kiln_head` (see the top of the file): inputs X, W, B, Z (omitted), W2 [K, 1, 1, M], B2 [K].
Status fusedConvWithHead(KernelContext& ctx) {
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 6));
    if (ctx.hasInput(3)) {
        return invalidArgument("kiln_head is set: input 3 'Z' must be omitted (a head reads the convolution alone)");
    }
    if (!ctx.hasInput(4)) return invalidArgument("kiln_head is set but input 4 'W2' (the head's weights) is missing");
    // h [N, M, OH, OW] in the node's dtype: what the unfused graph stored between the two convolutions.
    KILN_ASSIGN_OR_RETURN(const Tensor h, channelsFirstResult(ctx, &kernelFusedConv, 0b1011u, {"X", "W", "B", "Z"}, 4));
    const Tensor& w2 = ctx.input(4);
    const int64_t m = h.dim(1);
    if (w2.rank() != 4 || w2.dim(1) != 1 || w2.dim(2) != 1 || w2.dim(3) != m || w2.dtype() != h.dtype()) {
        return invalidArgument("kiln_head: input 4 'W2' " + w2.describe() + " must be [K, 1, 1, " + std::to_string(m) +
                               "] of dtype " + dataTypeName(h.dtype()));
    }
    const Tensor* b2 = ctx.hasInput(5) ? &ctx.input(5) : nullptr;
    if (b2 && (b2->rank() != 1 || b2->dim(0) != w2.dim(0) || b2->dtype() != h.dtype())) {
        return invalidArgument("kiln_head: input 5 'B2' " + b2->describe() + " must be [" + std::to_string(w2.dim(0)) +
                               "] of dtype " + dataTypeName(h.dtype()));
    }
    // The head is a separate node's convolution: default attributes (1x1, no padding, no activation).
    const ir::Node headNode(ir::OpKind::kFusedConvNhwc, ctx.node.name() + "/head", ctx.opset());
    KernelContext head{headNode, {&h, &w2, b2}, {}, ctx.runSubgraph, nullptr};
    KILN_ASSIGN_OR_RETURN(const Tensor y, channelsFirstResult(head, &kernelFusedConv, 0b010u, {"h", "W2", "B2"}, 3));
    return writeChannelsLast(ctx, y);
}

//! FusedConvNhwc with `kiln_pool` (see the top of the file): inputs X, W, B, Z as without; outputs Y and P.
Status fusedConvWithPool(KernelContext& ctx) {
    if (ctx.numOutputs() != 2) {
        return invalidArgument("kiln_pool is set: expects 2 outputs (Y and the pooled P), got " +
                               std::to_string(ctx.numOutputs()));
    }
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 4));
    // Y [N, M, OH, OW] in the node's dtype: what the unfused graph stored and its MaxPool read.
    KILN_ASSIGN_OR_RETURN(const Tensor y, channelsFirstResult(ctx, &kernelFusedConv, 0b1011u, {"X", "W", "B", "Z"}, 4));
    KILN_RETURN_IF_ERROR(writeChannelsLast(ctx, y, 0));
    // The pool is a separate MaxPool node's: 2x2 window, strides 2, no padding, floor mode, no Indices.
    ir::Node poolNode(ir::OpKind::kMaxPool, ctx.node.name() + "/pool", ctx.opset());
    poolNode.attrs().set("kernel_shape", std::vector<int64_t>{2, 2});
    poolNode.attrs().set("strides", std::vector<int64_t>{2, 2});
    KernelContext pool{poolNode, {&y}, {}, ctx.runSubgraph, nullptr};
    pool.outputs.resize(1);
    KILN_RETURN_IF_ERROR(kernelMaxPool(pool));
    return writeChannelsLast(ctx, pool.outputs[0], 1);
}

//! The fused ConvTransposeNhwc + Concat (see the top of the file): `y` is the ConvTranspose's channels-last result.
Status concatWithOthers(KernelContext& ctx, const Tensor& y, int64_t slot) {
    std::vector<const Tensor*> parts;
    for (size_t i = 3; i < ctx.numInputs(); ++i) parts.push_back(ctx.hasInput(i) ? &ctx.input(i) : nullptr);
    KILN_RETURN_IF_ERROR(nn::checkConcatSlotInputs(y, parts, slot));
    parts.insert(parts.begin() + slot, &y);
    int64_t total = 0;
    for (const Tensor* p : parts) total += p->dim(3);
    KILN_ASSIGN_OR_RETURN(Tensor * out, ctx.allocateOutput(0, y.dtype(), {y.dim(0), y.dim(1), y.dim(2), total}));
    const int64_t rows = y.dim(0) * y.dim(1) * y.dim(2);
    int64_t offset = 0;
    for (const Tensor* p : parts) {
        const int64_t c = p->dim(3);
        for (int64_t r = 0; r < rows; ++r) copyElements(*p, r * c, *out, r * total + offset, c);
        offset += c;
    }
    return Status::ok();
}

}  // namespace

Status kernelFusedConvNhwc(KernelContext& ctx) {
    const int64_t head = ctx.attrs().getInt("kiln_head", 0);
    const int64_t pool = ctx.attrs().getInt("kiln_pool", 0);
    if (head != 0 && head != 1) {
        return invalidArgument("attribute 'kiln_head' must be 0 or 1, got " + std::to_string(head));
    }
    if (pool != 0 && pool != 1) {
        return invalidArgument("attribute 'kiln_pool' must be 0 or 1, got " + std::to_string(pool));
    }
    if (head == 1 && pool == 1) return invalidArgument("attributes 'kiln_head' and 'kiln_pool' cannot both be set");
    if (pool == 1) return fusedConvWithPool(ctx);
    if (ctx.numOutputs() != 1) {
        return invalidArgument("expects 1 output without kiln_pool, got " + std::to_string(ctx.numOutputs()));
    }
    if (head == 1) return fusedConvWithHead(ctx);
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 4));
    return runChannelsFirst(ctx, &kernelFusedConv, 0b1011u, {"X", "W", "B", "Z"});
}

Status kernelConvTransposeNhwc(KernelContext& ctx) {
    const std::optional<int64_t> slot = ctx.attrs().get<int64_t>("kiln_concat_slot");
    if (!slot) {
        KILN_RETURN_IF_ERROR(ctx.requireInputs(2, 3));
        return runChannelsFirst(ctx, &kernelConvTranspose, 0b11u, {"X", "W", "B"});
    }
    KILN_RETURN_IF_ERROR(ctx.requireInputs(2));
    if (ctx.numInputs() < 4) {
        return invalidArgument("kiln_concat_slot is set but there is nothing to concatenate: expects 4+ inputs, got " +
                               std::to_string(ctx.numInputs()));
    }
    KILN_ASSIGN_OR_RETURN(const Tensor first,
                          channelsFirstResult(ctx, &kernelConvTranspose, 0b11u, {"X", "W", "B"}, 3));
    KILN_ASSIGN_OR_RETURN(const Tensor last, transposed(first, kToChannelsLast));
    return concatWithOthers(ctx, last, *slot);
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
