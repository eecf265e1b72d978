#include "passes/precision_lowering.h"

#include <algorithm>
#include <map>

#include "ir/graph_edit.h"
#include "passes/layer_precision.h"
#include "passes/pass.h"

namespace kiln::passes {
namespace {

using ir::OpKind;

constexpr uint32_t kAll = 0xFFFFFFFFu;

Tensor convertConstant(const Tensor& f32, DataType target) {
    Tensor out(target, f32.shape());
    const float* src = f32.data<float>();
    for (int64_t i = 0; i < f32.numel(); ++i) {
        if (target == DataType::kFloat16) {
            out.data<Half>()[i] = Half(src[i]);
        } else {
            out.data<BFloat16>()[i] = BFloat16(src[i]);
        }
    }
    return out;
}

const char* lowSuffix(DataType t) { return t == DataType::kFloat16 ? "_fp16" : "_bf16"; }

class Lowering {
public:
    explicit Lowering(ir::Graph& graph) : mGraph(graph) {}

    //! The `target` version of float32 value `v`, made available before `reader`.
    Result<ir::Value*> low(ir::Value* v, ir::Node* reader, DataType target) {
        if (auto it = mLow.find({v, target}); it != mLow.end()) return it->second;
        ir::Value* result = nullptr;
        if (v->isConstant()) {
            KILN_ASSIGN_OR_RETURN(
                result, ir::addConstant(mGraph, v->name() + lowSuffix(target), convertConstant(v->constant(), target)));
        } else if (ir::Node* p = v->producer();
                   p && p->op() == OpKind::kCast && p->input(0) && p->input(0)->dtype() == target) {
            result = p->input(0);  // float16 → float32 → float16 is exact: read the float16 value directly
        } else {
            KILN_ASSIGN_OR_RETURN(result,
                                  mGraph.createValue(ir::uniqueValueName(mGraph, v->name() + lowSuffix(target))));
            result->setDtype(target);
            result->setShape(v->shape());
            // Just before the reader: `v` is available there (topological order).
            const int64_t at = mGraph.indexOf(reader);
            ir::Node* cast = mGraph.insertNode(static_cast<size_t>(at), OpKind::kCast,
                                               ir::uniqueValueName(mGraph, v->name() + "_cast_down"), 13);
            cast->attrs().set("to", static_cast<int64_t>(target));
            cast->addInput(v);
            cast->addOutput(result);
        }
        mLow[{v, target}] = result;
        return result;
    }

    //! Makes `node` produce its float32 outputs in `target`, with a Cast back up for float32 readers.
    Status lowerOutputs(ir::Node* node, DataType target) {
        for (size_t o = 0; o < node->outputs().size(); ++o) {
            ir::Value* out = node->output(o);
            if (out == nullptr || out->dtype() != DataType::kFloat32) continue;
            KILN_ASSIGN_OR_RETURN(ir::Value * h,
                                  mGraph.createValue(ir::uniqueValueName(mGraph, out->name() + lowSuffix(target))));
            h->setDtype(target);
            h->setShape(out->shape());
            node->setOutput(o, h);
            ir::Node* up = ir::insertNodeAfter(mGraph, node, OpKind::kCast,
                                               ir::uniqueValueName(mGraph, out->name() + "_cast_up"), 13);
            up->attrs().set("to", static_cast<int64_t>(DataType::kFloat32));
            up->addInput(h);
            up->addOutput(out);
            mLow[{out, target}] = h;
            // Shape and Size read only the shape, which the low-precision value has too.
            const std::vector<ir::Node*> readers = out->consumers();
            for (ir::Node* r : readers) {
                if (r->op() != OpKind::kShape && r->op() != OpKind::kSize) continue;
                for (size_t i = 0; i < r->inputs().size(); ++i) {
                    if (r->input(i) == out) r->setInput(i, h);
                }
            }
        }
        return Status::ok();
    }

private:
    ir::Graph& mGraph;
    std::map<std::pair<const ir::Value*, DataType>, ir::Value*> mLow;
};

//! A node that writes float32 data: one a precision pin means something for (Shape, say, writes int64).
bool writesFloat32(const ir::Node& node) {
    return std::any_of(node.outputs().begin(), node.outputs().end(),
                       [](const ir::Value* v) { return v && v->dtype() == DataType::kFloat32; });
}

//! A node pinned to `pin` that has no kernel in that precision: an error ("obey") or a warning, once ("prefer").
Status unmetPin(ir::Node& node, DataType pin, const LoweringOptions& options) {
    const std::string what = node.describe() + " is pinned to " + precisionName(pin) +
                             " (layer precision override), but Kiln has no " + precisionName(pin) + " kernel for " +
                             std::string(node.opType());
    if (options.obeyPins) {
        return unsupported(what + "; pin it to fp32, or let it stay fp32 with precision constraints 'prefer'");
    }
    node.attrs().set(kPrecisionUnmetAttr, precisionName(pin));
    if (options.warn) options.warn(what + ": it stays fp32 (precision constraints 'prefer')");
    return Status::ok();
}

}  // namespace

uint32_t defaultLowerableInputs(const ir::Node& node) {
    switch (node.op()) {
        // Compute-bound ops: where float16 tensor cores pay.
        case OpKind::kConv:
        case OpKind::kConvTranspose:
        case OpKind::kFusedConv:
        case OpKind::kMatMul:
        case OpKind::kGemm:
        case OpKind::kFusedGemm:
        case OpKind::kFusedMatMul:
        case OpKind::kFusedConvNhwc:
        case OpKind::kConvTransposeNhwc: return kAll;
        // Q, K, V; the additive mask stays float32 (the op reads it so), so -1e9 style masks do not become -inf.
        case OpKind::kAttention: return 7u;
        // Elementwise arithmetic and activations between them (so the low precision flows through).
        case OpKind::kAdd:
        case OpKind::kSub:
        case OpKind::kMul:
        case OpKind::kDiv:
        case OpKind::kRelu:
        case OpKind::kLeakyRelu:
        case OpKind::kSigmoid:
        case OpKind::kTanh:
        case OpKind::kElu:
        case OpKind::kHardSigmoid:
        case OpKind::kHardSwish:
        case OpKind::kErf:
        case OpKind::kNeg:
        case OpKind::kAbs:
        case OpKind::kPRelu:
        case OpKind::kMax:
        case OpKind::kMin:
        case OpKind::kSum:
        case OpKind::kClip:
        // Pooling, normalization and softmax accumulate in float32 inside the kernels.
        case OpKind::kMaxPool:
        case OpKind::kAveragePool:
        case OpKind::kGlobalAveragePool:
        case OpKind::kGlobalMaxPool:
        case OpKind::kMaxPoolNhwc:
        case OpKind::kAveragePoolNhwc:
        case OpKind::kGlobalAveragePoolNhwc:
        case OpKind::kBatchNormalization:
        case OpKind::kInstanceNormalization:
        case OpKind::kLayerNormalization:
        case OpKind::kSoftmax:
        // Data movement: exact in any precision.
        case OpKind::kConcat:
        case OpKind::kTranspose:
        case OpKind::kFlatten:
        case OpKind::kIdentity:
        case OpKind::kDepthToSpace:
        case OpKind::kSpaceToDepth: return kAll;
        case OpKind::kReshape:
        case OpKind::kSqueeze:
        case OpKind::kUnsqueeze:
        case OpKind::kSlice:
        case OpKind::kGather:
        case OpKind::kSplit:
        case OpKind::kExpand:
        case OpKind::kTile:
        case OpKind::kResize:
        case OpKind::kUpsample: return 1u;  // the data; shape, indices, scales stay as they are
        case OpKind::kPad: return 1u | 4u;  // data and constant value
        case OpKind::kWhere: return 2u | 4u;
        default: return 0;
    }
}

Result<int64_t> lowerPrecision(ir::Graph& graph, const LoweringOptions& options) {
    const DataType flagTarget = options.target;
    if (flagTarget != DataType::kFloat32 && flagTarget != DataType::kFloat16 && flagTarget != DataType::kBFloat16) {
        return invalidArgument(std::string("cannot lower precision to ") + dataTypeName(flagTarget));
    }
    Lowering lowering(graph);
    int64_t lowered = 0;
    // Snapshot: the rewrite inserts Casts into the node list.
    std::vector<ir::Node*> nodes;
    for (const auto& n : graph.nodes()) nodes.push_back(n.get());
    for (ir::Node* node : nodes) {
        const std::optional<DataType> pin = pinnedPrecision(*node);
        const DataType target = pin.value_or(flagTarget);
        if (target == DataType::kFloat32 || node->attrs().has(kPrecisionUnmetAttr)) continue;
        const uint32_t mask = ir::hasSubgraphs(*node) ? 0 : options.lowerable(*node);
        if (mask == 0) {
            if (pin && writesFloat32(*node)) KILN_RETURN_IF_ERROR(unmetPin(*node, *pin, options));
            continue;
        }
        bool anyFloat32 = writesFloat32(*node);
        for (size_t i = 0; i < node->inputs().size(); ++i) {
            const ir::Value* in = node->input(i);
            anyFloat32 |= in && i < 32 && (mask >> i & 1u) && in->dtype() == DataType::kFloat32;
        }
        if (!anyFloat32) continue;
        for (size_t i = 0; i < node->inputs().size() && i < 32; ++i) {
            ir::Value* in = node->input(i);
            if (!in || !(mask >> i & 1u) || in->dtype() != DataType::kFloat32) continue;
            KILN_ASSIGN_OR_RETURN(ir::Value * l, lowering.low(in, node, target));
            node->setInput(i, l);
        }
        KILN_RETURN_IF_ERROR(lowering.lowerOutputs(node, target));
        ++lowered;
    }
    return lowered;
}

Result<int64_t> lowerPrecision(ir::Graph& graph, DataType target, const LowerableInputs& lowerable) {
    if (target != DataType::kFloat16 && target != DataType::kBFloat16) {
        return invalidArgument(std::string("cannot lower precision to ") + dataTypeName(target));
    }
    LoweringOptions options;
    options.target = target;
    options.lowerable = lowerable;
    return lowerPrecision(graph, options);
}

Result<int64_t> assignGpuPrecisions(ir::Graph& graph, const PrecisionPolicy& policy, const PassContext& ctx) {
    LoweringOptions options;
    options.target = policy.fp16 ? DataType::kFloat16 : policy.bf16 ? DataType::kBFloat16 : DataType::kFloat32;
    options.obeyPins = !policy.preferPins;
    options.warn = [&ctx](const std::string& line) { ctx.warning(line); };
    return lowerPrecision(graph, options);
}

}  // namespace kiln::passes
