// Helpers for the pass tests: build small IR graphs, run them on the CPU reference executor, compare results.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/executor.h"
#include "ir/graph.h"
#include "passes/passes.h"

namespace kiln::testing {

//! Builds graphs tersely: values are created on first mention.
class GraphBuilder {
public:
    explicit GraphBuilder(ir::Graph& g) : mGraph(g) { g.setOpset("", 17); }

    ir::Value* input(const std::string& name, DataType t, const Shape& shape) {
        ir::Value* v = value(name);
        v->setDtype(t);
        v->setShape(toDims(shape));
        mGraph.addInput(v);
        return v;
    }
    ir::Value* constant(const std::string& name, Tensor t) {
        ir::Value* v = value(name);
        v->setConstant(std::move(t));
        return v;
    }
    //! Adds a node; each output gets `outType` and `outShape` (empty optional: unknown shape).
    ir::Node* node(ir::OpKind op, const std::vector<std::string>& inputs, const std::vector<std::string>& outputs,
                   DataType outType = DataType::kFloat32, std::optional<Shape> outShape = std::nullopt) {
        ir::Node* n = mGraph.addNode(op, outputs.empty() ? "" : outputs[0], 17);
        for (const auto& in : inputs) n->addInput(in.empty() ? nullptr : value(in));
        for (const auto& out : outputs) {
            ir::Value* v = value(out);
            v->setDtype(outType);
            if (outShape) v->setShape(toDims(*outShape));
            n->addOutput(v);
        }
        return n;
    }
    void output(const std::string& name) { mGraph.addOutput(value(name)); }
    ir::Value* value(const std::string& name) {
        if (ir::Value* v = mGraph.findValue(name)) return v;
        return mGraph.createValue(name).value();
    }

private:
    static ir::SymbolicShape toDims(const Shape& s) {
        std::vector<ir::Dim> dims;
        for (int64_t d : s) dims.push_back(ir::Dim::known(d));
        return dims;
    }
    ir::Graph& mGraph;
};

inline Tensor randomTensor(const Shape& shape, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
    Tensor t(DataType::kFloat32, shape);
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(lo, hi);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
    return t;
}

inline std::vector<Tensor> runGraph(const ir::Graph& g, const std::vector<Tensor>& inputs) {
    auto outs = cpu::Executor().run(g, inputs);
    EXPECT_TRUE(outs.isOk()) << outs.status().message();
    return outs.isOk() ? std::move(outs).value() : std::vector<Tensor>{};
}

//! max|a - b| / max|b| over all elements (0 when both are all zero).
inline double maxRelError(const Tensor& a, const Tensor& b) {
    double diff = 0, ref = 0;
    for (int64_t i = 0; i < b.numel(); ++i) {
        diff = std::max(diff, std::fabs(a.getDouble(i) - b.getDouble(i)));
        ref = std::max(ref, std::fabs(b.getDouble(i)));
    }
    return ref == 0 ? diff : diff / ref;
}

inline void expectSameOutputs(const std::vector<Tensor>& got, const std::vector<Tensor>& want, double maxRel) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].dtype(), want[i].dtype()) << "output " << i;
        ASSERT_EQ(got[i].shape(), want[i].shape()) << "output " << i;
        EXPECT_LE(maxRelError(got[i], want[i]), maxRel) << "output " << i;
    }
}

inline size_t countOps(const ir::Graph& g, ir::OpKind op) {
    return static_cast<size_t>(
        std::count_if(g.nodes().begin(), g.nodes().end(), [&](const auto& n) { return n->op() == op; }));
}

//! The graph's first node of `op` (in node order), or null.
inline const ir::Node* firstOf(const ir::Graph& g, ir::OpKind op) {
    for (const auto& n : g.nodes()) {
        if (n->op() == op) return n.get();
    }
    return nullptr;
}

//! x[1, 4, 6, 5] → Conv → c → Relu → r → Add(r, Sigmoid(x) = s) → a → Softmax → y; plus an integer Shape of `a`
//! ("shape") that precision passes must leave alone. Outputs y and shape; nodes are named after their outputs.
inline void convSoftmaxBlock(GraphBuilder& b) {
    b.input("x", DataType::kFloat32, {1, 4, 6, 5});
    b.constant("W", randomTensor({4, 4, 3, 3}, 31));
    b.constant("bias", randomTensor({4}, 32));
    b.node(ir::OpKind::kConv, {"x", "W", "bias"}, {"c"}, DataType::kFloat32, Shape{1, 4, 6, 5})
        ->attrs()
        .set("pads", std::vector<int64_t>{1, 1, 1, 1});
    b.node(ir::OpKind::kRelu, {"c"}, {"r"}, DataType::kFloat32, Shape{1, 4, 6, 5});
    b.node(ir::OpKind::kSigmoid, {"x"}, {"s"}, DataType::kFloat32, Shape{1, 4, 6, 5});
    b.node(ir::OpKind::kAdd, {"r", "s"}, {"a"}, DataType::kFloat32, Shape{1, 4, 6, 5});
    b.node(ir::OpKind::kSoftmax, {"a"}, {"y"}, DataType::kFloat32, Shape{1, 4, 6, 5});
    b.node(ir::OpKind::kShape, {"a"}, {"shape"}, DataType::kInt64, Shape{4});
    b.output("y");
    b.output("shape");
}

//! Runs a pipeline to a fixed point and returns its report; the kInfo log lines go to `log`.
inline passes::PipelineReport runPasses(ir::Graph& g, std::vector<std::unique_ptr<passes::Pass>> pipeline,
                                        std::vector<std::string>* log = nullptr) {
    passes::PassManager pm(std::move(pipeline), [log](passes::LogLevel level, std::string_view line) {
        if (log && level == passes::LogLevel::kInfo) log->emplace_back(line);
    });
    auto r = pm.run(g);
    EXPECT_TRUE(r.isOk()) << r.status().message();
    EXPECT_TRUE(g.verify().isOk());
    return r.isOk() ? std::move(r).value() : passes::PipelineReport{};
}

inline std::vector<std::unique_ptr<passes::Pass>> one(std::unique_ptr<passes::Pass> p) {
    std::vector<std::unique_ptr<passes::Pass>> v;
    v.push_back(std::move(p));
    return v;
}

//! Builds the same graph twice, optimizes the second with `pipeline`, and checks both give the same outputs.
inline void expectEquivalent(const std::function<void(GraphBuilder&)>& build, const std::vector<Tensor>& inputs,
                             std::vector<std::unique_ptr<passes::Pass>> pipeline, ir::Graph& optimized,
                             double maxRel = 1e-6) {
    ir::Graph reference;
    GraphBuilder rb(reference);
    build(rb);
    GraphBuilder ob(optimized);
    build(ob);
    runPasses(optimized, std::move(pipeline));
    expectSameOutputs(runGraph(optimized, inputs), runGraph(reference, inputs), maxRel);
}

}  // namespace kiln::testing
