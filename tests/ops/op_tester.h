// One-node op tests (ONNX Runtime's OpTester pattern): build a graph with a single node, run it on the CPU
// reference backend, compare outputs.
//
//   auto out = OpTester("Add").input(a).input(b).run();
//   ASSERT_TRUE(out.isOk()) << out.status().message();
//   expectTensorEq((*out)[0], Tensor::fromVector<float>({...}, {2, 3}));
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/executor.h"
#include "ir/graph.h"
#include "kiln/tensor.h"

namespace kiln::testing {

class OpTester {
public:
    explicit OpTester(std::string opType, int64_t opset = 17, std::string domain = "")
        : mOpType(std::move(opType)), mOpset(opset), mDomain(std::move(domain)) {}

    //! Adds a runtime input (a graph input).
    OpTester& input(Tensor t) {
        mInputs.push_back({std::move(t), false, false});
        return *this;
    }
    //! Adds an input that is a constant (initializer) of the graph.
    OpTester& constInput(Tensor t) {
        mInputs.push_back({std::move(t), true, false});
        return *this;
    }
    //! Marks an omitted optional input.
    OpTester& absentInput() {
        mInputs.push_back({Tensor(), false, true});
        return *this;
    }
    OpTester& attr(const std::string& name, ir::AttributeValue value) {
        mAttrs.set(name, std::move(value));
        return *this;
    }
    OpTester& outputs(size_t n) {
        mNumOutputs = n;
        return *this;
    }

    //! The one-node graph and the values of its runtime inputs.
    struct Built {
        std::unique_ptr<ir::Graph> graph;
        std::vector<Tensor> feeds;
    };
    Result<Built> build() const {
        auto kind = ir::findOp(mDomain, mOpType);
        if (!kind) return unsupported("op " + mOpType + " is not in the op table");
        auto owned = std::make_unique<ir::Graph>("test");
        ir::Graph& graph = *owned;
        graph.setOpset(mDomain, mOpset);
        ir::Node* node = graph.addNode(*kind, "n0", mOpset);
        std::vector<Tensor> feeds;
        for (size_t i = 0; i < mInputs.size(); ++i) {
            const auto& in = mInputs[i];
            if (in.absent) {
                node->setInput(i, nullptr);
                continue;
            }
            KILN_ASSIGN_OR_RETURN(ir::Value * v, graph.createValue("in" + std::to_string(i)));
            if (in.constant) {
                v->setConstant(in.tensor);
            } else {
                v->setDtype(in.tensor.dtype());
                graph.addInput(v);
                feeds.push_back(in.tensor);
            }
            node->setInput(i, v);
        }
        for (size_t i = 0; i < mNumOutputs; ++i) {
            KILN_ASSIGN_OR_RETURN(ir::Value * v, graph.createValue("out" + std::to_string(i)));
            node->addOutput(v);
            graph.addOutput(v);
        }
        node->attrs() = mAttrs;
        return Built{std::move(owned), std::move(feeds)};
    }

    //! Runs the node on the CPU reference backend; returns its outputs.
    Result<std::vector<Tensor>> run() const {
        KILN_ASSIGN_OR_RETURN(Built b, build());
        return cpu::Executor().run(*b.graph, b.feeds);
    }

private:
    struct In {
        Tensor tensor;
        bool constant;
        bool absent;
    };
    std::string mOpType;
    int64_t mOpset;
    std::string mDomain;
    std::vector<In> mInputs;
    ir::Attributes mAttrs;
    size_t mNumOutputs = 1;
};

//! Exact comparison (dtype, shape, every element; NaN equals NaN).
inline void expectTensorEq(const Tensor& got, const Tensor& want) {
    ASSERT_EQ(got.dtype(), want.dtype()) << dataTypeName(got.dtype()) << " vs " << dataTypeName(want.dtype());
    ASSERT_EQ(got.shape(), want.shape()) << shapeToString(got.shape()) << " vs " << shapeToString(want.shape());
    for (int64_t i = 0; i < got.numel(); ++i) {
        const double g = got.getDouble(i);
        const double w = want.getDouble(i);
        if (std::isnan(g) && std::isnan(w)) continue;
        ASSERT_EQ(g, w) << "element " << i;
    }
}

//! Byte-for-byte comparison (dtype, shape, every bit: tells -0 from +0 and one NaN payload from another), for results
//! that must be the same computation, not merely equal values.
inline void expectTensorBitsEq(const Tensor& got, const Tensor& want) {
    ASSERT_EQ(got.dtype(), want.dtype()) << dataTypeName(got.dtype()) << " vs " << dataTypeName(want.dtype());
    ASSERT_EQ(got.shape(), want.shape()) << shapeToString(got.shape()) << " vs " << shapeToString(want.shape());
    const auto* g = static_cast<const unsigned char*>(got.raw());
    const auto* w = static_cast<const unsigned char*>(want.raw());
    const size_t elem = dataTypeSize(got.dtype());
    for (size_t i = 0; i < got.byteSize(); ++i) {
        ASSERT_EQ(g[i], w[i]) << "element " << i / elem << ": " << got.getDouble(static_cast<int64_t>(i / elem))
                              << " vs " << want.getDouble(static_cast<int64_t>(i / elem));
    }
}

//! Runs `op`, which must fail with a one-line message that contains `want`.
inline void expectOneLineError(const OpTester& op, const std::string& want) {
    auto r = op.run();
    ASSERT_FALSE(r.isOk()) << "expected an error containing: " << want;
    const std::string& got = r.status().message();
    EXPECT_NE(got.find(want), std::string::npos) << got;
    EXPECT_EQ(got.find('\n'), std::string::npos) << got;
}

//! |got - want| <= atol + rtol * |want| elementwise.
inline void expectTensorNear(const Tensor& got, const Tensor& want, double rtol = 1e-5, double atol = 1e-6) {
    ASSERT_EQ(got.dtype(), want.dtype()) << dataTypeName(got.dtype()) << " vs " << dataTypeName(want.dtype());
    ASSERT_EQ(got.shape(), want.shape()) << shapeToString(got.shape()) << " vs " << shapeToString(want.shape());
    for (int64_t i = 0; i < got.numel(); ++i) {
        const double g = got.getDouble(i);
        const double w = want.getDouble(i);
        if ((std::isnan(g) && std::isnan(w)) || g == w) continue;  // g == w: equal infinities too
        ASSERT_LE(std::fabs(g - w), atol + rtol * std::fabs(w)) << "element " << i << ": " << g << " vs " << w;
    }
}

//! Tensor of `type` and `shape` filled from a uniform distribution (integers: [lo, hi] rounded).
inline Tensor randomTensor(DataType type, Shape shape, uint32_t seed, double lo = -1.0, double hi = 1.0) {
    Tensor t(type, std::move(shape));
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> dist(lo, hi);
    for (int64_t i = 0; i < t.numel(); ++i) {
        const double v = dist(rng);
        switch (type) {
            case DataType::kFloat32: t.data<float>()[i] = static_cast<float>(v); break;
            case DataType::kFloat64: t.data<double>()[i] = v; break;
            case DataType::kFloat16: t.data<Half>()[i] = Half(static_cast<float>(v)); break;
            case DataType::kBFloat16: t.data<BFloat16>()[i] = BFloat16(static_cast<float>(v)); break;
            case DataType::kInt8: t.data<int8_t>()[i] = static_cast<int8_t>(std::lround(v)); break;
            case DataType::kInt16: t.data<int16_t>()[i] = static_cast<int16_t>(std::lround(v)); break;
            case DataType::kInt32: t.data<int32_t>()[i] = static_cast<int32_t>(std::lround(v)); break;
            case DataType::kInt64: t.data<int64_t>()[i] = std::lround(v); break;
            case DataType::kUInt8: t.data<uint8_t>()[i] = static_cast<uint8_t>(std::lround(std::fabs(v))); break;
            case DataType::kUInt16: t.data<uint16_t>()[i] = static_cast<uint16_t>(std::lround(std::fabs(v))); break;
            case DataType::kUInt32: t.data<uint32_t>()[i] = static_cast<uint32_t>(std::lround(std::fabs(v))); break;
            case DataType::kUInt64: t.data<uint64_t>()[i] = static_cast<uint64_t>(std::lround(std::fabs(v))); break;
            case DataType::kBool: t.data<bool>()[i] = v > (lo + hi) / 2; break;
            default: break;
        }
    }
    return t;
}

}  // namespace kiln::testing
