// Small models for the accuracy guard's tests (API and CLI): lowering to FP16/BF16 breaks their tolerance in known
// layers.
#pragma once

#include "unit/model_builder.h"

namespace kiln::testing {

//! y = ((x + 1000) - 1000) * 0.5 + relu(x) * 0.25 over [1, 64]: the round trip through 1000 loses x's low bits in
//! FP16 (ulp 0.5 there), an error of about 0.25 / max|y| ~ 20%; the relu branch is harmless in FP16. A Mul by 7e4
//! and back ("grow", "shrink") overflows FP16 to Inf.
inline onnx::ModelProto cancellingModel(bool overflow) {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    addInput(g, "x", onnx::TensorProto::FLOAT, {1, 64});
    *g.add_initializer() = floatTensor("big", {1}, {1000.0F});
    *g.add_initializer() = floatTensor("half", {1}, {0.5F});
    *g.add_initializer() = floatTensor("quarter", {1}, {0.25F});
    addNode(g, "Add", {"x", "big"}, {"s"}, "shift");
    addNode(g, "Sub", {"s", "big"}, {"d"}, "unshift");
    addNode(g, "Mul", {"d", "half"}, {"h"}, "scale");
    addNode(g, "Relu", {"x"}, {"r"}, "relu");
    addNode(g, "Mul", {"r", "quarter"}, {"q"}, "damp");
    addNode(g, "Add", {"h", "q"}, {overflow ? "a" : "y"}, "mix");
    if (overflow) {
        *g.add_initializer() = floatTensor("huge", {1}, {7e4F});
        *g.add_initializer() = floatTensor("tiny", {1}, {1.0F / 7e4F});
        addNode(g, "Mul", {"a", "huge"}, {"b"}, "grow");
        addNode(g, "Mul", {"b", "tiny"}, {"y"}, "shrink");
    }
    addOutput(g, "y", onnx::TensorProto::FLOAT, {1, 64});
    return m;
}

}  // namespace kiln::testing
