// "gelu-fusion": the exporters' spelled-out GELU → one ONNX Gelu node (opset-20 semantics), which
// bias-activation-fusion then folds into the preceding MatMul/Gemm as its activation.
//
//   erf form  (torch.nn.functional.gelu, TorchScript export):  Div(x, √2) | Mul(x, 1/√2) → Erf → Add(1) → tail
//   tanh form (gelu(approximate="tanh"), GPT-2):  Pow(x, 3) | x·x·x → Mul(0.044715) → Add(x) → Mul(√(2/π)) → Tanh
//                                                 → Add(1) → tail
//   tail: Mul(x, ·) → Mul(0.5)  |  Mul(0.5) → Mul(x, ·)  |  Mul(·, Mul(x, 0.5))
// Constants match within a relative 1e-4. Every intermediate must be read only inside the pattern (not a graph
// output, not captured by a subgraph), and no node may be pinned to another precision than the pattern's first
// node (passes/layer_precision.h). The Gelu takes the last node's output value, so output names survive.
#include <algorithm>
#include <vector>

#include "passes/layer_precision.h"
#include "passes/passes.h"
#include "passes/pattern_util.h"

namespace kiln::passes {

namespace {

using ir::OpKind;

constexpr double kSqrt2 = 1.41421356237309504880;
constexpr double kSqrtTwoOverPi = 0.79788456080286535588;
constexpr double kTanhCubic = 0.044715;

struct GeluMatch {
    ir::Value* x = nullptr;
    std::vector<ir::Node*> nodes;  //!< Every node of the pattern; the last one writes the result.
    bool tanh = false;
};

class GeluFusion : public RewriteRule {
public:
    std::string_view name() const override { return "gelu-fusion"; }
    std::string describe(int64_t n) const override { return "replaced " + std::to_string(n) + " GELU patterns"; }

    Result<PassResult> run(ir::Graph& graph, PassContext& ctx) override {
        mRefs = ir::subgraphOutputRefs(graph);
        return RewriteRule::run(graph, ctx);
    }

    bool match(const ir::Node& node) const override {
        if (node.op() != OpKind::kErf && node.op() != OpKind::kTanh) return false;
        return soleReader(node.output(0), OpKind::kAdd, mRefs) != nullptr;
    }

    Result<bool> apply(ir::Graph& graph, ir::Node& node, PassContext& ctx) override {
        GeluMatch m;
        if (!(node.op() == OpKind::kErf ? matchErf(node, m) : matchTanh(node, m))) return false;
        if (!matchTail(m)) return false;
        const ir::Node* first = m.nodes.front();
        for (const ir::Node* n : m.nodes) {
            if (!pinsAllowMerge(*first, *n) || n->output(0)->dtype() != m.x->dtype()) return false;
        }
        ir::Node* last = m.nodes.back();
        ir::Node* gelu = ir::insertNodeAfter(graph, last, OpKind::kGelu, last->name(), 20);
        gelu->setSourceIndex(first->sourceIndex());
        gelu->attrs().set("approximate", std::string(m.tanh ? "tanh" : "none"));
        if (first->attrs().has(kPrecisionAttr)) {
            gelu->attrs().set(kPrecisionAttr, first->attrs().getString(kPrecisionAttr));
        }
        gelu->addInput(m.x);
        ir::Value* out = last->output(0);
        for (ir::Node* n : m.nodes) graph.removeNode(n);
        gelu->addOutput(out);
        ctx.verbose("gelu-fusion: " + std::to_string(m.nodes.size()) + " nodes ending in " + out->name() +
                    (m.tanh ? " → Gelu (tanh)" : " → Gelu"));
        return true;
    }

private:
    //! Div(x, √2) or Mul(x, 1/√2) → Erf → Add(1).
    bool matchErf(ir::Node& erf, GeluMatch& m) const {
        ir::Value* in = erf.input(0);
        if (!onlyReadOnce(in, mRefs)) return false;
        ir::Node* scale = in->producer();
        if (!scale) return false;
        if (scale->op() == OpKind::kDiv && scale->inputs().size() == 2 && isScalarNear(scale->input(1), kSqrt2)) {
            m.x = scale->input(0);
        } else if (scale->op() == OpKind::kMul) {
            m.x = operandBesideScalar(*scale, 1.0 / kSqrt2);
        }
        if (!m.x || m.x->isConstant()) return false;
        m.nodes = {scale, &erf};
        return addOne(erf, m);
    }

    //! x³ · 0.044715 + x → · √(2/π) → Tanh → Add(1).
    bool matchTanh(ir::Node& tanh, GeluMatch& m) const {
        ir::Value* in = tanh.input(0);
        ir::Node* outer = onlyReadOnce(in, mRefs) ? producerOf(in, OpKind::kMul) : nullptr;
        ir::Value* sum = outer ? operandBesideScalar(*outer, kSqrtTwoOverPi) : nullptr;
        ir::Node* add = onlyReadOnce(sum, mRefs) ? producerOf(sum, OpKind::kAdd) : nullptr;
        if (!add || add->inputs().size() != 2) return false;
        for (int side = 0; side < 2; ++side) {
            ir::Value* x = add->input(side);
            ir::Value* cubic = add->input(1 - side);
            ir::Node* scaled = onlyReadOnce(cubic, mRefs) ? producerOf(cubic, OpKind::kMul) : nullptr;
            ir::Value* cube = scaled ? operandBesideScalar(*scaled, kTanhCubic) : nullptr;
            std::vector<ir::Node*> cubeNodes;
            if (!x || x->isConstant() || !onlyReadOnce(cube, mRefs) || !isCubeOf(cube, x, cubeNodes)) continue;
            m.x = x;
            m.tanh = true;
            m.nodes = cubeNodes;
            m.nodes.insert(m.nodes.end(), {scaled, add, outer, &tanh});
            return addOne(tanh, m);
        }
        return false;
    }

    //! `cube` = Pow(x, 3), Mul(x, Mul(x, x)) or Mul(Mul(x, x), x); the nodes computing it go to `nodes`.
    bool isCubeOf(const ir::Value* cube, const ir::Value* x, std::vector<ir::Node*>& nodes) const {
        ir::Node* p = cube->producer();
        if (!p || p->inputs().size() != 2) return false;
        if (p->op() == OpKind::kPow) {
            nodes = {p};
            return p->input(0) == x && isScalarNear(p->input(1), 3.0);
        }
        if (p->op() != OpKind::kMul) return false;
        for (int side = 0; side < 2; ++side) {
            ir::Value* square = p->input(1 - side);
            ir::Node* sq = onlyReadOnce(square, mRefs) ? producerOf(square, OpKind::kMul) : nullptr;
            if (p->input(side) == x && sq && sq->input(0) == x && sq->input(1) == x) {
                nodes = {sq, p};
                return true;
            }
        }
        return false;
    }

    //! The Erf/Tanh output feeds Add(·, 1).
    bool addOne(ir::Node& root, GeluMatch& m) const {
        ir::Node* add = soleReader(root.output(0), OpKind::kAdd, mRefs);
        if (!add || operandBesideScalar(*add, 1.0) != root.output(0)) return false;
        m.nodes.push_back(add);
        return true;
    }

    //! The tail multiplying 1 + erf(...) (the last node's output) by x and 0.5, in any of the three orders.
    bool matchTail(GeluMatch& m) const {
        ir::Value* onePlus = m.nodes.back()->output(0);
        ir::Node* mul = soleReader(onePlus, OpKind::kMul, mRefs);
        if (!mul || mul->inputs().size() != 2) return false;
        ir::Value* other = mul->input(0) == onePlus ? mul->input(1) : mul->input(0);
        if (other == m.x) {  // Mul(x, ·) → Mul(0.5)
            ir::Node* half = soleReader(mul->output(0), OpKind::kMul, mRefs);
            if (!half || operandBesideScalar(*half, 0.5) != mul->output(0)) return false;
            m.nodes.insert(m.nodes.end(), {mul, half});
            return true;
        }
        if (isScalarNear(other, 0.5)) {  // Mul(0.5) → Mul(x, ·)
            ir::Node* byX = soleReader(mul->output(0), OpKind::kMul, mRefs);
            if (!byX || byX->inputs().size() != 2) return false;
            const ir::Value* y = mul->output(0);
            if (!((byX->input(0) == y && byX->input(1) == m.x) || (byX->input(1) == y && byX->input(0) == m.x))) {
                return false;
            }
            m.nodes.insert(m.nodes.end(), {mul, byX});
            return true;
        }
        // Mul(·, Mul(x, 0.5)): the halving node comes first in the order, so it leads the list.
        ir::Node* halfX = onlyReadOnce(other, mRefs) ? producerOf(other, OpKind::kMul) : nullptr;
        if (!halfX || operandBesideScalar(*halfX, 0.5) != m.x) return false;
        m.nodes.insert(m.nodes.begin(), halfX);
        m.nodes.push_back(mul);
        return true;
    }

    std::unordered_set<const ir::Value*> mRefs;
};

}  // namespace

std::unique_ptr<Pass> createGeluFusion() { return std::make_unique<GeluFusion>(); }

}  // namespace kiln::passes
