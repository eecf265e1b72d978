// Folds an inference BatchNormalization into the Conv that feeds it:
//   y = scale * (conv(x, W) + b - mean) / sqrt(var + eps) + B
//     = conv(x, W * s) + (b - mean) * s + B,   s = scale / sqrt(var + eps)   (per output channel)
// Needs constant W (and b), constant BN parameters, the Conv output read by the BN alone (and not a graph output,
// which a marked tensor is too), and no BN pinned to another precision than the Conv. The new weights are
// new constants (W may be shared with another Conv); arithmetic is in double, rounded once to the weights' dtype.
#include <cmath>

#include "common/dispatch.h"
#include "ir/graph_edit.h"
#include "passes/layer_precision.h"
#include "passes/passes.h"

namespace kiln::passes {

namespace {

class ConvBatchNormFold : public RewriteRule {
public:
    std::string_view name() const override { return "conv-bn-fold"; }
    std::string describe(int64_t n) const override {
        return "folded " + std::to_string(n) + " BatchNormalization into Conv";
    }

    bool match(const ir::Node& bn) const override {
        if (bn.op() != ir::OpKind::kBatchNormalization || bn.inputs().size() != 5) return false;
        if (bn.attrs().getInt("training_mode", 0) != 0 || bn.attrs().getInt("spatial", 1) != 1) return false;
        for (size_t i = 1; i < bn.outputs().size(); ++i) {
            if (bn.output(i) && (!bn.output(i)->consumers().empty() || ir::isGraphOutput(bn.output(i)))) return false;
        }
        for (size_t i = 1; i < 5; ++i) {
            if (!bn.input(i) || !bn.input(i)->isConstant()) return false;
        }
        const ir::Value* x = bn.input(0);
        const ir::Node* conv = x ? x->producer() : nullptr;
        if (!conv || conv->op() != ir::OpKind::kConv || x->consumers().size() != 1 || ir::isGraphOutput(x))
            return false;
        if (!pinsAllowMerge(*conv, bn)) return false;  // a BN pinned to another precision stays a layer
        if (!conv->input(1) || !conv->input(1)->isConstant()) return false;
        if (conv->input(2) && !conv->input(2)->isConstant()) return false;
        return isFloatingPoint(conv->input(1)->dtype());
    }

    Result<bool> apply(ir::Graph& graph, ir::Node& bn, PassContext& ctx) override {
        ir::Node* conv = bn.input(0)->producer();
        const Tensor& w = conv->input(1)->constant();
        const int64_t m = w.rank() >= 1 ? w.dim(0) : -1;
        if (m <= 0) return false;
        const Tensor* b = conv->input(2) ? &conv->input(2)->constant() : nullptr;
        const Tensor* params[4];
        for (int i = 0; i < 4; ++i) {
            params[i] = &bn.input(static_cast<size_t>(i) + 1)->constant();
            if (params[i]->numel() != m || !isFloatingPoint(params[i]->dtype())) return false;
        }
        if (b && (b->numel() != m || b->dtype() != w.dtype())) return false;
        const double eps = bn.attrs().getFloat("epsilon", 1e-5f);
        std::vector<double> scale(static_cast<size_t>(m)), shift(static_cast<size_t>(m));
        for (int64_t c = 0; c < m; ++c) {
            const double s = params[0]->getDouble(c) / std::sqrt(params[3]->getDouble(c) + eps);
            scale[c] = s;
            shift[c] = ((b ? b->getDouble(c) : 0.0) - params[2]->getDouble(c)) * s + params[1]->getDouble(c);
        }
        Tensor newW(w.dtype(), w.shape());
        Tensor newB(w.dtype(), {m});
        const int64_t perChannel = w.numel() / m;
        KILN_RETURN_IF_ERROR(dispatchFloat(
            w.dtype(),
            [&]<typename T>() {
                const T* src = w.data<T>();
                T* dst = newW.data<T>();
                for (int64_t c = 0; c < m; ++c) {
                    for (int64_t i = 0; i < perChannel; ++i) {
                        const int64_t k = c * perChannel + i;
                        dst[k] = fromDouble<T>(static_cast<double>(ComputeT<T>(src[k])) * scale[c]);
                    }
                    newB.data<T>()[c] = fromDouble<T>(shift[c]);
                }
                return Status::ok();
            },
            "conv-bn-fold"));
        KILN_ASSIGN_OR_RETURN(ir::Value * wValue,
                              ir::addConstant(graph, conv->input(1)->name() + "_bnfold", std::move(newW)));
        KILN_ASSIGN_OR_RETURN(ir::Value * bValue,
                              ir::addConstant(graph, conv->name() + "_bias_bnfold", std::move(newB)));
        conv->setInput(1, wValue);
        conv->setInput(2, bValue);
        // The Conv now writes the BN's output value directly (its name may be a graph output).
        ir::Value* y = bn.output(0);
        ctx.verbose("conv-bn-fold: folded " + bn.describe() + " into " + conv->describe());
        graph.removeNode(&bn);
        conv->setOutput(0, y);
        return true;
    }
};

}  // namespace

std::unique_ptr<Pass> createConvBatchNormFold() { return std::make_unique<ConvBatchNormFold>(); }

}  // namespace kiln::passes
