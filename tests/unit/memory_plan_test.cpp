// Memory planning: hand-built chains, diamonds and residual blocks with exact expectations, subgraph captures,
// random DAGs checked for overlaps, and the real models with shapes recorded from a run (ResNet-50 at batch 2).
#include "plan/memory_plan.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>

#include "frontend/onnx/importer.h"
#include "unit/plan_test_util.h"

namespace kiln::plan {
namespace {

namespace fs = std::filesystem;

//! Builds graphs of float tensors [n] with unary/binary ops.
class Builder {
public:
    Builder() : mGraph(std::make_unique<ir::Graph>("g")) {}
    ir::Value* input(const std::string& name, int64_t n) {
        ir::Value* v = make(name, n);
        mGraph->addInput(v);
        return v;
    }
    ir::Value* op(ir::OpKind kind, std::vector<ir::Value*> ins, const std::string& out, int64_t n) {
        ir::Node* node = mGraph->addNode(kind, out + "_node", 17);
        for (ir::Value* v : ins) node->addInput(v);
        ir::Value* v = make(out, n);
        node->addOutput(v);
        return v;
    }
    ir::Value* relu(ir::Value* x, const std::string& out, int64_t n = 1024) {
        return op(ir::OpKind::kRelu, {x}, out, n);
    }
    ir::Value* add(ir::Value* a, ir::Value* b, const std::string& out, int64_t n = 1024) {
        return op(ir::OpKind::kAdd, {a, b}, out, n);
    }
    ir::Graph& graph() { return *mGraph; }

private:
    ir::Value* make(const std::string& name, int64_t n) {
        ir::Value* v = mGraph->createValue(name).value();
        v->setDtype(DataType::kFloat32);
        v->setShape(std::vector<ir::Dim>{ir::Dim::known(n)});
        return v;
    }
    std::unique_ptr<ir::Graph> mGraph;
};

MemoryPlan planOk(const ir::Graph& g, const MemoryPlanOptions& options = {}, const ShapeMap* shapes = nullptr) {
    auto plan = planMemory(g, options, shapes);
    EXPECT_TRUE(plan) << plan.status().message();
    if (!plan) return {};
    Status ok = verifyMemoryPlan(*plan);
    EXPECT_TRUE(ok) << ok.message();
    return std::move(plan).value();
}

constexpr size_t kBuf = 4096;  // float[1024]

TEST(MemoryPlan, ChainReusesEveryOtherBuffer) {
    Builder b;
    ir::Value* x = b.input("x", 1024);
    ir::Value* a = b.relu(x, "a");
    ir::Value* c = b.relu(a, "b");
    ir::Value* d = b.relu(c, "c");
    ir::Value* y = b.relu(d, "y");
    b.graph().addOutput(y);
    MemoryPlan p = planOk(b.graph());
    EXPECT_EQ(p.totalBytes, 4 * kBuf);
    EXPECT_EQ(p.arenaBytes, 3 * kBuf);  // y alone, a and c share, b
    EXPECT_EQ(p.offsetOf(a), p.offsetOf(d));
    EXPECT_NE(p.offsetOf(a), p.offsetOf(c));
    EXPECT_FALSE(p.offsetOf(x));  // graph inputs are not planned
    // Kept alive instead of separate, the output may reuse a's buffer (dead after node 1).
    MemoryPlanOptions keep;
    keep.outputs = OutputPolicy::kKeepAlive;
    EXPECT_EQ(planOk(b.graph(), keep).arenaBytes, 2 * kBuf);
}

TEST(MemoryPlan, DiamondKeepsBranchesApart) {
    Builder b;
    ir::Value* x = b.input("x", 1024);
    ir::Value* a = b.relu(x, "a");
    ir::Value* l = b.relu(a, "left");
    ir::Value* r = b.relu(a, "right");
    ir::Value* j = b.add(l, r, "join");
    ir::Value* y = b.relu(j, "y");
    b.graph().addOutput(y);
    MemoryPlan p = planOk(b.graph());
    // a is read by both branches, so a, left and right are live together at node 2; join reuses a's space.
    EXPECT_EQ(p.arenaBytes, 4 * kBuf);
    EXPECT_EQ(p.totalBytes, 5 * kBuf);
    EXPECT_EQ(p.find(a)->lastUse, 2);
    EXPECT_EQ(p.find(j)->firstUse, 3);
}

TEST(MemoryPlan, ResidualBlocks) {
    Builder b;
    ir::Value* h = b.input("x", 1024);
    for (int i = 0; i < 8; ++i) {
        const std::string s = std::to_string(i);
        ir::Value* t1 = b.relu(h, "c1_" + s);
        ir::Value* t2 = b.relu(t1, "c2_" + s);
        h = b.add(h, t2, "res_" + s);
    }
    b.graph().addOutput(h);
    MemoryPlan p = planOk(b.graph());
    EXPECT_EQ(p.totalBytes, 24 * kBuf);
    // At most the skip, two temporaries in flight and the separate output.
    EXPECT_LE(p.arenaBytes, 4 * kBuf);
    std::printf("  residual x8: arena %zu bytes, sum %zu bytes\n", p.arenaBytes, p.totalBytes);
}

TEST(MemoryPlan, AlignsOddSizesAndMixesSizes) {
    Builder b;
    ir::Value* x = b.input("x", 7);
    ir::Value* a = b.relu(x, "a", 7);     // 28 bytes
    ir::Value* c = b.relu(a, "b", 1000);  // 4000 bytes
    ir::Value* d = b.relu(c, "c", 3);     // 12 bytes
    ir::Value* y = b.relu(d, "y", 129);   // 516 bytes
    b.graph().addOutput(y);
    MemoryPlan p = planOk(b.graph());
    for (const auto& buf : p.buffers) EXPECT_EQ(buf.offset % 256, 0u) << buf.value->name();
    EXPECT_EQ(p.totalBytes, 28u + 4000 + 12 + 516);
    EXPECT_EQ(p.totalAlignedBytes, 256u + 4096 + 256 + 768);
    MemoryPlanOptions o;
    o.alignment = 64;
    MemoryPlan q = planOk(b.graph(), o);
    for (const auto& buf : q.buffers) EXPECT_EQ(buf.offset % 64, 0u) << buf.value->name();
    o.alignment = 100;
    EXPECT_FALSE(planMemory(b.graph(), o));
}

TEST(MemoryPlan, SubgraphCaptureExtendsLifetime) {
    Builder b;
    ir::Value* x = b.input("x", 1024);
    ir::Value* cond = b.input("cond", 1);
    ir::Value* a = b.relu(x, "a");
    ir::Value* c = b.relu(x, "b");
    ir::Value* d = b.relu(c, "c");
    // node 3: If whose then-branch reads `a` from the main graph.
    ir::Graph& g = b.graph();
    ir::Node* iff = g.addNode(ir::OpKind::kIf, "if", 17);
    iff->addInput(cond);
    ir::Value* z = g.createValue("z").value();
    z->setDtype(DataType::kFloat32);
    z->setShape(std::vector<ir::Dim>{ir::Dim::known(1024)});
    iff->addOutput(z);
    auto then = std::make_shared<ir::Graph>("then", &g);
    ir::Value* tOut = then->createValue("t").value();
    ir::Node* id = then->addNode(ir::OpKind::kIdentity, "id", 17);
    id->addInput(a);
    id->addOutput(tOut);
    then->addOutput(tOut);
    iff->attrs().set("then_branch", then);
    iff->attrs().set("else_branch", then);
    g.addOutput(z);
    g.addOutput(d);
    MemoryPlan p = planOk(g);
    EXPECT_EQ(p.find(a)->lastUse, 3);
    EXPECT_NE(p.offsetOf(a), p.offsetOf(c));
    EXPECT_FALSE(p.offsetOf(tOut));
}

TEST(MemoryPlan, SymbolicShapeNeedsResolution) {
    Builder b;
    ir::Value* x = b.input("x", 4);
    ir::Value* a = b.relu(x, "a");
    a->setShape(std::vector<ir::Dim>{ir::Dim::symbolic("batch")});
    b.graph().addOutput(a);
    auto p = planMemory(b.graph());
    ASSERT_FALSE(p);
    EXPECT_NE(p.status().message().find("output 'a' has no static shape (batch)"), std::string::npos)
        << p.status().message();
    ShapeMap shapes{{a, {12}}};
    EXPECT_EQ(planOk(b.graph(), {}, &shapes).totalBytes, 48u);
}

TEST(MemoryPlan, RandomGraphsNeverOverlapLiveBuffers) {
    std::mt19937 rng(7);
    for (int trial = 0; trial < 200; ++trial) {
        Builder b;
        std::vector<ir::Value*> vals{b.input("x", 1 + rng() % 5000)};
        const int n = 2 + static_cast<int>(rng() % 40);
        for (int i = 0; i < n; ++i) {
            const int64_t size = 1 + rng() % 5000;
            ir::Value* p = vals[rng() % vals.size()];
            const std::string name = "v" + std::to_string(i);
            vals.push_back(rng() % 2 ? b.relu(p, name, size) : b.add(p, vals[rng() % vals.size()], name, size));
        }
        b.graph().addOutput(vals.back());
        for (OutputPolicy policy : {OutputPolicy::kSeparate, OutputPolicy::kKeepAlive}) {
            MemoryPlanOptions o;
            o.outputs = policy;
            MemoryPlan p = planOk(b.graph(), o);
            EXPECT_LE(p.arenaBytes, p.totalAlignedBytes);
            // Lower bound: the bytes live at the busiest node.
            size_t peak = 0;
            for (int64_t t = -1; t <= n; ++t) {
                size_t live = 0;
                for (const auto& buf : p.buffers) {
                    if (buf.firstUse <= t && t <= buf.lastUse) live += (buf.bytes + 255) / 256 * 256;
                }
                peak = std::max(peak, live);
            }
            EXPECT_GE(p.arenaBytes, peak);
        }
    }
}

// ---- real models ------------------------------------------------------------------------------------------------

//! `t` repeated `times` along dim 0.
Tensor repeatBatch(const Tensor& t, int64_t times) {
    Shape shape = t.shape();
    shape[0] *= times;
    Tensor out(t.dtype(), shape);
    for (int64_t i = 0; i < times; ++i) {
        std::memcpy(static_cast<char*>(out.raw()) + i * t.byteSize(), t.raw(), t.byteSize());
    }
    return out;
}

struct PlanNumbers {
    size_t arena = 0;
    size_t sum = 0;
};

std::optional<PlanNumbers> planRealModel(const std::string& name, int64_t batch) {
    const fs::path dir = fs::path(KILN_MODELS_DIR) / name;
    auto imported = onnx_frontend::importOnnxFile((dir / "model.onnx").string());
    EXPECT_TRUE(imported) << imported.status().message();
    if (!imported) return std::nullopt;
    auto inputs = kiln::testing::readTestInputs(dir / "test_data_set_0");
    EXPECT_TRUE(inputs) << inputs.status().message();
    if (!inputs) return std::nullopt;
    if (batch != 1) {
        for (Tensor& t : *inputs) t = repeatBatch(t, batch);
    }
    const auto start = std::chrono::steady_clock::now();
    auto shapes = recordShapesByRunning(*imported->graph, *inputs);
    EXPECT_TRUE(shapes) << name << ": " << shapes.status().message();
    if (!shapes) return std::nullopt;
    const double runS = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    MemoryPlan p = planOk(*imported->graph, {}, &*shapes);
    std::printf(
        "  %-12s batch %lld: arena %8.2f MB, sum of activations %8.2f MB, %5.2fx smaller, %zu buffers "
        "(shapes recorded in %.1f s)\n",
        name.c_str(), static_cast<long long>(batch), p.arenaBytes / 1e6, p.totalBytes / 1e6,
        static_cast<double>(p.totalBytes) / static_cast<double>(std::max<size_t>(p.arenaBytes, 1)), p.buffers.size(),
        runS);
    return PlanNumbers{p.arenaBytes, p.totalBytes};
}

TEST(MemoryPlan, ResNet50Batch2IsAtLeastThreeTimesSmaller) {
    if (!fs::exists(fs::path(KILN_MODELS_DIR) / "resnet50" / "model.onnx")) {
        GTEST_SKIP() << "no " << KILN_MODELS_DIR << "/resnet50 (run tests/models/prepare_models.sh)";
    }
    auto n = planRealModel("resnet50", 2);
    ASSERT_TRUE(n);
    EXPECT_GE(n->sum, 3 * n->arena);
}

TEST(MemoryPlan, OtherRealModels) {
    const fs::path root = KILN_MODELS_DIR;
    if (!fs::is_directory(root))
        GTEST_SKIP() << "no real models in " << root << " (run tests/models/prepare_models.sh)";
    // isnet (1024x1024 input) takes minutes on the reference kernels; the smaller models cover the planner.
    for (const char* name : {"bert_tiny", "ppocr_cls", "ppocrv4_det", "ppocrv4_rec", "unet_small"}) {
        if (!fs::exists(root / name / "model.onnx")) continue;
        auto n = planRealModel(name, 1);
        ASSERT_TRUE(n) << name;
        EXPECT_LT(n->arena, n->sum) << name;
    }
}

}  // namespace
}  // namespace kiln::plan
