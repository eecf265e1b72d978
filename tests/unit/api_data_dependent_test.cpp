// Data-dependent output shapes through the public API: NonZero, NonZero → GatherND and Compress outputs whose
// sizes depend on the input values. The context reports each output's actual shape after enqueue, a buffer too
// small fails naming the output (and getTensorShape then gives the size it needs), and infer() returns them.
#include <gtest/gtest.h>

#include <cstring>

#include "api_test_util.h"
#include "kiln/kiln.h"
#include "model_builder.h"
#include "runtime/activation_arena.h"

namespace kiln::testing {
namespace {

//! From x float32[3, 4]: idx = NonZero(x) int64[2, N]; picked = GatherND(x, Transpose(idx)) float32[N];
//! positive = Compress(flatten(x), flatten(x) > 0) float32[P]; count = Shape(positive) int64[1].
std::string writeModel(const TempDir& dir) {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    addInput(g, "x", onnx::TensorProto::FLOAT, {3, 4});
    addInitializer(g, floatTensor("zero", {}, {0.0f}));
    onnx::TensorProto flat;
    flat.set_name("flat_shape");
    flat.set_data_type(onnx::TensorProto::INT64);
    flat.add_dims(1);
    flat.add_int64_data(-1);
    addInitializer(g, flat);
    addNode(g, "NonZero", {"x"}, {"idx"}, "nonzero");
    addNode(g, "Transpose", {"idx"}, {"idx_t"}, "transpose");
    addNode(g, "GatherND", {"x", "idx_t"}, {"picked"}, "gathernd");
    addNode(g, "Reshape", {"x", "flat_shape"}, {"xf"}, "flatten");
    addNode(g, "Greater", {"xf", "zero"}, {"mask"}, "greater");
    addNode(g, "Compress", {"xf", "mask"}, {"positive"}, "compress");
    addNode(g, "Shape", {"positive"}, {"count"}, "shape");
    addUntypedOutput(g, "idx");
    addUntypedOutput(g, "picked");
    addUntypedOutput(g, "positive");
    addUntypedOutput(g, "count");
    return dir.write("nonzero.onnx", m);
}

struct Expected {
    std::vector<int64_t> idx;  // 2 x N, row-major
    std::vector<float> picked, positive;
};

Expected expectedFor(const std::vector<float>& x) {
    Expected e;
    std::vector<int64_t> rows, cols;
    for (int64_t i = 0; i < 12; ++i) {
        if (x[static_cast<size_t>(i)] != 0.0f) {
            rows.push_back(i / 4);
            cols.push_back(i % 4);
            e.picked.push_back(x[static_cast<size_t>(i)]);
        }
        if (x[static_cast<size_t>(i)] > 0.0f) e.positive.push_back(x[static_cast<size_t>(i)]);
    }
    e.idx = rows;
    e.idx.insert(e.idx.end(), cols.begin(), cols.end());
    return e;
}

class DataDependentShapes : public ::testing::Test {
protected:
    void SetUp() override {
        Builder builder(mLogger);
        auto network = builder.createNetwork();
        OnnxParser parser(*network, mLogger);
        ASSERT_TRUE(parser.parseFromFile(writeModel(mDir)).isOk());
        auto config = builder.createBuilderConfig();
        auto engine = builder.buildEngine(*network, *config);
        ASSERT_TRUE(engine.isOk()) << engine.status().message();
        mEngine = std::move(engine).value();
        auto ctx = mEngine->createExecutionContext();
        ASSERT_TRUE(ctx.isOk());
        mCtx = std::move(ctx).value();
    }

    TempDir mDir;
    CollectingLogger mLogger;
    std::unique_ptr<Engine> mEngine;
    std::unique_ptr<ExecutionContext> mCtx;
};

TEST_F(DataDependentShapes, EnqueueReportsActualShapes) {
    EXPECT_EQ(*mEngine->getTensorShape("idx"), (Shape{2, -1}));
    EXPECT_EQ(*mCtx->getTensorShape("idx"), (Shape{2, -1}));  // not known before a run
    std::vector<int64_t> idx(2 * 12), count(1);
    std::vector<float> picked(12), positive(12);
    ASSERT_TRUE(mCtx->setTensorAddress("idx", idx.data(), idx.size() * sizeof(int64_t)).isOk());
    ASSERT_TRUE(mCtx->setTensorAddress("picked", picked.data(), picked.size() * sizeof(float)).isOk());
    ASSERT_TRUE(mCtx->setTensorAddress("positive", positive.data(), positive.size() * sizeof(float)).isOk());
    ASSERT_TRUE(mCtx->setTensorAddress("count", count.data(), sizeof(int64_t)).isOk());

    // Five inputs with 5, 12, 0, 1 and 5 nonzeros: each enqueue reports its own shapes.
    const std::vector<std::vector<float>> inputs = {
        {0, 1, 0, -2, 3, 0, 0, 0, 0.5f, 0, 0, -7},
        {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
        std::vector<float>(12, 0.0f),
        {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1},
        {0, 1, 0, -2, 3, 0, 0, 0, 0.5f, 0, 0, -7},
    };
    for (const auto& xv : inputs) {
        std::vector<float> x = xv;
        ASSERT_TRUE(mCtx->setTensorAddress("x", x.data()).isOk());
        ASSERT_TRUE(mCtx->enqueue().isOk());
        const Expected e = expectedFor(x);
        const auto n = static_cast<int64_t>(e.picked.size());
        const auto p = static_cast<int64_t>(e.positive.size());
        EXPECT_EQ(*mCtx->getTensorShape("idx"), (Shape{2, n}));
        EXPECT_EQ(*mCtx->getTensorShape("picked"), (Shape{n}));
        EXPECT_EQ(*mCtx->getTensorShape("positive"), (Shape{p}));
        EXPECT_EQ(*mCtx->getTensorShape("count"), (Shape{1}));
        EXPECT_EQ(std::vector<int64_t>(idx.begin(), idx.begin() + 2 * n), e.idx);
        EXPECT_EQ(std::vector<float>(picked.begin(), picked.begin() + n), e.picked);
        EXPECT_EQ(std::vector<float>(positive.begin(), positive.begin() + p), e.positive);
        EXPECT_EQ(count[0], p);
    }
    // The data-dependent activations whose size differs from the first run's stayed off the arena.
    const runtime::ArenaStats s = runtime::arenaStatsOf(*mCtx);
    EXPECT_GT(s.arenaBytes, 0u);
    std::printf("  last run: %zu activations in the arena, %zu copied in, %zu on the heap\n", s.inArena, s.copiedIn,
                s.onHeap);
}

TEST_F(DataDependentShapes, TooSmallBufferFailsNamingTheOutput) {
    std::vector<float> x(12, 1.0f);  // 12 nonzeros
    std::vector<int64_t> idx(2 * 4), count(1);
    std::vector<float> picked(12), positive(12);
    ASSERT_TRUE(mCtx->setTensorAddress("x", x.data()).isOk());
    ASSERT_TRUE(mCtx->setTensorAddress("idx", idx.data(), idx.size() * sizeof(int64_t)).isOk());
    ASSERT_TRUE(mCtx->setTensorAddress("picked", picked.data(), picked.size() * sizeof(float)).isOk());
    ASSERT_TRUE(mCtx->setTensorAddress("positive", positive.data(), positive.size() * sizeof(float)).isOk());
    ASSERT_TRUE(mCtx->setTensorAddress("count", count.data(), sizeof(int64_t)).isOk());
    const Status s = mCtx->enqueue();
    ASSERT_FALSE(s.isOk());
    EXPECT_EQ(s.code(), ErrorCode::kOutOfRange);
    EXPECT_EQ(s.message(), "output 'idx' of shape 2x12 needs 192 bytes, its buffer holds 64");
    // The caller can size the buffer from the shape the output needed and run again.
    const Shape needed = *mCtx->getTensorShape("idx");
    EXPECT_EQ(needed, (Shape{2, 12}));
    idx.resize(static_cast<size_t>(shapeNumel(needed)));
    ASSERT_TRUE(mCtx->setTensorAddress("idx", idx.data(), idx.size() * sizeof(int64_t)).isOk());
    ASSERT_TRUE(mCtx->enqueue().isOk());
    EXPECT_EQ(idx, expectedFor(x).idx);
}

TEST_F(DataDependentShapes, InferReturnsActualShapes) {
    const std::vector<float> xv = {0, 1, 0, -2, 3, 0, 0, 0, 0.5f, 0, 0, -7};
    auto out = mCtx->infer({{"x", Tensor::fromVector<float>(xv, {3, 4})}});
    ASSERT_TRUE(out.isOk()) << out.status().message();
    const Expected e = expectedFor(xv);
    const Tensor& idx = out->at("idx");
    const Tensor& positive = out->at("positive");
    EXPECT_EQ(idx.shape(), (Shape{2, 5}));
    EXPECT_EQ(std::vector<int64_t>(idx.data<int64_t>(), idx.data<int64_t>() + idx.numel()), e.idx);
    EXPECT_EQ(positive.shape(), (Shape{3}));
    EXPECT_EQ(std::vector<float>(positive.data<float>(), positive.data<float>() + 3), e.positive);
    EXPECT_EQ(out->at("count").data<int64_t>()[0], 3);
    EXPECT_EQ(*mCtx->getTensorShape("picked"), (Shape{5}));
}

}  // namespace
}  // namespace kiln::testing
