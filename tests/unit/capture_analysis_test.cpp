// The CUDA backend's host-side analysis of an optimized graph (src/backends/cuda/placement.h): which values follow
// from the input shapes alone, and whether an enqueue can be captured into a CUDA graph. Pure host code: runs here.
#if KILN_HAVE_CUDA

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "backends/cuda/placement.h"
#include "capture_test_models.h"
#include "frontend/onnx/importer.h"
#include "model_builder.h"
#include "passes/pass.h"
#include "passes/passes.h"

namespace kiln {
namespace {

using namespace kiln::testing;

//! Marks dims of an input dynamic (dim_param) where `dims` has -1.
void addDynamicInput(onnx::GraphProto& g, const std::string& name, int32_t type, const std::vector<int64_t>& dims) {
    auto& vi = addInput(g, name, type, dims);
    auto* shape = vi.mutable_type()->mutable_tensor_type()->mutable_shape();
    for (size_t i = 0; i < dims.size(); ++i) {
        if (dims[i] < 0) shape->mutable_dim(static_cast<int>(i))->set_dim_param("d" + std::to_string(i));
    }
}

std::unique_ptr<ir::Graph> import(const onnx::ModelProto& m) {
    auto imported = onnx_frontend::importModel(m, ".");
    EXPECT_TRUE(imported.isOk()) << imported.status().message();
    return imported ? std::move(imported->graph) : nullptr;
}

size_t indexOfOp(const ir::Graph& g, ir::OpKind op, size_t nth = 0) {
    for (size_t i = 0; i < g.nodes().size(); ++i) {
        if (g.nodes()[i]->op() == op && nth-- == 0) return i;
    }
    ADD_FAILURE() << "no such node";
    return 0;
}

//! BERT's pattern: Shape → Gather → Unsqueeze → Concat → Reshape, and Range(0, seq) feeding an embedding Gather.
onnx::ModelProto bertLikeChain() {
    onnx::ModelProto m = makeModel(13);
    auto& g = *m.mutable_graph();
    addDynamicInput(g, "x", onnx::TensorProto::FLOAT, {-1, -1, 8});
    addInitializer(g, int64Tensor("i0", {}, {0}));
    addInitializer(g, int64Tensor("i1", {}, {1}));
    addInitializer(g, int64Tensor("axes", {1}, {0}));
    addInitializer(g, int64Tensor("tail", {2}, {2, 4}));
    addInitializer(g, floatTensor("table", {16, 8}, std::vector<float>(128, 0.5f)));
    addNode(g, "Shape", {"x"}, {"s"}, "shape");
    addNode(g, "Gather", {"s", "i0"}, {"b"}, "batch");
    addNode(g, "Gather", {"s", "i1"}, {"l"}, "seq");
    addNode(g, "Unsqueeze", {"b", "axes"}, {"b1"}, "b1");
    addNode(g, "Unsqueeze", {"l", "axes"}, {"l1"}, "l1");
    addIntAttr(addNode(g, "Concat", {"b1", "l1", "tail"}, {"ns"}, "concat"), "axis", 0);
    addNode(g, "Reshape", {"x", "ns"}, {"y"}, "reshape");
    addNode(g, "Range", {"i0", "l", "i1"}, {"pos"}, "range");
    addNode(g, "Gather", {"table", "pos"}, {"e"}, "embed");
    addNode(g, "Shape", {"y"}, {"ys"}, "out_shape");
    addTypedOutput(g, "y", onnx::TensorProto::FLOAT);
    addTypedOutput(g, "e", onnx::TensorProto::FLOAT);
    addTypedOutput(g, "ys", onnx::TensorProto::INT64);
    return m;
}

TEST(CaptureAnalysis, BertLikeShapeChainIsComputedOncePerSignature) {
    auto g = import(bertLikeChain());
    ASSERT_TRUE(g);
    const cuda::NodePlacement p = cuda::placeNodes(*g);
    const cuda::ShapeOnly so = cuda::analyzeShapeOnly(*g, p);
    for (const char* name : {"shape", "batch", "seq", "b1", "l1", "concat", "range", "out_shape"}) {
        bool found = false;
        for (size_t i = 0; i < g->nodes().size(); ++i) {
            if (g->nodes()[i]->name() != name) continue;
            found = true;
            EXPECT_TRUE(so.node[i]) << name << " depends on the input shapes alone";
            EXPECT_NE(p.placement[i], cuda::Placement::kDevice) << name;
        }
        EXPECT_TRUE(found) << name;
    }
    for (ir::OpKind op : {ir::OpKind::kReshape}) EXPECT_FALSE(so.node[indexOfOp(*g, op)]);
    EXPECT_FALSE(so.node[indexOfOp(*g, ir::OpKind::kGather, 2)]) << "the embedding gather reads device data";
    // Kept: what the rest of the run reads (Reshape's shape, the positions, the shape output), not the chain's middle.
    std::vector<std::string> kept;
    for (const ir::Value* v : so.kept) kept.push_back(v->name());
    std::sort(kept.begin(), kept.end());
    EXPECT_EQ(kept, (std::vector<std::string>{"ns", "pos", "ys"}));
    const cuda::CaptureVerdict v = cuda::captureVerdict(*g, p, so);
    EXPECT_TRUE(v.capturable) << v.reason;
    EXPECT_TRUE(v.reason.empty());
    EXPECT_EQ(v.node, -1);
}

TEST(CaptureAnalysis, ShapeReadFromDeviceDataIsNotCapturable) {
    auto graph = import(reshapeByInputModel());
    ASSERT_TRUE(graph);
    const cuda::CaptureVerdict v = cuda::analyzeCapture(*graph);
    EXPECT_FALSE(v.capturable);
    EXPECT_EQ(v.node, static_cast<int64_t>(indexOfOp(*graph, ir::OpKind::kReshape)));
    EXPECT_NE(v.reason.find("Reshape 'reshape'"), std::string::npos) << v.reason;
    EXPECT_NE(v.reason.find("'shp'"), std::string::npos) << v.reason;
    EXPECT_NE(v.reason.find("download"), std::string::npos) << v.reason;
}

TEST(CaptureAnalysis, HostNodeReadingDeviceDataNamesTheFirstOne) {
    onnx::ModelProto m = makeModel(13);
    auto& g = *m.mutable_graph();
    addInput(g, "x", onnx::TensorProto::INT64, {3, 4});
    addNode(g, "Relu", {"x"}, {"r"}, "relu");
    addNode(g, "NonZero", {"r"}, {"nz"}, "nonzero");
    addNode(g, "NonZero", {"x"}, {"nz2"}, "nonzero2");
    addTypedOutput(g, "nz", onnx::TensorProto::INT64);
    addTypedOutput(g, "nz2", onnx::TensorProto::INT64);
    auto graph = import(m);
    ASSERT_TRUE(graph);
    const cuda::NodePlacement p = cuda::placeNodes(*graph);
    const cuda::ShapeOnly so = cuda::analyzeShapeOnly(*graph, p);
    EXPECT_FALSE(so.any()) << "NonZero's output depends on data";
    const cuda::CaptureVerdict v = cuda::captureVerdict(*graph, p, so);
    EXPECT_FALSE(v.capturable);
    EXPECT_EQ(v.node, static_cast<int64_t>(indexOfOp(*graph, ir::OpKind::kNonZero)));
    EXPECT_NE(v.reason.find("(NonZero 'nonzero') runs on the host"), std::string::npos) << v.reason;
    EXPECT_NE(v.reason.find("reads 'r'"), std::string::npos) << v.reason;
}

TEST(CaptureAnalysis, ShapeOfDataDependentValueIsNotCached) {
    // Shape(NonZero(x)) changes with x's values: never a shape-only value, even though Shape reads only a shape.
    onnx::ModelProto m = makeModel(13);
    auto& g = *m.mutable_graph();
    addInput(g, "x", onnx::TensorProto::INT64, {3, 4});
    addNode(g, "NonZero", {"x"}, {"nz"}, "nonzero");
    addNode(g, "Shape", {"nz"}, {"s"}, "shape");
    addTypedOutput(g, "s", onnx::TensorProto::INT64);
    auto graph = import(m);
    ASSERT_TRUE(graph);
    const cuda::NodePlacement p = cuda::placeNodes(*graph);
    const cuda::ShapeOnly so = cuda::analyzeShapeOnly(*graph, p);
    EXPECT_FALSE(so.node[indexOfOp(*graph, ir::OpKind::kShape)]);
    EXPECT_FALSE(cuda::captureVerdict(*graph, p, so).capturable);
}

TEST(CaptureAnalysis, RandomHostOpsAreNeverCached) {
    onnx::ModelProto m = makeModel(13);
    auto& g = *m.mutable_graph();
    addInput(g, "x", onnx::TensorProto::FLOAT, {2, 3});
    addIntsAttr(addNode(g, "RandomUniform", {}, {"r"}, "rand"), "shape", {2, 3});
    addNode(g, "Add", {"x", "r"}, {"y"}, "add");
    addTypedOutput(g, "y", onnx::TensorProto::FLOAT);
    auto graph = import(m);
    ASSERT_TRUE(graph);
    const cuda::NodePlacement p = cuda::placeNodes(*graph);
    const size_t rand = indexOfOp(*graph, ir::OpKind::kRandomUniform);
    const cuda::ShapeOnly so = cuda::analyzeShapeOnly(*graph, p);
    EXPECT_FALSE(so.node[rand]) << "each run must draw anew";
    if (p.placement[rand] != cuda::Placement::kDevice) {
        const cuda::CaptureVerdict v = cuda::captureVerdict(*graph, p, so);
        EXPECT_FALSE(v.capturable);
        EXPECT_NE(v.reason.find("upload"), std::string::npos) << v.reason;
    }
}

//! bert_tiny (dynamic batch and sequence) after the default passes, as a CUDA engine would run it; and the same
//! model with its input shapes fixed (a static profile), where constant folding takes most chains away.
TEST(CaptureAnalysis, BertTinyIsCapturable) {
    const char* env = std::getenv("KILN_MODELS_DIR");
    const std::string path = std::string(env ? env : KILN_MODELS_DIR) + "/bert_tiny/model.onnx";
    if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " absent (tests/models/prepare_models.sh)";
    auto proto = onnx_frontend::loadModelProto(path);
    ASSERT_TRUE(proto.isOk()) << proto.status().message();
    size_t dynamicShapeOnly = 0;
    for (bool fixed : {false, true}) {
        onnx::ModelProto m = *proto;
        if (fixed) {
            auto* dims = m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
            dims->mutable_dim(0)->set_dim_value(1);
            dims->mutable_dim(1)->set_dim_value(16);
        }
        auto g = import(m);
        ASSERT_TRUE(g);
        passes::PassManager pm(passes::defaultPipeline());
        auto report = pm.run(*g);
        ASSERT_TRUE(report.isOk()) << report.status().message();
        const cuda::NodePlacement p = cuda::placeNodes(*g);
        const cuda::ShapeOnly so = cuda::analyzeShapeOnly(*g, p);
        const size_t shapeOnly = static_cast<size_t>(std::count(so.node.begin(), so.node.end(), true));
        const cuda::CaptureVerdict v = cuda::captureVerdict(*g, p, so);
        EXPECT_TRUE(v.capturable) << (fixed ? "static: " : "dynamic: ") << v.reason;
        if (!fixed) {
            EXPECT_GT(shapeOnly, 5u) << "bert_tiny's Shape → Gather → Concat → Reshape chains";
            dynamicShapeOnly = shapeOnly;
        } else {
            EXPECT_LT(shapeOnly, dynamicShapeOnly) << "static shapes fold the chains at build";
        }
        // Every host node of a capturable graph is shape-only: the steady-state enqueue runs none.
        for (size_t i = 0; i < g->nodes().size(); ++i) {
            if (p.placement[i] != cuda::Placement::kDevice) {
                EXPECT_TRUE(so.node[i]) << g->nodes()[i]->describe() << ": " << p.reason[i];
            }
        }
    }
}

}  // namespace
}  // namespace kiln

#endif  // KILN_HAVE_CUDA
