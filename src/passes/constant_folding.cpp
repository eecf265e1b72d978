// Constant folding: a node whose inputs are all constants runs once, at build time, through the CPU reference
// kernel and its outputs become constants. Shape and Size fold from static shapes alone, which collapses the
// shape subgraphs (Shape → Gather → Concat → Reshape) exporters emit.
//
// Never folded: random ops (each run must draw anew), nodes with subgraphs, and results larger than
// ConstantFoldingOptions::maxOutputBytes (checked up front from static output shapes where known).
#include <algorithm>

#include "backends/cpu/kernel.h"
#include "ir/graph_edit.h"
#include "passes/passes.h"

namespace kiln::passes {

namespace {

bool isRandom(ir::OpKind op) {
    using K = ir::OpKind;
    return op == K::kRandomUniform || op == K::kRandomNormal || op == K::kRandomUniformLike ||
           op == K::kRandomNormalLike || op == K::kBernoulli || op == K::kMultinomial;
}

//! Shape's [start, end) slice of a rank-`rank` shape (opset 15 attributes, clamped like the spec).
std::pair<int64_t, int64_t> shapeSlice(const ir::Node& node, int64_t rank) {
    auto clampAxis = [rank](int64_t a) { return std::clamp(a < 0 ? a + rank : a, int64_t{0}, rank); };
    return {clampAxis(node.attrs().getInt("start", 0)), clampAxis(node.attrs().getInt("end", rank))};
}

class ConstantFolding : public RewriteRule {
public:
    explicit ConstantFolding(ConstantFoldingOptions options) : mOptions(options) {}
    std::string_view name() const override { return "constant-folding"; }
    std::string describe(int64_t n) const override { return "folded " + std::to_string(n) + " nodes"; }

    bool match(const ir::Node& node) const override {
        if (isRandom(node.op()) || ir::hasSubgraphs(node)) return false;
        if (node.outputs().empty()) return false;
        if ((node.op() == ir::OpKind::kShape || node.op() == ir::OpKind::kSize) && node.input(0) &&
            node.input(0)->staticShape())
            return true;
        for (const ir::Value* in : node.inputs()) {
            if (in && !in->isConstant()) return false;
        }
        return true;
    }

    Result<bool> apply(ir::Graph& graph, ir::Node& node, PassContext& ctx) override {
        std::vector<Tensor> outputs;
        if (node.op() == ir::OpKind::kShape || node.op() == ir::OpKind::kSize) {
            const Shape shape = *node.input(0)->staticShape();
            if (node.op() == ir::OpKind::kSize) {
                outputs.push_back(Tensor::scalar<int64_t>(shapeNumel(shape)));
            } else {
                const auto [start, end] = shapeSlice(node, static_cast<int64_t>(shape.size()));
                std::vector<int64_t> dims(shape.begin() + start, shape.begin() + std::max(start, end));
                Tensor t(DataType::kInt64, {static_cast<int64_t>(dims.size())});
                std::copy(dims.begin(), dims.end(), t.data<int64_t>());
                outputs.push_back(std::move(t));
            }
        } else {
            if (!fitsCap(node)) return false;
            cpu::KernelContext kc{node, {}, {}, {}};
            for (const ir::Value* in : node.inputs()) kc.inputs.push_back(in ? &in->constant() : nullptr);
            kc.outputs.resize(node.outputs().size());
            kc.runSubgraph = [](const ir::Graph&, const std::vector<Tensor>&) -> Result<std::vector<Tensor>> {
                return unsupported("subgraphs are not folded");
            };
            Status s;
            try {
                s = cpu::cpuKernel(node.op())(kc);
            } catch (const std::exception&) {
                return false;  // e.g. out of memory: leave the node to run time
            }
            // A kernel error on constant inputs is the model's error; it surfaces, named, when the node runs.
            if (!s.isOk()) {
                ctx.verbose("constant-folding: kept " + node.describe() + ": " + s.message());
                return false;
            }
            outputs = std::move(kc.outputs);
        }
        size_t bytes = 0;
        for (size_t i = 0; i < outputs.size(); ++i) {
            const ir::Value* out = node.output(i);
            if (!out) continue;
            if (!outputs[i].defined()) return false;
            if (out->dtype() != DataType::kUndefined && out->dtype() != outputs[i].dtype()) return false;
            bytes += outputs[i].byteSize();
        }
        if (bytes > mOptions.maxOutputBytes) return false;
        std::vector<ir::Value*> outs = node.outputs();
        graph.removeNode(&node);
        for (size_t i = 0; i < outs.size(); ++i) {
            if (outs[i]) outs[i]->setConstant(std::move(outputs[i]));
        }
        return true;
    }

private:
    //! False when a statically known output shape already exceeds the cap.
    bool fitsCap(const ir::Node& node) const {
        size_t bytes = 0;
        for (const ir::Value* out : node.outputs()) {
            if (!out || out->dtype() == DataType::kUndefined) continue;
            if (auto s = out->staticShape()) {
                const int64_t n = shapeNumel(*s);
                if (n < 0) return false;
                bytes += static_cast<size_t>(n) * dataTypeSize(out->dtype());
            }
        }
        return bytes <= mOptions.maxOutputBytes;
    }

    ConstantFoldingOptions mOptions;
};

}  // namespace

std::unique_ptr<Pass> createConstantFolding(ConstantFoldingOptions options) {
    return std::make_unique<ConstantFolding>(options);
}

}  // namespace kiln::passes
