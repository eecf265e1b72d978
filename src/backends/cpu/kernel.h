// The CPU reference backend's kernel interface.
//
// A kernel is `Status kernel<Op>(KernelContext&)`, declared here for every row of ir/ops.def and defined in
// kernels/<family>.cpp. It reads inputs and attributes, validates them (returning kInvalidArgument or
// kUnsupported with a message that names the input/attribute), computes output shapes and fills `outputs`.
// The executor prefixes errors with the node ("node 12 (Conv 'conv1'): ...").
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "backends/cpu/activation_allocator.h"
#include "ir/graph.h"
#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::cpu {

struct KernelContext {
    const ir::Node& node;
    std::vector<const Tensor*> inputs;  //!< nullptr for omitted optional inputs.
    std::vector<Tensor> outputs;        //!< One per node output; kernels fill the ones `wantsOutput`.
    //! Runs a subgraph (If/Loop/Scan bodies) with this node's scope as the outer scope.
    std::function<Result<std::vector<Tensor>>(const ir::Graph&, const std::vector<Tensor>&)> runSubgraph;
    //! Where allocateOutput places outputs (the run's arena); null: the heap.
    ActivationAllocator* allocator = nullptr;

    size_t numInputs() const { return inputs.size(); }
    bool hasInput(size_t i) const { return i < inputs.size() && inputs[i] != nullptr; }
    const Tensor& input(size_t i) const { return *inputs[i]; }
    size_t numOutputs() const { return outputs.size(); }
    bool wantsOutput(size_t i) const { return i < outputs.size() && node.output(i) != nullptr; }
    const ir::Attributes& attrs() const { return node.attrs(); }
    int64_t opset() const { return node.opset(); }

    //! Allocates output i (zero-filled: kernels may rely on it) and returns it: in the run's arena when it has a
    //! place for it, else on the heap.
    Result<Tensor*> allocateOutput(size_t i, DataType type, Shape shape) {
        if (allocator != nullptr && node.output(i) != nullptr) {
            Tensor t = allocator->allocate(*node.output(i), type, shape);
            if (t.defined()) {
                outputs[i] = std::move(t);
                return &outputs[i];
            }
        }
        KILN_ASSIGN_OR_RETURN(outputs[i], Tensor::allocate(type, std::move(shape)));
        return &outputs[i];
    }
    //! Checks the input count is in [minCount, maxCount] and the first `minCount` are present.
    Status requireInputs(size_t minCount, size_t maxCount = SIZE_MAX) const;
};

using KernelFn = Status (*)(KernelContext&);

#define KILN_OP(name, domain, family) Status kernel##name(KernelContext& ctx);
#include "ir/ops.def"
#undef KILN_OP

//! The reference kernel of an op.
KernelFn cpuKernel(ir::OpKind op) noexcept;

//! The numeric (or, with allowBool, bool) DataType named by an integer attribute such as `dtype`; `fallback` when
//! the attribute is absent; kInvalidArgument naming the attribute for any other code.
Result<DataType> dataTypeAttribute(const KernelContext& ctx, const char* name, DataType fallback, bool allowBool);

//! Normalizes a possibly negative axis into [0, rank); fails naming the attribute/input.
Result<int64_t> normalizeAxis(int64_t axis, int64_t rank, const char* what = "axis");

}  // namespace kiln::cpu
