// "nhwc-layout": channels-last convolutions for the CUDA backend's FP16/BF16 engines.
//
// cuDNN's tensor-core convolutions read and write [N, H, W, C]; handed [N, C, H, W] they transpose inside every call.
// This pass makes the network channels-last between its edges, in three steps:
//   1. Every 2-D Conv, FusedConv and ConvTranspose becomes its kiln channels-last form between two Transposes:
//      Transpose(X, to NHWC) → FusedConvNhwc (weights permuted once, here) → Transpose(Y, to NCHW).
//   2. Each to-NCHW Transpose is pushed down through the layout-agnostic nodes that read it, and cancels against a
//      to-NHWC Transpose it meets (in front of the next convolution). Agnostic: elementwise ops (unary, binary,
//      activations, Where; their other operands must be constants, scalars, or already have a channels-last form
//      (a to-NCHW Transpose's input, a to-NHWC Transpose made for a convolution), so a push never adds a Transpose
//      on another operand), Concat (axis rewritten), Resize (constant scales/sizes/
//      roi permuted), and MaxPool / AveragePool / GlobalAveragePool (replaced by their kiln channels-last forms).
//   3. A remaining Transpose that moves only dims of size 1 ([N, 1, 1, C] after a global pool) becomes a Reshape,
//      a view on the GPU.
// Graph inputs and outputs keep their layout and names: Transposes remain where the network enters and leaves, and
// in front of ops with no channels-last form. On ResNet-50 one Transpose remains (at the input).
#include <deque>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "backends/cpu/data_movement.h"
#include "ir/graph_edit.h"
#include "passes/passes.h"

namespace kiln::passes {

namespace {

using ir::OpKind;
using Perm = std::vector<int64_t>;

const Perm kToNhwc{0, 2, 3, 1};  // also [M, C, kH, kW] → [M, kH, kW, C] for weights
const Perm kToNchw{0, 3, 1, 2};
constexpr int64_t kOnnxOpset = 13;  // of the Transpose and Reshape nodes this pass makes

bool isTranspose(const ir::Node* n, const Perm& perm) {
    return n != nullptr && n->op() == OpKind::kTranspose && n->attrs().getInts("perm") == perm;
}

bool rank4(const ir::Value* v) { return v != nullptr && v->shape() && v->shape()->size() == 4; }

ir::SymbolicShape permuteShape(const ir::SymbolicShape& s, const Perm& perm) {
    std::vector<ir::Dim> out;
    for (int64_t p : perm) out.push_back((*s)[static_cast<size_t>(p)]);
    return out;
}

//! The element count when every dim is known, else -1.
int64_t staticNumel(const ir::Value* v) {
    const auto s = v->staticShape();
    return s ? shapeNumel(*s) : -1;
}

//! Where NHWC pays: the tensor-core dtypes (float32 for the tests that force the pass on).
bool layoutDtype(DataType t) { return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16; }

//! The channels-last kiln op of a convolution or pool, or kCount when there is none.
OpKind channelsLastOp(OpKind op) {
    switch (op) {
        case OpKind::kConv:
        case OpKind::kFusedConv: return OpKind::kFusedConvNhwc;
        case OpKind::kConvTranspose: return OpKind::kConvTransposeNhwc;
        case OpKind::kMaxPool: return OpKind::kMaxPoolNhwc;
        case OpKind::kAveragePool: return OpKind::kAveragePoolNhwc;
        case OpKind::kGlobalAveragePool: return OpKind::kGlobalAveragePoolNhwc;
        default: return OpKind::kCount;
    }
}

enum class PushKind { kNone, kElementwise, kConcat, kResize, kPool };

PushKind pushKind(const ir::Node& n) {
    switch (n.op()) {
        case OpKind::kConcat: return PushKind::kConcat;
        case OpKind::kResize: return n.attrs().has("axes") ? PushKind::kNone : PushKind::kResize;
        case OpKind::kMaxPool:
        case OpKind::kAveragePool:
        case OpKind::kGlobalAveragePool: return PushKind::kPool;
        default: break;
    }
    // A Cast that does not widen moves no more bytes after the Transpose than before it. Widening ones stay: the
    // Casts precision lowering puts at the edges of an FP16 region keep their Transposes in 16 bits.
    if (n.op() == OpKind::kCast) {
        const ir::Value* in = n.input(0);
        const ir::Value* out = n.output(0);
        const bool narrowing = in && out && dataTypeSize(out->dtype()) <= dataTypeSize(in->dtype());
        return narrowing ? PushKind::kElementwise : PushKind::kNone;
    }
    // These families hold elementwise ops only.
    const std::string_view family = ir::opInfo(n.op()).family;
    const bool elementwise = family == "ElementwiseUnary" || family == "ElementwiseBinary" || family == "Activation";
    return elementwise ? PushKind::kElementwise : PushKind::kNone;
}

//! How one input of a node reaches its channels-last form.
struct InputPlan {
    enum Kind { kKeep, kUse, kPermuteConstant } kind = kKeep;
    ir::Value* value = nullptr;  //!< kUse: the channels-last value.
};

class NhwcLayout {
public:
    NhwcLayout(ir::Graph& graph, PassContext& ctx) : mGraph(graph), mCtx(ctx) {}

    Result<int64_t> run() {
        mSubgraphRefs = ir::subgraphOutputRefs(mGraph);
        std::vector<ir::Node*> nodes;
        for (const auto& n : mGraph.nodes()) nodes.push_back(n.get());
        int64_t convs = 0;
        for (ir::Node* n : nodes) {
            KILN_ASSIGN_OR_RETURN(bool converted, convertConvolution(n));
            convs += converted ? 1 : 0;
        }
        std::deque<ir::Node*> work;
        for (const auto& n : mGraph.nodes()) {
            if (isTranspose(n.get(), kToNchw) && rank4(n->input(0))) work.push_back(n.get());
        }
        int64_t pushes = 0;
        while (!work.empty()) {
            ir::Node* t = work.front();
            work.pop_front();
            if (t->removed()) continue;
            KILN_ASSIGN_OR_RETURN(int64_t n, sink(t, work));
            pushes += n;
        }
        KILN_RETURN_IF_ERROR(removeDeadTransposes());
        KILN_ASSIGN_OR_RETURN(int64_t reshapes, transposesToReshapes());
        ir::pruneUnusedValues(mGraph);
        const int64_t changes = convs + pushes + reshapes;
        if (changes > 0) {
            int64_t left = 0;
            for (const auto& n : mGraph.nodes()) left += n->op() == OpKind::kTranspose ? 1 : 0;
            mCtx.verbose("nhwc-layout: " + std::to_string(convs) + " convolutions channels-last, " +
                         std::to_string(pushes) + " transposes pushed or cancelled, " + std::to_string(reshapes) +
                         " became reshapes; " + std::to_string(left) + " Transpose nodes in the graph");
        }
        return changes;
    }

private:
    // ---- step 1: convolutions

    Result<bool> convertConvolution(ir::Node* n) {
        const OpKind op = channelsLastOp(n->op());
        if (op != OpKind::kFusedConvNhwc && op != OpKind::kConvTransposeNhwc) return false;
        ir::Value* x = n->input(0);
        ir::Value* w = n->input(1);
        ir::Value* y = n->output(0);
        if (!rank4(x) || !rank4(w) || !rank4(y) || !layoutDtype(x->dtype()) || n->outputs().size() != 1) return false;
        if (op == OpKind::kFusedConvNhwc && n->input(3) != nullptr && !rank4(n->input(3))) return false;
        std::vector<ir::Value*> inputs;
        KILN_ASSIGN_OR_RETURN(ir::Value * xl, channelsLastInput(x, n));
        KILN_ASSIGN_OR_RETURN(ir::Value * wl, channelsLastInput(w, n));
        inputs = {xl, wl, n->input(2), nullptr};
        if (ir::Value* z = n->input(3); z != nullptr) {
            KILN_ASSIGN_OR_RETURN(inputs[3], channelsLastInput(z, n));
        }
        while (inputs.back() == nullptr) inputs.pop_back();  // omitted optional inputs at the end
        KILN_RETURN_IF_ERROR(replaceWithChannelsLast(n, op, inputs).status());
        return true;
    }

    //! `v` in channels-last order for `reader`: a to-NCHW Transpose's input, a permuted constant, or a new
    //! Transpose just before the first reader (shared by later readers).
    Result<ir::Value*> channelsLastInput(ir::Value* v, ir::Node* reader) {
        if (isTranspose(v->producer(), kToNchw)) return v->producer()->input(0);
        if (v->isConstant()) return permutedConstant(v);
        if (auto it = mInserted.find(v); it != mInserted.end()) return it->second;
        const size_t at = static_cast<size_t>(mGraph.indexOf(reader));
        ir::Node* t =
            mGraph.insertNode(at, OpKind::kTranspose, ir::uniqueValueName(mGraph, v->name() + "_nhwc"), kOnnxOpset);
        t->attrs().set("perm", kToNhwc);
        t->addInput(v);
        KILN_ASSIGN_OR_RETURN(ir::Value * out,
                              newValue(v->name() + "_nhwc", v->dtype(), permuteShape(v->shape(), kToNhwc)));
        t->addOutput(out);
        mInserted[v] = out;
        return out;
    }

    //! A constant broadcastable against a 4-D NCHW result, made 4-D (leading 1s) and permuted to NHWC.
    Result<ir::Value*> permutedConstant(ir::Value* v) {
        if (auto it = mPermuted.find(v); it != mPermuted.end()) return it->second;
        Shape four = v->constant().shape();
        four.insert(four.begin(), 4 - four.size(), 1);
        KILN_ASSIGN_OR_RETURN(Tensor aligned, v->constant().reshaped(four));
        KILN_ASSIGN_OR_RETURN(Tensor t, cpu::transposed(aligned, kToNhwc));
        KILN_ASSIGN_OR_RETURN(ir::Value * c, ir::addConstant(mGraph, v->name() + "_nhwc", std::move(t)));
        mPermuted[v] = c;
        return c;
    }

    //! Replaces `n` by the channels-last `op` reading `inputs`, followed by a to-NCHW Transpose that produces n's
    //! output value (readers and names unchanged). Returns that Transpose.
    Result<ir::Node*> replaceWithChannelsLast(ir::Node* n, OpKind op, const std::vector<ir::Value*>& inputs) {
        ir::Node* c = mGraph.insertNode(static_cast<size_t>(mGraph.indexOf(n)), op, n->name(), n->opset());
        c->setSourceIndex(n->sourceIndex());
        c->attrs() = n->attrs();
        for (ir::Value* in : inputs) c->addInput(in);
        ir::Value* y = n->output(0);
        KILN_ASSIGN_OR_RETURN(ir::Value * yl,
                              newValue(y->name() + "_nhwc", y->dtype(), permuteShape(y->shape(), kToNhwc)));
        c->addOutput(yl);
        // A MaxPool's unused Indices output has no place in the channels-last form.
        std::vector<ir::Value*> dropped(n->outputs().begin() + 1, n->outputs().end());
        mGraph.removeNode(n);
        for (ir::Value* d : dropped) {
            if (d != nullptr) KILN_RETURN_IF_ERROR(mGraph.removeValue(d));
        }
        return appendToNchw(c, 0, y);
    }

    //! Makes `node`'s output `slot` (channels-last) feed a new to-NCHW Transpose producing `nchw`.
    Result<ir::Node*> appendToNchw(ir::Node* node, size_t slot, ir::Value* nchw) {
        ir::Node* t = ir::insertNodeAfter(mGraph, node, OpKind::kTranspose,
                                          ir::uniqueValueName(mGraph, nchw->name() + "_nchw"), kOnnxOpset);
        t->attrs().set("perm", kToNchw);
        t->addInput(node->output(slot));
        t->addOutput(nchw);
        return t;
    }

    Result<ir::Value*> newValue(const std::string& base, DataType dtype, ir::SymbolicShape shape) {
        KILN_ASSIGN_OR_RETURN(ir::Value * v, mGraph.createValue(ir::uniqueValueName(mGraph, base)));
        v->setDtype(dtype);
        v->setShape(std::move(shape));
        return v;
    }

    // ---- step 2: pushing to-NCHW Transposes down

    //! Pushes the to-NCHW Transpose `t` into each reader that can take channels-last data; new to-NCHW Transposes
    //! go to `work`. Removes `t` once nothing reads it. Returns the number of rewrites.
    Result<int64_t> sink(ir::Node* t, std::deque<ir::Node*>& work) {
        ir::Value* nhwc = t->input(0);
        ir::Value* nchw = t->output(0);
        int64_t changes = 0;
        std::vector<ir::Node*> readers = nchw->consumers();
        for (ir::Node* r : readers) {
            if (r->removed() || r->outputs().empty() || !r->output(0) || r->output(0)->graph() != &mGraph) continue;
            if (isTranspose(r, kToNhwc)) {
                KILN_ASSIGN_OR_RETURN(bool cancelled, cancel(r, nhwc));
                changes += cancelled ? 1 : 0;
                continue;
            }
            KILN_ASSIGN_OR_RETURN(std::vector<ir::Node*> added, push(r));
            for (ir::Node* a : added) work.push_back(a);
            changes += added.empty() ? 0 : 1;
        }
        if (nchw->consumers().empty() && !ir::isGraphOutput(nchw) && !mSubgraphRefs.count(nchw)) {
            mGraph.removeNode(t);
            KILN_RETURN_IF_ERROR(mGraph.removeValue(nchw));
        }
        return changes;
    }

    //! Removes the to-NHWC Transpose `r` that reads a to-NCHW Transpose of `nhwc`: its readers read `nhwc`. When
    //! r's output is a graph output, `nhwc`'s producer produces it instead (the name is the model's interface).
    Result<bool> cancel(ir::Node* r, ir::Value* nhwc) {
        ir::Value* out = r->output(0);
        if (mSubgraphRefs.count(out) || mSubgraphRefs.count(nhwc)) return false;
        if (!ir::isGraphOutput(out)) {
            ir::replaceAllUsesWith(out, nhwc);
            mGraph.removeNode(r);
            KILN_RETURN_IF_ERROR(mGraph.removeValue(out));
            return true;
        }
        ir::Node* p = nhwc->producer();
        if (p == nullptr || ir::isGraphOutput(nhwc)) return false;  // a graph input, or an output itself
        mGraph.removeNode(r);
        ir::replaceAllUsesWith(nhwc, out);
        for (size_t slot = 0; slot < p->outputs().size(); ++slot) {
            if (p->output(slot) == nhwc) p->setOutput(slot, out);
        }
        KILN_RETURN_IF_ERROR(mGraph.removeValue(nhwc));
        return true;
    }

    //! How input `v` of a node with a 4-D result becomes channels-last without a new Transpose, if it can.
    std::optional<InputPlan> freeInput(ir::Value* v, const ir::Node* reader, bool needRank4) const {
        if (v == nullptr) return InputPlan{};
        if (isTranspose(v->producer(), kToNchw)) return InputPlan{InputPlan::kUse, v->producer()->input(0)};
        // A graph input that a convolution already reads through a Transpose placed before `reader`.
        if (auto it = mInserted.find(v);
            it != mInserted.end() && mGraph.indexOf(it->second->producer()) < mGraph.indexOf(reader)) {
            return InputPlan{InputPlan::kUse, it->second};
        }
        if (!v->shape()) return std::nullopt;
        const size_t rank = v->shape()->size();
        if (needRank4 && rank != 4) return std::nullopt;
        if (staticNumel(v) == 1 && !needRank4) return InputPlan{};  // broadcasts the same way in either layout
        if (v->isConstant() && rank <= 4) return InputPlan{InputPlan::kPermuteConstant, nullptr};
        return std::nullopt;
    }

    //! Rewrites reader `r` to channels-last when every input allows it; returns the to-NCHW Transposes added after
    //! it (none when it declined).
    Result<std::vector<ir::Node*>> push(ir::Node* r) {
        const PushKind kind = pushKind(*r);
        if (kind == PushKind::kNone || ir::hasSubgraphs(*r)) return std::vector<ir::Node*>{};
        for (const ir::Value* out : r->outputs()) {
            if (out != nullptr && !rank4(out)) return std::vector<ir::Node*>{};
        }
        // Which inputs carry data laid out like the result: all for elementwise ops and Concat, X for the rest.
        const size_t dataInputs = kind == PushKind::kElementwise || kind == PushKind::kConcat ? r->inputs().size() : 1;
        std::vector<InputPlan> plans;
        for (size_t i = 0; i < dataInputs; ++i) {
            auto p = freeInput(r->input(i), r, kind != PushKind::kElementwise);
            if (!p) return std::vector<ir::Node*>{};
            plans.push_back(*p);
        }
        if (kind == PushKind::kResize && !resizeVectorsPermutable(*r)) return std::vector<ir::Node*>{};
        if (kind == PushKind::kPool) return pushIntoPool(r, plans[0].value);
        for (size_t i = 0; i < plans.size(); ++i) {
            if (plans[i].kind == InputPlan::kKeep) continue;
            ir::Value* v = plans[i].value;
            if (plans[i].kind == InputPlan::kPermuteConstant) {
                KILN_ASSIGN_OR_RETURN(v, permutedConstant(r->input(i)));
            }
            r->setInput(i, v);
        }
        if (kind == PushKind::kConcat) {
            const int64_t axis = r->attrs().getInt("axis", 0);
            r->attrs().set("axis", channelsLastAxis(axis < 0 ? axis + 4 : axis));
        }
        if (kind == PushKind::kResize) KILN_RETURN_IF_ERROR(permuteResizeVectors(r));
        std::vector<ir::Node*> added;
        for (size_t o = 0; o < r->outputs().size(); ++o) {
            ir::Value* out = r->output(o);
            if (out == nullptr) continue;
            KILN_ASSIGN_OR_RETURN(ir::Value * l,
                                  newValue(out->name() + "_nhwc", out->dtype(), permuteShape(out->shape(), kToNhwc)));
            r->setOutput(o, l);
            KILN_ASSIGN_OR_RETURN(ir::Node * t, appendToNchw(r, o, out));
            added.push_back(t);
        }
        mCtx.verbose("nhwc-layout: " + r->describe() + " runs channels-last");
        return added;
    }

    Result<std::vector<ir::Node*>> pushIntoPool(ir::Node* r, ir::Value* x) {
        if (!layoutDtype(x->dtype())) return std::vector<ir::Node*>{};
        for (size_t o = 1; o < r->outputs().size(); ++o) {
            const ir::Value* extra = r->output(o);
            if (extra != nullptr && (!extra->consumers().empty() || ir::isGraphOutput(extra))) {
                return std::vector<ir::Node*>{};  // MaxPool's Indices are read: they are NCHW offsets
            }
        }
        const std::string what = r->describe();
        KILN_ASSIGN_OR_RETURN(ir::Node * t, replaceWithChannelsLast(r, channelsLastOp(r->op()), {x}));
        mCtx.verbose("nhwc-layout: " + what + " runs channels-last");
        return std::vector<ir::Node*>{t};
    }

    static int64_t channelsLastAxis(int64_t nchwAxis) {
        for (int64_t j = 0; j < 4; ++j) {
            if (kToNhwc[static_cast<size_t>(j)] == nchwAxis) return j;
        }
        return nchwAxis;
    }

    //! Resize's roi (8 values), scales and sizes (4 each) are absent, empty or constant, or (scales, sizes) computed
    //! at run time with 4 values: they can be permuted.
    static bool resizeVectorsPermutable(const ir::Node& r) {
        for (size_t i = 1; i < 4 && i < r.inputs().size(); ++i) {
            const ir::Value* v = r.input(i);
            if (v == nullptr || (v->isConstant() && v->constant().numel() == 0)) continue;
            const int64_t count = i == 1 ? 8 : 4;
            if (!v->isConstant()) {
                const auto shape = v->staticShape();
                if (i == 1 || !shape || *shape != Shape{count}) return false;
                continue;
            }
            if (v->constant().rank() != 1 || v->constant().numel() != count) return false;
        }
        return true;
    }

    Status permuteResizeVectors(ir::Node* r) {
        for (size_t i = 1; i < 4 && i < r->inputs().size(); ++i) {
            ir::Value* v = r->input(i);
            if (v == nullptr || (v->isConstant() && v->constant().numel() == 0)) continue;
            if (!v->isConstant()) {
                // Shape arithmetic (sizes from Shape → Slice → Concat): a Gather of 4 values, on the host.
                KILN_ASSIGN_OR_RETURN(ir::Value * idx, ir::addConstant(mGraph, v->name() + "_perm",
                                                                       Tensor::fromVector<int64_t>(kToNhwc, {4})));
                ir::Node* g = mGraph.insertNode(static_cast<size_t>(mGraph.indexOf(r)), OpKind::kGather,
                                                ir::uniqueValueName(mGraph, v->name() + "_nhwc"), kOnnxOpset);
                g->attrs().set("axis", int64_t{0});
                g->addInput(v);
                g->addInput(idx);
                KILN_ASSIGN_OR_RETURN(ir::Value * out, newValue(v->name() + "_nhwc", v->dtype(), v->shape()));
                g->addOutput(out);
                r->setInput(i, out);
                continue;
            }
            const Tensor& src = v->constant();
            Tensor dst(src.dtype(), src.shape());
            // roi is [starts..., ends...]: each half is permuted like the dims.
            for (int64_t half = 0; half < src.numel() / 4; ++half) {
                for (size_t j = 0; j < 4; ++j) {
                    cpu::copyElements(src, half * 4 + kToNhwc[j], dst, half * 4 + static_cast<int64_t>(j), 1);
                }
            }
            KILN_ASSIGN_OR_RETURN(ir::Value * c, ir::addConstant(mGraph, v->name() + "_nhwc", std::move(dst)));
            r->setInput(i, c);
        }
        return Status::ok();
    }

    //! Transposes this pass left without readers (their readers were pushed into from another operand).
    Status removeDeadTransposes() {
        std::vector<ir::Node*> dead;
        for (const auto& n : mGraph.nodes()) {
            if (!isTranspose(n.get(), kToNchw) && !isTranspose(n.get(), kToNhwc)) continue;
            const ir::Value* out = n->output(0);
            if (out->consumers().empty() && !ir::isGraphOutput(out) && !mSubgraphRefs.count(out)) {
                dead.push_back(n.get());
            }
        }
        for (ir::Node* n : dead) {
            ir::Value* out = n->output(0);
            mGraph.removeNode(n);
            KILN_RETURN_IF_ERROR(mGraph.removeValue(out));
        }
        return Status::ok();
    }

    // ---- step 3: Transposes that only move dims of size 1

    Result<int64_t> transposesToReshapes() {
        std::vector<ir::Node*> nodes;
        for (const auto& n : mGraph.nodes()) {
            if (isTranspose(n.get(), kToNchw) || isTranspose(n.get(), kToNhwc)) nodes.push_back(n.get());
        }
        int64_t changes = 0;
        for (ir::Node* t : nodes) {
            const auto perm = *t->attrs().getInts("perm");
            const ir::Value* in = t->input(0);
            if (!rank4(in)) continue;
            auto shape = reshapeTarget(*in->shape(), perm);
            if (!shape) continue;
            KILN_ASSIGN_OR_RETURN(ir::Value * s, ir::addConstant(mGraph, t->output(0)->name() + "_shape",
                                                                 Tensor::fromVector<int64_t>(*shape, {4})));
            ir::Node* r =
                mGraph.insertNode(static_cast<size_t>(mGraph.indexOf(t)), OpKind::kReshape, t->name(), kOnnxOpset);
            r->addInput(t->input(0));
            r->addInput(s);
            ir::Value* out = t->output(0);
            mGraph.removeNode(t);
            r->addOutput(out);
            ++changes;
        }
        return changes;
    }

    //! Reshape's shape input equivalent to permuting `in` by `perm`, when the permutation keeps the order of every
    //! dim that is not statically 1 (0 copies a dim in place, -1 infers at most one).
    static std::optional<std::vector<int64_t>> reshapeTarget(const std::vector<ir::Dim>& in, const Perm& perm) {
        int64_t last = -1;
        for (int64_t p : perm) {
            const ir::Dim& d = in[static_cast<size_t>(p)];
            if (d.isStatic() && d.size == 1) continue;
            if (p < last) return std::nullopt;
            last = p;
        }
        std::vector<int64_t> shape;
        bool inferred = false;
        for (size_t i = 0; i < perm.size(); ++i) {
            const ir::Dim& d = in[static_cast<size_t>(perm[i])];
            if (d.isStatic()) {
                shape.push_back(d.size);
            } else if (perm[i] == static_cast<int64_t>(i)) {
                shape.push_back(0);
            } else if (!inferred) {
                shape.push_back(-1);
                inferred = true;
            } else {
                return std::nullopt;
            }
        }
        return shape;
    }

    ir::Graph& mGraph;
    PassContext& mCtx;
    std::unordered_set<const ir::Value*> mSubgraphRefs;
    std::unordered_map<const ir::Value*, ir::Value*> mInserted;  //!< Runtime value → its to-NHWC Transpose's output.
    std::unordered_map<const ir::Value*, ir::Value*> mPermuted;  //!< Constant → its channels-last copy.
};

}  // namespace

Result<int64_t> convertToNhwc(ir::Graph& graph, PassContext& ctx) { return NhwcLayout(graph, ctx).run(); }

}  // namespace kiln::passes
