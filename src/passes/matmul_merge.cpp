// "matmul-merge": MatMul / FusedMatMul siblings that read the same input with constant [K, N] weights (a
// transformer's q, k and v projections) → one FusedMatMul over the stacked weights, whose G outputs are leading
// slices that Split hands out without a copy:
//
//   x [.., M, K] → MatMul(W_g [K, N]) (+ bias b_g) → y_g            for g < G
//   ⇒  Unsqueeze(x, 0) [1, .., M, K] → FusedMatMul(W [G, 1, .., K, N], bias [G, 1, .., N]) → [G, .., M, N]
//      → Split(axis 0) → Squeeze(0) → y_g
//
// The CUDA backend runs the merged node as one strided-batched GEMM of M = (batch · rows) with a per-batch bias
// (mat_mul.cpp), and Split along a leading axis as views (data_movement.cpp), so G launches become one and
// nothing is copied. The y_g values keep their names and readers (the attention fusion's Reshape → Transpose
// pattern still starts from them). Siblings merge only when: the weights are constants of one shape and dtype (x's);
// FusedMatMul siblings have no residual input and the same activation; the bias, where present, is a constant of
// N values; every sibling is in the main graph and pinned to the same precision.
#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "ir/graph_edit.h"
#include "passes/layer_precision.h"
#include "passes/passes.h"

namespace kiln::passes {

namespace {

using ir::OpKind;

bool isProduct(OpKind op) { return op == OpKind::kMatMul || op == OpKind::kFusedMatMul; }

//! A constant, rank-2 weight of `dtype`.
bool isWeight(const ir::Value* w, DataType dtype) {
    return w && w->isConstant() && w->constant().rank() == 2 && w->constant().dtype() == dtype;
}

class MatMulMerge : public Pass {
public:
    std::string_view name() const override { return "matmul-merge"; }

    Result<PassResult> run(ir::Graph& graph, PassContext& ctx) override {
        std::vector<ir::Node*> nodes;
        for (const auto& n : graph.nodes()) nodes.push_back(n.get());
        std::unordered_set<const ir::Value*> seen;
        PassResult result;
        int64_t merged = 0;
        for (ir::Node* node : nodes) {
            if (node->removed() || !isProduct(node->op()) || !seen.insert(node->input(0)).second) continue;
            std::vector<ir::Node*> pending = candidates(graph, node->input(0));
            while (!pending.empty()) {
                // The earliest candidate and those compatible with it form a group; the rest try again.
                std::vector<ir::Node*> group, rest;
                for (ir::Node* n : pending) (compatible(*pending.front(), *n) ? group : rest).push_back(n);
                pending = std::move(rest);
                if (group.size() < 2) continue;
                KILN_RETURN_IF_ERROR(merge(graph, group, ctx));
                ++result.changes;
                merged += static_cast<int64_t>(group.size());
            }
        }
        result.summary = "merged " + std::to_string(merged) + " MatMul into " + std::to_string(result.changes);
        return result;
    }

private:
    //! x's readers that could merge with one another, in graph order.
    static std::vector<ir::Node*> candidates(const ir::Graph& graph, ir::Value* x) {
        if (!x || x->isConstant() || !isFloatingPoint(x->dtype()) || !x->shape() || x->shape()->size() < 2) return {};
        std::vector<ir::Node*> found;
        for (ir::Node* n : x->consumers()) {
            if (std::find(found.begin(), found.end(), n) == found.end() && candidate(graph, *n, x)) found.push_back(n);
        }
        std::sort(found.begin(), found.end(),
                  [&](const ir::Node* a, const ir::Node* b) { return graph.indexOf(a) < graph.indexOf(b); });
        return found;
    }

    static bool candidate(const ir::Graph& graph, const ir::Node& n, const ir::Value* x) {
        if (!isProduct(n.op()) || n.input(0) != x || n.outputs().size() != 1 || !n.output(0)) return false;
        if (graph.indexOf(&n) < 0 || !isWeight(n.input(1), x->dtype()) || n.output(0)->dtype() != x->dtype()) {
            return false;
        }
        if (n.op() == OpKind::kMatMul) return n.inputs().size() == 2;
        if (n.inputs().size() > 3 && n.input(3)) return false;  // a residual stays with its own GEMM
        const ir::Value* bias = n.inputs().size() > 2 ? n.input(2) : nullptr;
        const int64_t cols = n.input(1)->constant().dim(1);
        return !bias || (bias->isConstant() && bias->constant().rank() == 1 && bias->constant().dim(0) == cols &&
                         bias->constant().dtype() == x->dtype());
    }

    static bool compatible(const ir::Node& a, const ir::Node& b) {
        return a.input(1)->constant().shape() == b.input(1)->constant().shape() &&
               a.attrs().getString("activation") == b.attrs().getString("activation") &&
               a.attrs().getFloats("activation_params") == b.attrs().getFloats("activation_params") &&
               pinsAllowMerge(a, b) && pinsAllowMerge(b, a);
    }

    static Status merge(ir::Graph& graph, const std::vector<ir::Node*>& group, PassContext& ctx) {
        ir::Node* first = group.front();
        ir::Value* x = first->input(0);
        const DataType dtype = x->dtype();
        const size_t rank = x->shape()->size();
        const Shape& wShape = first->input(1)->constant().shape();
        const auto g = static_cast<int64_t>(group.size());
        // [G, 1, ..., 1, K, N] and [G, 1, ..., 1, N], one rank above x, so the batch dims broadcast against x's.
        Shape stacked(rank + 1, 1), biasShape(rank + 1, 1);
        stacked[0] = biasShape[0] = g;
        stacked[rank - 1] = wShape[0];
        stacked[rank] = biasShape[rank] = wShape[1];
        KILN_ASSIGN_OR_RETURN(Tensor w, Tensor::allocate(dtype, stacked));
        KILN_ASSIGN_OR_RETURN(Tensor bias, Tensor::allocate(dtype, biasShape));
        std::memset(bias.raw(), 0, bias.byteSize());
        bool anyBias = false;
        const size_t wBytes = first->input(1)->constant().byteSize();
        const size_t bBytes = bias.byteSize() / static_cast<size_t>(g);
        for (size_t i = 0; i < group.size(); ++i) {
            const ir::Node* n = group[i];
            std::memcpy(static_cast<char*>(w.raw()) + i * wBytes, n->input(1)->constant().raw(), wBytes);
            if (n->inputs().size() > 2 && n->input(2)) {
                std::memcpy(static_cast<char*>(bias.raw()) + i * bBytes, n->input(2)->constant().raw(), bBytes);
                anyBias = true;
            }
        }
        KILN_ASSIGN_OR_RETURN(ir::Value * wValue, ir::addConstant(graph, first->input(1)->name() + "_merged", w));
        ir::Value* bValue = nullptr;
        if (anyBias) {
            KILN_ASSIGN_OR_RETURN(bValue, ir::addConstant(graph, first->name() + "_merged_bias", bias));
        }
        KILN_ASSIGN_OR_RETURN(ir::Value * zero,
                              ir::addConstant(graph, "merge_axis0", Tensor::fromVector<int64_t>({0})));
        KILN_ASSIGN_OR_RETURN(
            ir::Value * sizes,
            ir::addConstant(graph, "merge_split", Tensor::fromVector<int64_t>(std::vector<int64_t>(group.size(), 1))));

        std::vector<ir::Dim> xDims = *x->shape();
        xDims.insert(xDims.begin(), ir::Dim::known(1));
        const ir::SymbolicShape& outShape = first->output(0)->shape();
        auto withLead = [&](int64_t lead) -> ir::SymbolicShape {
            if (!outShape) return std::nullopt;
            std::vector<ir::Dim> d = *outShape;
            d.insert(d.begin(), ir::Dim::known(lead));
            return d;
        };
        const int64_t opset = std::max<int64_t>(first->opset(), 13);  // axes and split as inputs
        size_t at = static_cast<size_t>(graph.indexOf(first));
        auto newValue = [&](const std::string& base, ir::SymbolicShape shape) -> Result<ir::Value*> {
            KILN_ASSIGN_OR_RETURN(ir::Value * v, graph.createValue(ir::uniqueValueName(graph, base)));
            v->setDtype(dtype);
            v->setShape(std::move(shape));
            return v;
        };
        auto newNode = [&](OpKind op, const std::string& name, int64_t nodeOpset) {
            ir::Node* n = graph.insertNode(at++, op, name, nodeOpset);
            n->setSourceIndex(first->sourceIndex());
            if (first->attrs().has(kPrecisionAttr)) {
                n->attrs().set(kPrecisionAttr, first->attrs().getString(kPrecisionAttr));
            }
            return n;
        };
        const std::string base = first->name().empty() ? first->output(0)->name() : first->name();
        KILN_ASSIGN_OR_RETURN(ir::Value * xU, newValue(x->name() + "_stacked_in", xDims));
        ir::Node* unsqueeze = newNode(OpKind::kUnsqueeze, base + "_merge_in", opset);
        unsqueeze->addInput(x);
        unsqueeze->addInput(zero);
        unsqueeze->addOutput(xU);

        KILN_ASSIGN_OR_RETURN(ir::Value * y, newValue(base + "_merged", withLead(g)));
        ir::Node* product = newNode(OpKind::kFusedMatMul, base + "_merged", first->opset());
        product->attrs() = first->attrs();
        product->addInput(xU);
        product->addInput(wValue);
        product->addInput(bValue);
        product->addOutput(y);

        ir::Node* split = newNode(OpKind::kSplit, base + "_merge_split", opset);
        split->attrs().set("axis", int64_t{0});
        split->addInput(y);
        split->addInput(sizes);
        std::vector<ir::Value*> parts;
        for (size_t i = 0; i < group.size(); ++i) {
            KILN_ASSIGN_OR_RETURN(ir::Value * part, newValue(group[i]->output(0)->name() + "_part", withLead(1)));
            split->addOutput(part);
            parts.push_back(part);
        }
        for (size_t i = 0; i < group.size(); ++i) {
            ir::Node* n = group[i];
            ir::Value* out = n->output(0);
            ir::Node* squeeze = newNode(OpKind::kSqueeze, n->name(), opset);
            squeeze->addInput(parts[i]);
            squeeze->addInput(zero);
            ctx.verbose("matmul-merge: " + n->describe() + " into " + product->describe());
            graph.removeNode(n);
            squeeze->addOutput(out);
        }
        return Status::ok();
    }
};

}  // namespace

std::unique_ptr<Pass> createMatMulMerge() { return std::make_unique<MatMulMerge>(); }

}  // namespace kiln::passes
