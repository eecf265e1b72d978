// What Kiln's wgmma convolution (src/backends/cuda/kernels/conv_wgmma.h) serves, for the passes that fuse work into
// its epilogue (conv_head_fusion.cpp, conv_pool_fusion.cpp): 64 -> 64 channels, 1x1 or 3x3, stride and dilation 1,
// one group, FP16/BF16. Elsewhere a fused node would only move its extra work into workspace, so those passes decline.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace kiln::passes {

//! The wgmma kernel's input and output channels.
constexpr int64_t kWgmmaConvChannels = 64;

inline bool halfFloat(DataType t) { return t == DataType::kFloat16 || t == DataType::kBFloat16; }

//! An ints attribute absent or with every element `want`.
inline bool allEqual(const ir::Attributes& attrs, const std::string& name, int64_t want) {
    const std::optional<std::vector<int64_t>> v = attrs.getInts(name);
    if (!v) return true;
    for (int64_t x : *v) {
        if (x != want) return false;
    }
    return true;
}

//! `conv` is a FusedConvNhwc with one output and no fused epilogue yet (no `kiln_head`, no `kiln_pool`) whose
//! convolution the wgmma kernel runs: X, W and Y of one dtype, FP16 or BF16; W a constant [64, k, k, 64] with k 1 or
//! 3; strides and dilations 1; one group; activation "" or "Relu". The residual input Z (input 3) is the caller's to
//! check.
inline bool wgmmaServes(const ir::Node& conv) {
    if (conv.op() != ir::OpKind::kFusedConvNhwc || conv.outputs().size() != 1 || conv.inputs().size() > 4) {
        return false;
    }
    const ir::Attributes& attrs = conv.attrs();
    if (attrs.has("kiln_head") || attrs.has("kiln_pool") || attrs.getInt("group", 1) != 1) return false;
    const std::string act = attrs.getString("activation");
    if (!act.empty() && act != "Relu") return false;
    const ir::Value* y = conv.output(0);
    const DataType t = y ? y->dtype() : DataType::kUndefined;
    const ir::Value* x = conv.input(0);
    const ir::Value* w = conv.input(1);
    if (!halfFloat(t) || !x || x->dtype() != t || !w || !w->isConstant() || w->constant().dtype() != t ||
        w->constant().rank() != 4) {
        return false;
    }
    const Shape& ws = w->constant().shape();
    return ws[0] == kWgmmaConvChannels && ws[3] == kWgmmaConvChannels && ws[1] == ws[2] && (ws[1] == 1 || ws[1] == 3) &&
           allEqual(attrs, "strides", 1) && allEqual(attrs, "dilations", 1);
}

}  // namespace kiln::passes
