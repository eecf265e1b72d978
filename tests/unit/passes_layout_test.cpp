// The nhwc-layout pass on small graphs: which nodes go channels-last, which Transposes remain, and that the
// rewritten graph computes what the original does on the CPU reference (FP32, layout pass forced on).
#include <gtest/gtest.h>

#include "builder/builder_internal.h"
#include "kiln/kiln.h"
#include "model_builder.h"
#include "passes_layout_test_util.h"

namespace kiln::testing {
namespace {

using ir::OpKind;
using Ints = std::vector<int64_t>;

constexpr DataType kF32 = DataType::kFloat32;

//! Builds the graph twice, optimizes one copy with the layout pass into `g`, and compares both on `inputs`.
void expectEquivalentNhwc(const std::function<void(GraphBuilder&)>& build, const std::vector<Tensor>& inputs,
                          ir::Graph& g, std::vector<std::string>* log = nullptr) {
    ir::Graph reference;
    GraphBuilder rb(reference);
    build(rb);
    GraphBuilder ob(g);
    build(ob);
    optimizeGraph(g, true, log);
    expectSameOutputs(runGraph(g, inputs), runGraph(reference, inputs), 1e-6);
}

ir::Node* conv(GraphBuilder& b, const std::string& x, const std::string& y, int64_t cin, int64_t cout, Shape out,
               uint32_t seed, int64_t k = 3) {
    b.constant(y + "_W", randomTensor({cout, cin, k, k}, seed));
    b.constant(y + "_B", randomTensor({cout}, seed + 1));
    ir::Node* n = b.node(OpKind::kConv, {x, y + "_W", y + "_B"}, {y}, kF32, std::move(out));
    if (k == 3) n->attrs().set("pads", Ints{1, 1, 1, 1});
    return n;
}

//! Stem conv → MaxPool → conv → Relu → conv + residual → GlobalAveragePool → Flatten → Gemm: a tiny ResNet.
void tinyResNet(GraphBuilder& b) {
    b.input("x", kF32, {2, 3, 16, 16});
    conv(b, "x", "c1", 3, 8, {2, 8, 8, 8}, 10, 3)->attrs().set("strides", Ints{2, 2});
    b.node(OpKind::kRelu, {"c1"}, {"r1"}, kF32, Shape{2, 8, 8, 8});
    ir::Node* pool = b.node(OpKind::kMaxPool, {"r1"}, {"p"}, kF32, Shape{2, 8, 4, 4});
    pool->attrs().set("kernel_shape", Ints{3, 3});
    pool->attrs().set("strides", Ints{2, 2});
    pool->attrs().set("pads", Ints{1, 1, 1, 1});
    conv(b, "p", "c2", 8, 8, {2, 8, 4, 4}, 20);
    b.node(OpKind::kRelu, {"c2"}, {"r2"}, kF32, Shape{2, 8, 4, 4});
    conv(b, "r2", "c3", 8, 8, {2, 8, 4, 4}, 30);
    b.node(OpKind::kAdd, {"c3", "p"}, {"sum"}, kF32, Shape{2, 8, 4, 4});
    b.node(OpKind::kRelu, {"sum"}, {"r3"}, kF32, Shape{2, 8, 4, 4});
    b.node(OpKind::kGlobalAveragePool, {"r3"}, {"gap"}, kF32, Shape{2, 8, 1, 1});
    b.node(OpKind::kFlatten, {"gap"}, {"flat"}, kF32, Shape{2, 8});
    b.constant("fcW", randomTensor({8, 5}, 40));
    b.node(OpKind::kMatMul, {"flat", "fcW"}, {"logits"}, kF32, Shape{2, 5});
    b.output("logits");
}

TEST(PassNhwc, TinyResNetKeepsOneTransposeAtTheInput) {
    ir::Graph g;
    std::vector<std::string> log;
    expectEquivalentNhwc(tinyResNet, {randomTensor({2, 3, 16, 16}, 1)}, g, &log);
    EXPECT_EQ(countOps(g, OpKind::kFusedConvNhwc), 3u);
    EXPECT_EQ(countOps(g, OpKind::kMaxPoolNhwc), 1u);
    EXPECT_EQ(countOps(g, OpKind::kGlobalAveragePoolNhwc), 1u);
    EXPECT_EQ(countOps(g, OpKind::kConv) + countOps(g, OpKind::kFusedConv) + countOps(g, OpKind::kMaxPool), 0u);
    ASSERT_EQ(countOps(g, OpKind::kTranspose), 1u);
    const ir::Node* first = nullptr;
    for (const auto& n : g.nodes()) {
        if (n->op() == OpKind::kTranspose) first = n.get();
    }
    EXPECT_EQ(first->input(0)->name(), "x");
    // The [N, 1, 1, C] pooled result goes back to [N, C, 1, 1] as a view.
    EXPECT_EQ(countOps(g, OpKind::kReshape), 1u);
    // The residual reads the pool's channels-last output directly.
    for (const auto& n : g.nodes()) {
        if (n->op() == OpKind::kFusedConvNhwc && n->input(3) != nullptr) {
            EXPECT_EQ(n->input(3)->producer()->op(), OpKind::kMaxPoolNhwc);
            EXPECT_EQ(n->attrs().getString("activation"), "Relu");
        }
    }
    bool summary = false;
    for (const auto& line : log) summary |= line.find("nhwc-layout: 3 convolutions channels-last") != std::string::npos;
    EXPECT_TRUE(summary);
    // A second run finds nothing to do.
    passes::PassContext ctx;
    auto again = passes::convertToNhwc(g, ctx);
    ASSERT_TRUE(again.isOk()) << again.status().message();
    EXPECT_EQ(*again, 0);
}

// What a CUDA FP16 engine gets: the layout pass, then FP16 lowering, iterated to a fixed point; the casts stay at
// the edges, the one Transpose at the input runs in FP16, and the result is FP16-close to the FP32 original.
TEST(PassNhwc, HalfPrecisionPipelineKeepsOneTransposeAtTheInput) {
    ir::Graph reference, g;
    GraphBuilder rb(reference), gb(g);
    tinyResNet(rb);
    tinyResNet(gb);
    static const HalfNhwcHooks kHooks;
    passes::PassManager pm(passes::defaultPipeline(), {}, &kHooks);
    auto report = pm.run(g);
    ASSERT_TRUE(report.isOk()) << report.status().message();
    EXPECT_LT(report->iterations, 8);  // reached a fixed point
    EXPECT_EQ(countOps(g, OpKind::kFusedConvNhwc), 3u);
    EXPECT_EQ(countOps(g, OpKind::kTranspose), 1u);
    EXPECT_EQ(countOps(g, OpKind::kCast), 2u);  // the input down, the logits up
    for (const auto& n : g.nodes()) {
        const OpKind op = n->op();
        if (op == OpKind::kTranspose || op == OpKind::kFusedConvNhwc || op == OpKind::kMaxPoolNhwc ||
            op == OpKind::kGlobalAveragePoolNhwc) {
            EXPECT_EQ(n->output(0)->dtype(), DataType::kFloat16) << n->describe();
        }
    }
    const std::vector<Tensor> inputs{randomTensor({2, 3, 16, 16}, 9)};
    const auto got = runGraph(g, inputs);
    const auto want = runGraph(reference, inputs);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].dtype(), DataType::kFloat32);
    EXPECT_LE(maxRelError(got[0], want[0]), 1e-2);
}

TEST(PassNhwc, WeightsArePermutedToKrsc) {
    ir::Graph g;
    GraphBuilder b(g);
    b.input("x", kF32, {1, 2, 5, 5});
    const Tensor w = randomTensor({4, 2, 3, 1}, 7);
    b.constant("W", w);
    b.node(OpKind::kConv, {"x", "W"}, {"y"}, kF32, Shape{1, 4, 3, 5});
    b.output("y");
    optimizeGraph(g, true);
    ASSERT_EQ(countOps(g, OpKind::kFusedConvNhwc), 1u);
    for (const auto& n : g.nodes()) {
        if (n->op() != OpKind::kFusedConvNhwc) continue;
        const Tensor& krsc = n->input(1)->constant();
        ASSERT_EQ(krsc.shape(), (Shape{4, 3, 1, 2}));
        for (int64_t m = 0; m < 4; ++m) {
            for (int64_t c = 0; c < 2; ++c) {
                for (int64_t r = 0; r < 3; ++r) {
                    EXPECT_EQ(krsc.data<float>()[(m * 3 + r) * 2 + c], w.data<float>()[(m * 2 + c) * 3 + r]);
                }
            }
        }
        EXPECT_EQ(n->inputs().size(), 2u);  // no bias: no trailing empty inputs
    }
    EXPECT_EQ(countOps(g, OpKind::kTranspose), 2u);  // in and out: the graph I/O keep NCHW
    EXPECT_EQ(g.outputs()[0]->name(), "y");
    EXPECT_EQ(g.outputs()[0]->producer()->op(), OpKind::kTranspose);
}

//! Two branches concatenated on channels, upsampled by a constant-scale Resize, mixed with a broadcast constant and
//! a scalar, then a last conv.
void unetJoin(GraphBuilder& b) {
    b.input("x", kF32, {1, 4, 6, 6});
    conv(b, "x", "a", 4, 3, {1, 3, 6, 6}, 50);
    conv(b, "x", "c", 4, 5, {1, 5, 6, 6}, 60);
    b.node(OpKind::kConcat, {"a", "c"}, {"cat"}, kF32, Shape{1, 8, 6, 6})->attrs().set("axis", int64_t{-3});
    b.constant("roi", Tensor(kF32, {0}));
    b.constant("scales", Tensor::fromVector<float>({1, 1, 2, 2}, {4}));
    ir::Node* up = b.node(OpKind::kResize, {"cat", "roi", "scales"}, {"up"}, kF32, Shape{1, 8, 12, 12});
    up->attrs().set("mode", std::string("linear"));
    b.constant("chan", randomTensor({8, 1, 1}, 70));
    b.node(OpKind::kMul, {"up", "chan"}, {"scaled"}, kF32, Shape{1, 8, 12, 12});
    b.constant("half", Tensor::scalar<float>(0.5f));
    b.node(OpKind::kSub, {"half", "scaled"}, {"shifted"}, kF32, Shape{1, 8, 12, 12});
    b.node(OpKind::kSigmoid, {"shifted"}, {"s"}, kF32, Shape{1, 8, 12, 12});
    conv(b, "s", "y", 8, 2, {1, 2, 12, 12}, 80, 1);
    b.output("y");
}

TEST(PassNhwc, ConcatResizeAndBroadcastConstantsStayChannelsLast) {
    ir::Graph g;
    expectEquivalentNhwc(unetJoin, {randomTensor({1, 4, 6, 6}, 2)}, g);
    EXPECT_EQ(countOps(g, OpKind::kFusedConvNhwc), 3u);
    EXPECT_EQ(countOps(g, OpKind::kTranspose), 2u);  // x in, y out
    for (const auto& n : g.nodes()) {
        if (n->op() == OpKind::kConcat) {
            EXPECT_EQ(n->attrs().getInt("axis", -1), 3);
        }
        if (n->op() == OpKind::kResize) {
            const Tensor& scales = n->input(2)->constant();
            EXPECT_EQ(scales.toInt64Vector(), (Ints{1, 2, 2, 1}));
        }
        if (n->op() == OpKind::kMul) {
            EXPECT_EQ(n->input(1)->constant().shape(), (Shape{1, 1, 1, 8}));
        }
        if (n->op() == OpKind::kSub) {
            EXPECT_EQ(n->input(0)->constant().rank(), 0);  // the scalar is kept
        }
    }
}

// ISNet's upsampling: Resize to sizes computed at run time (Shape → Slice → Concat), after an exporter's Cast.
TEST(PassNhwc, RuntimeResizeSizesAndNarrowingCasts) {
    ir::Graph g;
    auto build = [](GraphBuilder& b) {
        b.input("x", kF32, {1, 3, 5, 5});
        b.input("sizes", DataType::kInt64, {4});
        conv(b, "x", "c", 3, 4, {1, 4, 5, 5}, 160);
        b.node(OpKind::kCast, {"c"}, {"cast"}, kF32, Shape{1, 4, 5, 5})->attrs().set("to", int64_t{1});
        ir::Node* up = b.node(OpKind::kResize, {"cast", "", "", "sizes"}, {"up"}, kF32);
        up->output(0)->setShape(
            std::vector<ir::Dim>{ir::Dim::known(1), ir::Dim::known(4), ir::Dim::symbolic("h"), ir::Dim::symbolic("w")});
        up->attrs().set("mode", std::string("linear"));
        conv(b, "up", "y", 4, 2, {1, 2, 10, 10}, 170, 1)
            ->output(0)
            ->setShape(std::vector<ir::Dim>{ir::Dim::known(1), ir::Dim::known(2), ir::Dim::symbolic("h"),
                                            ir::Dim::symbolic("w")});
        b.node(OpKind::kCast, {"c"}, {"wide"}, DataType::kFloat64, Shape{1, 4, 5, 5})
            ->attrs()
            .set("to", static_cast<int64_t>(DataType::kFloat64));
        b.output("y");
        b.output("wide");
    };
    expectEquivalentNhwc(build, {randomTensor({1, 3, 5, 5}, 10), Tensor::fromVector<int64_t>({1, 4, 10, 10}, {4})}, g);
    EXPECT_EQ(countOps(g, OpKind::kFusedConvNhwc), 2u);
    EXPECT_EQ(countOps(g, OpKind::kGather), 1u);  // the run-time sizes, permuted to (N, H, W, C)
    // x in, y out, and the widening Cast to float64 reads NCHW (a Transpose in 32 bits rather than 64).
    EXPECT_EQ(countOps(g, OpKind::kTranspose), 3u);
    for (const auto& n : g.nodes()) {
        if (n->op() == OpKind::kResize) {
            EXPECT_EQ(n->input(3)->producer()->op(), OpKind::kGather);
            EXPECT_EQ(n->input(0)->producer()->op(), OpKind::kCast);
        }
        if (n->op() == OpKind::kCast && n->output(0)->dtype() == DataType::kFloat64) {
            EXPECT_EQ(n->input(0)->producer()->op(), OpKind::kTranspose);
        }
    }
}

TEST(PassNhwc, NchwReadersAndOutputsKeepTheirLayout) {
    ir::Graph g;
    auto build = [](GraphBuilder& b) {
        b.input("x", kF32, {2, 3, 5, 5});
        b.input("other", kF32, {2, 4, 5, 5});
        conv(b, "x", "c", 3, 4, {2, 4, 5, 5}, 90);
        b.output("c");                                                             // conv output is a graph output
        b.node(OpKind::kAdd, {"c", "other"}, {"mixed"}, kF32, Shape{2, 4, 5, 5});  // NCHW runtime operand
        b.node(OpKind::kSoftmax, {"c"}, {"sm"}, kF32, Shape{2, 4, 5, 5});          // no channels-last form
        b.output("mixed");
        b.output("sm");
    };
    expectEquivalentNhwc(build, {randomTensor({2, 3, 5, 5}, 3), randomTensor({2, 4, 5, 5}, 4)}, g);
    EXPECT_EQ(countOps(g, OpKind::kFusedConvNhwc), 1u);
    // x → NHWC, and one back to NCHW that the output, the Add and the Softmax share: no Transpose on `other`.
    EXPECT_EQ(countOps(g, OpKind::kTranspose), 2u);
    EXPECT_EQ(g.outputs()[0]->name(), "c");
}

TEST(PassNhwc, ExistingTransposePairsCancel) {
    // An NHWC model (as TensorFlow exports them): its own Transposes around the conv cancel against the pass's.
    ir::Graph g;
    auto build = [](GraphBuilder& b) {
        b.input("x", kF32, {1, 7, 7, 3});
        b.node(OpKind::kTranspose, {"x"}, {"xt"}, kF32, Shape{1, 3, 7, 7})->attrs().set("perm", Ints{0, 3, 1, 2});
        conv(b, "xt", "c", 3, 5, {1, 5, 7, 7}, 100);
        b.node(OpKind::kRelu, {"c"}, {"r"}, kF32, Shape{1, 5, 7, 7});
        b.node(OpKind::kTranspose, {"r"}, {"y"}, kF32, Shape{1, 7, 7, 5})->attrs().set("perm", Ints{0, 2, 3, 1});
        b.output("y");
    };
    expectEquivalentNhwc(build, {randomTensor({1, 7, 7, 3}, 5)}, g);
    EXPECT_EQ(countOps(g, OpKind::kTranspose), 0u);
    EXPECT_EQ(g.outputs()[0]->producer()->op(), OpKind::kFusedConvNhwc);
}

TEST(PassNhwc, ConvTransposeAndAveragePool) {
    ir::Graph g;
    auto build = [](GraphBuilder& b) {
        b.input("x", kF32, {1, 4, 6, 6});
        conv(b, "x", "c", 4, 6, {1, 6, 6, 6}, 110);
        ir::Node* avg = b.node(OpKind::kAveragePool, {"c"}, {"p"}, kF32, Shape{1, 6, 3, 3});
        avg->attrs().set("kernel_shape", Ints{2, 2});
        avg->attrs().set("strides", Ints{2, 2});
        b.constant("Wt", randomTensor({6, 2, 2, 2}, 120));
        ir::Node* up = b.node(OpKind::kConvTranspose, {"p", "Wt"}, {"up"}, kF32, Shape{1, 2, 6, 6});
        up->attrs().set("strides", Ints{2, 2});
        b.node(OpKind::kConcat, {"up", "x"}, {"cat"}, kF32, Shape{1, 6, 6, 6})->attrs().set("axis", int64_t{1});
        conv(b, "cat", "y", 6, 3, {1, 3, 6, 6}, 130);
        b.output("y");
    };
    expectEquivalentNhwc(build, {randomTensor({1, 4, 6, 6}, 6)}, g);
    EXPECT_EQ(countOps(g, OpKind::kConvTransposeNhwc), 1u);
    EXPECT_EQ(countOps(g, OpKind::kAveragePoolNhwc), 1u);
    // x goes channels-last once, for the conv and the Concat both.
    EXPECT_EQ(countOps(g, OpKind::kTranspose), 2u);
}

TEST(PassNhwc, LeavesWhatHasNoChannelsLastForm) {
    ir::Graph g;
    GraphBuilder b(g);
    b.input("x1", kF32, {1, 3, 9});  // 1-D conv
    b.constant("W1", randomTensor({4, 3, 3}, 140));
    b.node(OpKind::kConv, {"x1", "W1"}, {"y1"}, kF32, Shape{1, 4, 7});
    b.input("x2", DataType::kFloat64, {1, 2, 4, 4});  // float64: no tensor cores
    b.constant("W2", Tensor(DataType::kFloat64, {2, 2, 1, 1}));
    b.node(OpKind::kConv, {"x2", "W2"}, {"y2"}, DataType::kFloat64, Shape{1, 2, 4, 4});
    for (const char* out : {"y1", "y2"}) b.output(out);
    passes::PassContext ctx;
    auto changes = passes::convertToNhwc(g, ctx);
    ASSERT_TRUE(changes.isOk()) << changes.status().message();
    EXPECT_EQ(*changes, 0);
    EXPECT_EQ(countChannelsLastOps(g), 0u);
    EXPECT_EQ(countOps(g, OpKind::kTranspose), 0u);
}

TEST(PassNhwc, MaxPoolWhoseIndicesAreReadStaysNchw) {
    ir::Graph g;
    auto build = [](GraphBuilder& b) {
        b.input("x", kF32, {1, 2, 4, 4});
        conv(b, "x", "c", 2, 3, {1, 3, 4, 4}, 150);
        ir::Node* mp = b.node(OpKind::kMaxPool, {"c"}, {"p", "i"}, kF32, Shape{1, 3, 2, 2});
        mp->output(1)->setDtype(DataType::kInt64);
        mp->attrs().set("kernel_shape", Ints{2, 2});
        mp->attrs().set("strides", Ints{2, 2});
        b.output("p");
        b.output("i");
    };
    expectEquivalentNhwc(build, {randomTensor({1, 2, 4, 4}, 8)}, g);
    EXPECT_EQ(countOps(g, OpKind::kFusedConvNhwc), 1u);
    EXPECT_EQ(countOps(g, OpKind::kMaxPoolNhwc), 0u);
    EXPECT_EQ(countOps(g, OpKind::kMaxPool), 1u);
}

// The builder runs the layout pass for CUDA engines with FP16/BF16 only; a CPU engine keeps the ONNX layout
// whatever its flags (the CUDA side is tests/cuda/nhwc_engine_test.cpp).
TEST(PassNhwc, CpuEnginesKeepNchw) {
    TempDir dir;
    onnx::ModelProto m = makeModel();
    auto& graph = *m.mutable_graph();
    addInput(graph, "x", onnx::TensorProto::FLOAT, {1, 2, 4, 4});
    addInitializer(graph, floatTensor("W", {3, 2, 1, 1}, {1, 2, 3, 4, 5, 6}));
    addNode(graph, "Conv", {"x", "W"}, {"c"}, "conv");
    addNode(graph, "Relu", {"c"}, {"y"}, "relu");
    addOutput(graph, "y", onnx::TensorProto::FLOAT, {1, 3, 4, 4});
    const std::string path = dir.write("conv.onnx", m);
    class Quiet : public ILogger {
        void log(Severity, const char*) noexcept override {}
    } logger;
    Builder builder(logger);
    auto network = builder.createNetwork();
    OnnxParser parser(*network, logger);
    ASSERT_TRUE(parser.parseFromFile(path).isOk());
    auto config = builder.createBuilderConfig();
    config->setBackend(Backend::kCpu);
    config->setFlag(BuilderFlag::kFP16);
    auto built = builder::buildNetwork(*network, *config, logger);
    ASSERT_TRUE(built.isOk()) << built.status().message();
    EXPECT_EQ(countChannelsLastOps(*built->graph), 0u);
    EXPECT_EQ(countOps(*built->graph, OpKind::kFusedConv), 1u);
}

}  // namespace
}  // namespace kiln::testing
