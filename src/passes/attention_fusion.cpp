// Scaled dot-product attention → one kiln Attention node (ir/ops.def).
//
// Anchored at the second MatMul (probs · V), the rule walks back and matches
//   scores = MatMul(Q', K'ᵀ) [· or / scalar] [+ mask];  probs = Softmax(scores, axis = last);  Y = MatMul(probs, V')
// where Q', K'ᵀ and V' are reached from the projections' outputs through Transposes and scalar Mul/Div (the scale
// may sit on q, on k, on the scores, or be split among them; Div by c counts as 1/c), an optional Cast up before
// and Cast down after the Softmax (a model exported with float32 softmax islands: the op accumulates in float32
// anyway), and the mask is any runtime or constant value broadcastable to the scores, added after the scale. The
// Transposes fold into the op's layout attributes when their composed permutation is one the op reads directly
// (q/v: none or [B, S, H, D] → [B, H, S, D]; k: [.., S, D] → [.., D, S] from either storage); otherwise the walk
// stops earlier and the remaining Transposes stay as nodes. A Transpose of Y back to [B, S, H, D] ([S, N, D])
// folds into out_layout.
//
// Refused: ranks other than 3 and 4 (the rank comes from the shapes, or from a Transpose's perm when the model
// computes its head shapes at run time), a Softmax over another axis, a mask that would broadcast the scores to a
// larger shape, static batch/head dims of Q, K and V that neither match nor are 1, any intermediate
// value that is a graph output (marked too) or has another reader, nodes pinned to another precision than the
// first MatMul (passes/layer_precision.h), non-float dtypes, head sizes that are unknown or above
// cpu::kAttentionMaxHeadSize (the GPU kernels' limit). The fusion runs before bias-activation-fusion (so
// the mask Add is not taken as a MatMul bias) and before the precision lowering, which then lowers the Attention
// node like the MatMuls it replaces.
#include <cmath>
#include <numeric>
#include <optional>
#include <unordered_set>

#include "backends/cpu/attention_plan.h"
#include "ir/graph_edit.h"
#include "passes/layer_precision.h"
#include "passes/passes.h"

namespace kiln::passes {

namespace {

using ir::OpKind;
using Perm = std::vector<int64_t>;

bool sameDim(const ir::Dim& a, const ir::Dim& b) {
    return a.isStatic() ? (b.isStatic() && a.size == b.size) : (!a.symbol.empty() && a.symbol == b.symbol);
}

//! The value of a one-element float constant operand, if `v` is one of rank <= `rank` (so it does not grow the
//! shape it multiplies).
std::optional<double> scalarConstant(const ir::Value* v, size_t rank) {
    if (!v || !v->isConstant()) return std::nullopt;
    const Tensor& t = v->constant();
    if (t.numel() != 1 || !isFloatingPoint(t.dtype()) || static_cast<size_t>(t.rank()) > rank) return std::nullopt;
    return t.getDouble(0);
}

Perm swapped(size_t rank, size_t a, size_t b) {
    Perm p(rank);
    std::iota(p.begin(), p.end(), 0);
    std::swap(p[a], p[b]);
    return p;
}

//! p ∘ q: the permutation of transpose(transpose(x, p), q) as one transpose of x.
Perm compose(const Perm& p, const Perm& q) {
    Perm r(q.size());
    for (size_t i = 0; i < q.size(); ++i) r[i] = p[static_cast<size_t>(q[i])];
    return r;
}

//! One operand traced back to the tensor the op reads.
struct Operand {
    ir::Value* source = nullptr;
    int64_t layout = cpu::kAttentionHeadMajor;
    double scale = 1.0;
    std::vector<ir::Node*> absorbed;
};

//! Everything apply needs; filled by analyze.
struct Match {
    Operand q, k, v;
    ir::Value* mask = nullptr;
    double scale = 1.0;
    int64_t outLayout = cpu::kAttentionHeadMajor;
    ir::Value* output = nullptr;
    ir::Node* first = nullptr;     //!< The Q·Kᵀ MatMul (the fused node keeps its pin).
    std::vector<ir::Node*> chain;  //!< Every node the fused one replaces.
};

class AttentionFusion : public RewriteRule {
public:
    std::string_view name() const override { return "attention-fusion"; }
    std::string describe(int64_t n) const override {
        return "fused " + std::to_string(mAbsorbed) + " nodes into " + std::to_string(n) + " Attention";
    }

    Result<PassResult> run(ir::Graph& graph, PassContext& ctx) override {
        mAbsorbed = 0;
        mSubgraphRefs = ir::subgraphOutputRefs(graph);
        return RewriteRule::run(graph, ctx);
    }

    bool match(const ir::Node& node) const override {
        if (node.op() != OpKind::kMatMul || !node.input(0)) return false;
        const ir::Node* p = node.input(0)->producer();
        if (p && p->op() == OpKind::kCast && p->input(0)) p = p->input(0)->producer();
        return p && p->op() == OpKind::kSoftmax;
    }

    Result<bool> apply(ir::Graph& graph, ir::Node& node, PassContext& ctx) override {
        std::optional<Match> m = analyze(node);
        if (!m) return false;
        ir::Node* last = m->chain.front();
        for (ir::Node* n : m->chain) {
            if (graph.indexOf(n) > graph.indexOf(last)) last = n;
        }
        ir::Node* fused = ir::insertNodeAfter(graph, last, OpKind::kAttention, node.name(), 1);
        fused->setSourceIndex(m->first->sourceIndex());
        if (auto pin = m->first->attrs().get<std::string>(kPrecisionAttr)) fused->attrs().set(kPrecisionAttr, *pin);
        fused->attrs().set("scale", static_cast<float>(m->scale));
        fused->attrs().set("q_layout", m->q.layout);
        fused->attrs().set("k_layout", m->k.layout);
        fused->attrs().set("v_layout", m->v.layout);
        fused->attrs().set("out_layout", m->outLayout);
        fused->addInput(m->q.source);
        fused->addInput(m->k.source);
        fused->addInput(m->v.source);
        if (m->mask) fused->addInput(m->mask);
        for (ir::Node* n : m->chain) {
            ctx.verbose("attention-fusion: " + n->describe() + " into " + fused->describe());
            graph.removeNode(n);
        }
        fused->setOutput(0, m->output);
        mAbsorbed += static_cast<int64_t>(m->chain.size());
        return true;
    }

private:
    //! Whether `n` may disappear into a node anchored at `first`: its one output feeds one reader in the main graph,
    //! is no graph output, and its pin agrees.
    bool absorbable(const ir::Node& n, const ir::Node& first) const {
        const ir::Value* y = n.output(0);
        if (!y || n.outputs().size() != 1 || y->consumers().size() != 1 || ir::isGraphOutput(y)) return false;
        if (mSubgraphRefs.count(y) || y->consumers().front()->output(0) == nullptr) return false;
        if (y->consumers().front()->output(0)->graph() != y->graph()) return false;
        return pinsAllowMerge(first, n);
    }

    //! Walks back from `v` (an input of a MatMul) through Transposes and scalar Mul/Div, then keeps the longest
    //! prefix whose composed permutation the op reads (`keyTransposed`: the MatMul reads Kᵀ).
    std::optional<Operand> trace(ir::Value* v, size_t rank, bool keyTransposed, bool allowScale,
                                 const ir::Node& first) const {
        struct Step {
            ir::Node* node;
            ir::Value* input;
            Perm perm;     //!< Composed permutation from `input` to the MatMul operand.
            double scale;  //!< Composed scale up to here.
        };
        std::vector<Step> steps;
        Perm perm = swapped(rank, 0, 0);
        double scale = 1.0;
        for (ir::Value* cur = v; cur->producer();) {
            ir::Node* p = cur->producer();
            if (!absorbable(*p, first)) break;
            ir::Value* in = nullptr;
            if (p->op() == OpKind::kTranspose && p->input(0)) {
                const auto pp = p->attrs().getInts("perm");
                if (!pp || pp->size() != rank) break;
                perm = compose(*pp, perm);
                in = p->input(0);
            } else if (allowScale && (p->op() == OpKind::kMul || p->op() == OpKind::kDiv) && p->inputs().size() == 2) {
                const auto c1 = scalarConstant(p->input(1), rank);
                const auto c0 = p->op() == OpKind::kMul ? scalarConstant(p->input(0), rank) : std::nullopt;
                if (c1 && *c1 != 0) {
                    scale *= p->op() == OpKind::kMul ? *c1 : 1.0 / *c1;
                    in = p->input(0);
                } else if (c0) {
                    scale *= *c0;
                    in = p->input(1);
                } else {
                    break;
                }
            } else {
                break;
            }
            if (!in || in->dtype() != cur->dtype()) break;
            steps.push_back({p, in, perm, scale});
            cur = in;
        }
        // Layout 0 reads the logical tensor; layout 1 has the sequence axis before the head axis.
        const Perm seqMajor = swapped(rank, rank - 3, rank - 2);
        const Perm keyT = swapped(rank, rank - 2, rank - 1);
        const Perm accept0 = keyTransposed ? keyT : swapped(rank, 0, 0);
        const Perm accept1 = keyTransposed ? compose(seqMajor, keyT) : seqMajor;
        for (size_t cut = steps.size() + 1; cut-- > 0;) {
            const Perm& p = cut == 0 ? swapped(rank, 0, 0) : steps[cut - 1].perm;
            if (p != accept0 && p != accept1) continue;
            Operand o;
            o.source = cut == 0 ? v : steps[cut - 1].input;
            o.layout = p == accept0 ? cpu::kAttentionHeadMajor : cpu::kAttentionSeqMajor;
            o.scale = cut == 0 ? 1.0 : steps[cut - 1].scale;
            for (size_t i = 0; i < cut; ++i) o.absorbed.push_back(steps[i].node);
            return o;
        }
        return std::nullopt;
    }

    std::optional<Match> analyze(ir::Node& mm2) const;

    int64_t mAbsorbed = 0;
    std::unordered_set<const ir::Value*> mSubgraphRefs;
};

//! The logical [B, H, S, D] dims (rank 3: [N, S, D] with B absent) of a stored shape.
std::vector<ir::Dim> logicalDims(const std::vector<ir::Dim>& s, int64_t layout) {
    std::vector<ir::Dim> d = s;
    if (layout == cpu::kAttentionSeqMajor) std::swap(d[d.size() - 3], d[d.size() - 2]);
    return d;
}

//! Whether `v` is a MatMul's result, possibly through scalar Mul/Div and Cast nodes (the scores side of an Add).
bool reachesMatMul(const ir::Value* v) {
    for (const ir::Node* p = v ? v->producer() : nullptr; p;) {
        if (p->op() == OpKind::kMatMul) return true;
        if (p->op() != OpKind::kMul && p->op() != OpKind::kDiv && p->op() != OpKind::kCast) return false;
        const ir::Value* in = p->input(0) && !p->input(0)->isConstant() ? p->input(0) : p->input(1);
        p = in ? in->producer() : nullptr;
    }
    return false;
}

//! Two static batch/head dims that neither match nor broadcast (1).
bool conflicting(const ir::Dim& a, const ir::Dim& b) {
    return a.isStatic() && b.isStatic() && a.size != b.size && a.size != 1 && b.size != 1;
}

//! The rank of the attention chain ending at `mm2`: its output's, else the perm length of the V or K Transpose
//! (models that compute their head shapes at run time carry no static shapes); 0 when unknown.
size_t chainRank(const ir::Node& mm2) {
    if (mm2.output(0)->shape()) return mm2.output(0)->shape()->size();
    for (const ir::Value* v : {mm2.input(1), mm2.output(0)}) {
        const ir::Node* t =
            v->producer() == &mm2 ? (v->consumers().size() == 1 ? v->consumers().front() : nullptr) : v->producer();
        if (t && t->op() == OpKind::kTranspose) {
            if (auto perm = t->attrs().getInts("perm")) return perm->size();
        }
    }
    return 0;
}

bool broadcastsInto(const std::vector<ir::Dim>& mask, const std::vector<ir::Dim>& scores) {
    if (mask.size() > scores.size()) return false;
    const size_t offset = scores.size() - mask.size();
    for (size_t i = 0; i < mask.size(); ++i) {
        if (!(mask[i].isStatic() && mask[i].size == 1) && !sameDim(mask[i], scores[offset + i])) return false;
    }
    return true;
}

std::optional<Match> AttentionFusion::analyze(ir::Node& mm2) const {
    Match m;
    ir::Value* y = mm2.output(0);
    if (!y || !mm2.input(1) || !isFloatingPoint(y->dtype())) return std::nullopt;
    const size_t rank = chainRank(mm2);
    if (rank != 3 && rank != 4) return std::nullopt;
    // Softmax, with the Cast pair of a float32 island around it.
    ir::Node* castDown = nullptr;
    ir::Node* softmax = mm2.input(0)->producer();
    if (softmax->op() == OpKind::kCast) {
        castDown = softmax;
        softmax = castDown->input(0)->producer();
    }
    std::vector<ir::Node*> chain = {&mm2};
    if (castDown) chain.push_back(castDown);
    chain.push_back(softmax);
    const int64_t axis = softmax->attrs().getInt("axis", softmax->opset() < 13 ? 1 : -1);
    if (axis != -1 && axis != static_cast<int64_t>(rank) - 1) return std::nullopt;
    // Back from the Softmax: [Cast up] [+ mask] [scale...] to the first MatMul, in any order the scale comes first.
    ir::Node* castUp = nullptr;
    double scoreScale = 1.0;
    bool seenScale = false;
    ir::Value* cur = softmax->input(0);
    ir::Node* mm1 = nullptr;
    while (cur && cur->producer() && !mm1) {
        ir::Node* p = cur->producer();
        chain.push_back(p);
        ir::Value* next = nullptr;
        if (p->op() == OpKind::kMatMul) {
            mm1 = p;
            break;
        }
        if (p->op() == OpKind::kCast && castDown && !castUp) {
            castUp = p;
            next = p->input(0);
        } else if (p->op() == OpKind::kAdd && !m.mask && !seenScale && p->inputs().size() == 2) {
            // The scores come from the MatMul through scale/Cast nodes; the mask is the other operand.
            const bool aIsChain = reachesMatMul(p->input(0));
            if (aIsChain || reachesMatMul(p->input(1))) {
                next = aIsChain ? p->input(0) : p->input(1);
                m.mask = aIsChain ? p->input(1) : p->input(0);
            }
        } else if ((p->op() == OpKind::kMul || p->op() == OpKind::kDiv) && p->inputs().size() == 2) {
            const auto c1 = scalarConstant(p->input(1), rank);
            const auto c0 = p->op() == OpKind::kMul ? scalarConstant(p->input(0), rank) : std::nullopt;
            if (c1 && *c1 != 0) {
                scoreScale *= p->op() == OpKind::kMul ? *c1 : 1.0 / *c1;
                next = p->input(0);
            } else if (c0) {
                scoreScale *= *c0;
                next = p->input(1);
            }
            seenScale = true;
        }
        if (!next) return std::nullopt;
        cur = next;
    }
    if (!mm1 || (castDown != nullptr) != (castUp != nullptr)) return std::nullopt;
    if (castUp && (castUp->input(0)->dtype() != castDown->output(0)->dtype())) return std::nullopt;
    for (ir::Node* n : chain) {
        if (n != &mm2 && !absorbable(*n, *mm1)) return std::nullopt;
        if (!pinsAllowMerge(*mm1, *n)) return std::nullopt;
    }
    const ir::Value* scores = mm1->output(0);
    if ((scores->shape() && scores->shape()->size() != rank) || !mm1->input(0) || !mm1->input(1)) return std::nullopt;
    if (m.mask) {
        // The mask must not grow the scores: its rank is needed; its dims are checked where both are known.
        if (!m.mask->shape() || m.mask->shape()->size() > rank) return std::nullopt;
        if (scores->shape() && !broadcastsInto(*m.mask->shape(), *scores->shape())) return std::nullopt;
        if (m.mask->dtype() != y->dtype() && m.mask->dtype() != DataType::kFloat32) return std::nullopt;
    }
    // The operands.
    auto q = trace(mm1->input(0), rank, false, true, *mm1);
    auto k = trace(mm1->input(1), rank, true, true, *mm1);
    auto v = trace(mm2.input(1), rank, false, false, *mm1);
    if (!q || !k || !v) return std::nullopt;
    for (const Operand* o : {&*q, &*k, &*v}) {
        if (o->source->dtype() != y->dtype() || (o->source->shape() && o->source->shape()->size() != rank)) {
            return std::nullopt;
        }
        chain.insert(chain.end(), o->absorbed.begin(), o->absorbed.end());
    }
    // Where the shapes are known: batch/head dims equal or 1 (the op broadcasts them as MatMul does), D and Sk
    // equal, head sizes the GPU kernels take. Unknown dims (shapes computed at run time) are checked by the op.
    if (q->source->shape() && k->source->shape() && v->source->shape()) {
        const auto lq = logicalDims(*q->source->shape(), q->layout);
        const auto lk = logicalDims(*k->source->shape(), k->layout);
        const auto lv = logicalDims(*v->source->shape(), v->layout);
        for (size_t i = 0; i + 2 < rank; ++i) {
            if (conflicting(lq[i], lk[i]) || conflicting(lq[i], lv[i]) || conflicting(lk[i], lv[i])) {
                return std::nullopt;
            }
        }
        auto differ = [](const ir::Dim& a, const ir::Dim& b) {
            return a.isStatic() && b.isStatic() && a.size != b.size;
        };
        if (differ(lq[rank - 1], lk[rank - 1]) || differ(lk[rank - 2], lv[rank - 2])) return std::nullopt;
        for (const ir::Dim& d : {lq[rank - 1], lv[rank - 1]}) {
            if (d.isStatic() && d.size > cpu::kAttentionMaxHeadSize) return std::nullopt;
        }
    }
    // Y back to [B, S, H, Dv] folds into out_layout.
    m.output = y;
    if (y->consumers().size() == 1 && !ir::isGraphOutput(y) && !mSubgraphRefs.count(y)) {
        ir::Node* t = y->consumers().front();
        const auto perm = t->attrs().getInts("perm");
        if (t->op() == OpKind::kTranspose && perm && *perm == swapped(rank, rank - 3, rank - 2) && t->output(0) &&
            t->output(0)->graph() == y->graph() && pinsAllowMerge(*mm1, *t)) {
            m.outLayout = cpu::kAttentionSeqMajor;
            m.output = t->output(0);
            chain.push_back(t);
        }
    }
    m.q = std::move(*q);
    m.k = std::move(*k);
    m.v = std::move(*v);
    m.scale = m.q.scale * m.k.scale * scoreScale;
    m.first = mm1;
    m.chain = std::move(chain);
    std::unordered_set<ir::Node*> unique(m.chain.begin(), m.chain.end());
    if (unique.size() != m.chain.size()) return std::nullopt;  // q and k traced through one shared node
    return m;
}

}  // namespace

std::unique_ptr<Pass> createAttentionFusion() { return std::make_unique<AttentionFusion>(); }

}  // namespace kiln::passes
