// "layer-norm-fusion": LayerNormalization spelled out by exporters at opsets before 17 (PyTorch's, Hugging Face
// BERT's) → one LayerNormalization node, which add-layer-norm-fusion and the CUDA row kernel then take:
//
//   mean = ReduceMean(x, trailing axes) → d = Sub(x, mean) → Pow(d, 2) | Mul(d, d) → ReduceMean(same axes)
//   → Add(eps) → Sqrt → Div(d, ·) [→ Mul(gamma)] [→ Add(beta)]
//
// gamma and beta must be constants of the normalized shape (leading 1s allowed); without gamma the scale is a
// constant of ones. Every intermediate is read only inside the pattern and none is a graph output; no node is
// pinned to another precision than the first ReduceMean.
#include <algorithm>
#include <vector>

#include "passes/layer_precision.h"
#include "passes/passes.h"
#include "passes/pattern_util.h"

namespace kiln::passes {

namespace {

using ir::OpKind;

struct NormMatch {
    ir::Value* x = nullptr;
    int64_t axis = 0;  //!< Negative: counted from the end.
    float epsilon = 0;
    ir::Value* gamma = nullptr;
    ir::Value* beta = nullptr;
    std::vector<ir::Node*> nodes;  //!< In graph order of dependence; the last writes the result.
};

class LayerNormFusion : public RewriteRule {
public:
    std::string_view name() const override { return "layer-norm-fusion"; }
    std::string describe(int64_t n) const override {
        return "replaced " + std::to_string(n) + " spelled-out LayerNormalizations";
    }

    Result<PassResult> run(ir::Graph& graph, PassContext& ctx) override {
        mRefs = ir::subgraphOutputRefs(graph);
        return RewriteRule::run(graph, ctx);
    }

    bool match(const ir::Node& node) const override {
        return node.op() == OpKind::kDiv && node.inputs().size() == 2 && producerOf(node.input(1), OpKind::kSqrt);
    }

    Result<bool> apply(ir::Graph& graph, ir::Node& div, PassContext& ctx) override {
        NormMatch m;
        if (!matchCore(div, m)) return false;
        matchAffine(m);
        const ir::Node* first = m.nodes.front();
        for (const ir::Node* n : m.nodes) {
            if (!pinsAllowMerge(*first, *n)) return false;
        }
        if (!m.x->shape() && !m.gamma) return false;  // ones of an unknown size
        const int64_t rank = m.x->shape() ? static_cast<int64_t>(m.x->shape()->size()) : 1;
        if (!m.gamma) {
            Shape norm;
            for (int64_t d = rank + m.axis; d < rank; ++d) {
                const ir::Dim& dim = (*m.x->shape())[static_cast<size_t>(d)];
                if (!dim.isStatic()) return false;  // ones of an unknown size
                norm.push_back(dim.size);
            }
            KILN_ASSIGN_OR_RETURN(Tensor ones, Tensor::allocate(m.x->dtype(), norm));
            for (int64_t i = 0; i < ones.numel(); ++i) {
                switch (m.x->dtype()) {
                    case DataType::kFloat32: ones.data<float>()[i] = 1.0f; break;
                    case DataType::kFloat64: ones.data<double>()[i] = 1.0; break;
                    case DataType::kFloat16: ones.data<Half>()[i] = Half(1.0f); break;
                    case DataType::kBFloat16: ones.data<BFloat16>()[i] = BFloat16(1.0f); break;
                    default: return false;
                }
            }
            KILN_ASSIGN_OR_RETURN(m.gamma, ir::addConstant(graph, m.x->name() + "_ln_scale", std::move(ones)));
        }
        // LayerNormalization's Scale and B broadcast to the normalized shape: drop the leading 1s beyond its rank.
        for (ir::Value** p : {&m.gamma, &m.beta}) {
            if (!*p || !m.x->shape() || static_cast<int64_t>((*p)->constant().rank()) <= -m.axis) continue;
            const Shape& s = (*p)->constant().shape();
            KILN_ASSIGN_OR_RETURN(Tensor t, (*p)->constant().reshaped(Shape(s.end() + m.axis, s.end())));
            KILN_ASSIGN_OR_RETURN(*p, ir::addConstant(graph, (*p)->name() + "_ln", std::move(t)));
        }
        ir::Node* last = m.nodes.back();
        ir::Node* ln = ir::insertNodeAfter(graph, last, OpKind::kLayerNormalization, last->name(), 17);
        ln->setSourceIndex(first->sourceIndex());
        ln->attrs().set("axis", m.axis);
        ln->attrs().set("epsilon", m.epsilon);
        if (first->attrs().has(kPrecisionAttr)) {
            ln->attrs().set(kPrecisionAttr, first->attrs().getString(kPrecisionAttr));
        }
        ln->addInput(m.x);
        ln->addInput(m.gamma);
        if (m.beta) ln->addInput(m.beta);
        ir::Value* y = last->output(0);
        for (ir::Node* n : m.nodes) graph.removeNode(n);
        ln->addOutput(y);
        ctx.verbose("layer-norm-fusion: " + std::to_string(m.nodes.size()) + " nodes ending in " + y->name());
        return true;
    }

private:
    //! The trailing-axes ReduceMean (keepdims 1): the first normalized axis counted from the end (-1: the last dim
    //! alone), or nullopt. When x's rank is unknown only axes = [-1] qualifies.
    static std::optional<int64_t> reducedTail(const ir::Node& mean) {
        const ir::Value* x = mean.input(0);
        if (mean.inputs().size() != 1 || mean.attrs().getInt("keepdims", 1) != 1) return std::nullopt;
        std::vector<int64_t> axes = mean.attrs().getInts("axes").value_or(std::vector<int64_t>{});
        if (!x->shape()) return axes == std::vector<int64_t>{-1} ? std::optional<int64_t>(-1) : std::nullopt;
        const auto rank = static_cast<int64_t>(x->shape()->size());
        if (axes.empty() || rank == 0) return std::nullopt;
        for (int64_t& a : axes) a = a < 0 ? a + rank : a;
        std::sort(axes.begin(), axes.end());
        for (size_t i = 0; i < axes.size(); ++i) {
            if (axes[i] != rank - static_cast<int64_t>(axes.size()) + static_cast<int64_t>(i)) return std::nullopt;
        }
        return axes.front() - rank;
    }

    bool matchCore(ir::Node& div, NormMatch& m) const {
        ir::Value* d = div.input(0);
        ir::Node* sqrt = div.input(1)->producer();
        ir::Node* sub = producerOf(d, OpKind::kSub);
        if (!sub || !onlyReadOnce(sqrt->output(0), mRefs) || !onlyReadOnce(sqrt->input(0), mRefs)) return false;
        ir::Node* addEps = producerOf(sqrt->input(0), OpKind::kAdd);
        if (!addEps || addEps->inputs().size() != 2) return false;
        const bool epsFirst = scalarConstant(addEps->input(0)).has_value();
        const std::optional<double> eps = scalarConstant(addEps->input(epsFirst ? 0 : 1));
        ir::Value* var = addEps->input(epsFirst ? 1 : 0);
        ir::Node* varMean = onlyReadOnce(var, mRefs) ? producerOf(var, OpKind::kReduceMean) : nullptr;
        if (!eps || *eps < 0 || !varMean) return false;
        ir::Value* sq = varMean->input(0);
        ir::Node* square = onlyReadOnce(sq, mRefs) ? sq->producer() : nullptr;
        if (!square || square->inputs().size() != 2 || square->input(0) != d) return false;
        const bool isSquare = (square->op() == OpKind::kPow && isScalarNear(square->input(1), 2.0)) ||
                              (square->op() == OpKind::kMul && square->input(1) == d);
        if (!isSquare) return false;
        // d feeds the square and the Div only.
        if (ir::isGraphOutput(d) || mRefs.count(d)) return false;
        for (const ir::Node* c : d->consumers()) {
            if (c != square && c != &div) return false;
        }
        m.x = sub->input(0);
        ir::Node* mean = producerOf(sub->input(1), OpKind::kReduceMean);
        if (!mean || mean->input(0) != m.x || !onlyReadOnce(sub->input(1), mRefs) || !isFloatingPoint(m.x->dtype())) {
            return false;
        }
        const std::optional<int64_t> axis = reducedTail(*mean);
        if (!axis || reducedTail(*varMean) != axis ||
            mean->attrs().getInts("axes")->size() != varMean->attrs().getInts("axes")->size()) {
            return false;
        }
        m.axis = *axis;
        m.epsilon = static_cast<float>(*eps);
        m.nodes = {mean, sub, square, varMean, addEps, sqrt, &div};
        return true;
    }

    //! A constant that broadcasts over the normalized dims only (leading 1s allowed); 1-D when x's rank is unknown
    //! (a last dim other than its size then fails at run time, in LayerNormalization's check).
    bool normParam(const ir::Value* p, const NormMatch& m) const {
        if (!p || !p->isConstant() || p->constant().dtype() != m.x->dtype()) return false;
        const Shape& s = p->constant().shape();
        if (!m.x->shape()) return s.size() == 1;
        const auto rank = static_cast<int64_t>(m.x->shape()->size());
        if (static_cast<int64_t>(s.size()) > rank) return false;
        for (size_t i = 0; i < s.size(); ++i) {
            const int64_t dim = rank - static_cast<int64_t>(s.size()) + static_cast<int64_t>(i);
            const ir::Dim& xd = (*m.x->shape())[static_cast<size_t>(dim)];
            if (dim < rank + m.axis ? s[i] != 1 : (!xd.isStatic() || xd.size != s[i])) return false;
        }
        return true;
    }

    //! The optional Mul(gamma) → Add(beta) after the Div.
    void matchAffine(NormMatch& m) const {
        for (OpKind op : {OpKind::kMul, OpKind::kAdd}) {
            ir::Value* out = m.nodes.back()->output(0);
            ir::Node* n = soleReader(out, op, mRefs);
            if (!n || n->inputs().size() != 2) return;
            ir::Value* p = n->input(0) == out ? n->input(1) : n->input(0);
            if (p == out || !normParam(p, m)) return;
            if (op == OpKind::kAdd && !m.gamma) return;  // beta without gamma: left as an Add
            (op == OpKind::kMul ? m.gamma : m.beta) = p;
            m.nodes.push_back(n);
        }
    }

    std::unordered_set<const ir::Value*> mRefs;
};

}  // namespace

std::unique_ptr<Pass> createLayerNormFusion() { return std::make_unique<LayerNormFusion>(); }

}  // namespace kiln::passes
