// "shape-inference": Kiln's own symbolic shape inference over the main graph, in node order, with the per-op rules
// of shape_rules.h. It completes what ONNX's inference at import left out: a Slice whose ends come from Shape, or a
// Reshape whose target is Concat(Unsqueeze(Gather(Shape(x), i)), ...), end ONNX 1.12's propagation, and every value
// downstream (BERT's q/k/v projections included) loses its rank. Here the shape tensors' elements are followed
// symbolically, so Reshape(x [batch, 128, 768], [b, s, 12, 64] from Shape(x)) is [batch, 128, 12, 64].
//
// The pass only adds knowledge: a value without a rank gets the inferred shape, and unknown dims (no size, no
// symbol) of a known rank get inferred ones. A static dim or a symbol is never replaced (a size proven for a symbol,
// such as the length of a Shape output ONNX calls "unk__0", is used downstream within the pass, which is how the
// shape elements get through); where inference disagrees with the model's shape (a different rank or size), the
// model's stays and the disagreement is logged (verbose).
// It runs first in each pipeline iteration, so it also sees what constant folding made constant.
#include <unordered_map>

#include "ir/graph_edit.h"
#include "passes/passes.h"
#include "passes/shape_rules.h"

namespace kiln::passes {

namespace {

//! Integer tensors up to this many elements carry their elements (shape tensors are a handful of elements).
constexpr int64_t kMaxElems = 64;

bool isIndexType(DataType t) { return t == DataType::kInt64 || t == DataType::kInt32; }

ir::SymbolicShape dimsOf(const Shape& s) {
    std::vector<ir::Dim> d;
    for (int64_t n : s) d.push_back(ir::Dim::known(n));
    return d;
}

//! Whether `data` agrees with `shape` as the elements of a rank-0 or rank-1 tensor.
bool dataFits(const shapes::Elems& data, const ir::SymbolicShape& shape) {
    if (!shape || shape->size() > 1 || static_cast<int64_t>(data.size()) > kMaxElems) return false;
    if (shape->empty()) return data.size() == 1;
    return (*shape)[0].isStatic() && (*shape)[0].size == static_cast<int64_t>(data.size());
}

class ShapeInference : public Pass {
public:
    std::string_view name() const override { return "shape-inference"; }

    Result<PassResult> run(ir::Graph& graph, PassContext& ctx) override {
        mFacts.clear();
        int64_t ranks = 0, changed = 0;
        for (const auto& node : graph.nodes()) {
            if (ir::hasSubgraphs(*node)) continue;
            std::vector<const shapes::Facts*> inputs;
            for (const ir::Value* in : node->inputs()) inputs.push_back(factsOf(in));
            std::vector<shapes::Facts> outputs = shapes::inferNode(*node, inputs);
            for (size_t i = 0; i < outputs.size(); ++i) {
                ir::Value* v = node->output(i);
                if (!v || v->isConstant()) continue;
                const bool hadRank = v->shape().has_value();
                shapes::Facts f{outputs[i].shape, std::nullopt};
                const bool agrees = refine(*v, f.shape, *node, ctx, changed);
                if (!hadRank && v->shape()) ++ranks;
                if (!agrees) f.shape = v->shape();
                // Elements are kept only for an index tensor of the shape they were inferred for.
                if (agrees && outputs[i].data && isIndexType(v->dtype()) && dataFits(*outputs[i].data, f.shape)) {
                    f.data = std::move(outputs[i].data);
                }
                mFacts[v] = std::move(f);
            }
        }
        mFacts.clear();
        PassResult result;
        result.changes = changed;
        result.summary = "completed the shapes of " + std::to_string(changed) + " values (" + std::to_string(ranks) +
                         " had no rank)";
        return result;
    }

private:
    const shapes::Facts* factsOf(const ir::Value* v) {
        if (!v) return nullptr;
        auto it = mFacts.find(v);
        if (it != mFacts.end()) return &it->second;
        shapes::Facts f;
        if (v->isConstant()) {
            const Tensor& t = v->constant();
            f.shape = dimsOf(t.shape());
            if (isIndexType(t.dtype()) && t.rank() <= 1 && t.numel() <= kMaxElems) {
                f.data.emplace();
                for (int64_t i = 0; i < t.numel(); ++i) f.data->push_back(shapes::Elem::of(t.getInt(i)));
            }
        } else {
            f.shape = v->shape();
        }
        return &mFacts.emplace(v, std::move(f)).first->second;
    }

    //! Merges `inferred` into v's shape (its unknown dims); counts a change when that adds anything. On return
    //! `inferred` holds what is known of the value: the model's static dims, else the inferred ones (a static size
    //! where the model only has a symbol stays in the facts, not in the value). False when the two disagree.
    static bool refine(ir::Value& v, ir::SymbolicShape& inferred, const ir::Node& node, PassContext& ctx,
                       int64_t& changed) {
        if (!inferred) {
            inferred = v.shape();
            return true;
        }
        if (!v.shape()) {
            v.setShape(inferred);
            ++changed;
            return true;
        }
        std::vector<ir::Dim> dims = *v.shape();
        bool conflict = dims.size() != inferred->size();
        bool added = false;
        for (size_t i = 0; !conflict && i < dims.size(); ++i) {
            ir::Dim& want = (*inferred)[i];
            if (shapes::isUnknown(dims[i]) && !shapes::isUnknown(want)) {
                dims[i] = want;
                added = true;
            } else if (dims[i].isStatic() && want.isStatic() && dims[i].size != want.size) {
                conflict = true;
            } else if (!want.isStatic()) {
                want = dims[i];
            }
        }
        if (conflict) {
            ctx.verbose("shape-inference: " + node.describe() + " output '" + v.name() + "': inferred " +
                        ir::symbolicShapeToString(inferred) + ", the model says " +
                        ir::symbolicShapeToString(v.shape()) + "; kept the model's");
            return false;
        }
        if (added) {
            v.setShape(std::move(dims));
            ++changed;
        }
        return true;
    }

    std::unordered_map<const ir::Value*, shapes::Facts> mFacts;
};

}  // namespace

std::unique_ptr<Pass> createShapeInference() { return std::make_unique<ShapeInference>(); }

}  // namespace kiln::passes
