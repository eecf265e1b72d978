// Layer precision overrides (passes/layer_precision.h) and how the precision lowering obeys them: which nodes run
// in which dtype after the pass, where the casts sit, obey vs prefer, and the fusions that pins must not undo.
#include <gtest/gtest.h>

#include "ir/graph_edit.h"
#include "passes/layer_precision.h"
#include "passes/precision_lowering.h"
#include "passes_test_util.h"

namespace kiln::testing {
namespace {

using ir::OpKind;
using passes::LayerPrecision;

const ir::Node* nodeNamed(const ir::Graph& g, const std::string& name) {
    for (const auto& n : g.nodes()) {
        if (n->name() == name) return n.get();
    }
    return nullptr;
}

//! The dtype `name` computes in: its first output's.
DataType computesIn(const ir::Graph& g, const std::string& name) {
    const ir::Node* n = nodeNamed(g, name);
    EXPECT_NE(n, nullptr) << name;
    return n ? n->output(0)->dtype() : DataType::kUndefined;
}

//! Casts left after dead-code elimination, as "from->to" pairs of dtype names.
std::vector<std::string> castsIn(ir::Graph& g) {
    passes::PassManager pm(one(passes::createDeadCodeElimination()));
    EXPECT_TRUE(pm.run(g).isOk());
    std::vector<std::string> casts;
    for (const auto& n : g.nodes()) {
        if (n->op() != OpKind::kCast) continue;
        casts.push_back(std::string(dataTypeName(n->input(0)->dtype())) + "->" + dataTypeName(n->output(0)->dtype()));
    }
    return casts;
}

TEST(LayerPrecision, GlobMatching) {
    EXPECT_TRUE(passes::globMatch("*Softmax*", "p2o.Softmax.0"));
    EXPECT_TRUE(passes::globMatch("*Softmax*", "Softmax"));
    EXPECT_FALSE(passes::globMatch("*Softmax*", "p2o.softmax.0"));  // case matters, as in TensorRT
    EXPECT_TRUE(passes::globMatch("conv?", "conv1"));
    EXPECT_FALSE(passes::globMatch("conv?", "conv12"));
    EXPECT_TRUE(passes::globMatch("a*b*c", "aXXbYYbc"));
    EXPECT_FALSE(passes::globMatch("a*b*c", "aXXbYYbd"));
    EXPECT_TRUE(passes::globMatch("*", ""));
    EXPECT_FALSE(passes::globMatch("", "x"));
    EXPECT_TRUE(passes::globMatch("exact", "exact"));
    EXPECT_FALSE(passes::globMatch("exact", "exactly"));
}

TEST(LayerPrecision, PatternsMatchNamesOpTypesAndUnnamedNodesByOutput) {
    ir::Graph g;
    GraphBuilder b(g);
    convSoftmaxBlock(b);
    ir::Node* unnamed = g.addNode(OpKind::kNeg, "", 17);
    unnamed->addInput(b.value("y"));
    unnamed->addOutput(b.value("neg_out"));
    b.value("neg_out")->setDtype(DataType::kFloat32);
    EXPECT_TRUE(passes::matchesNode("c", *nodeNamed(g, "c")));
    EXPECT_TRUE(passes::matchesNode("op:Conv", *nodeNamed(g, "c")));
    EXPECT_TRUE(passes::matchesNode("op:S*", *nodeNamed(g, "y")));  // Softmax
    EXPECT_FALSE(passes::matchesNode("op:S*", *nodeNamed(g, "c")));
    EXPECT_TRUE(passes::matchesNode("neg_*", *unnamed));
    EXPECT_EQ(passes::parsePrecisionName("bf16"), DataType::kBFloat16);
    EXPECT_EQ(passes::parsePrecisionName("float16"), DataType::kFloat16);
    EXPECT_FALSE(passes::parsePrecisionName("int8"));
}

TEST(LayerPrecision, LaterOverridesWinAndUnmatchedPatternsFail) {
    ir::Graph g;
    GraphBuilder b(g);
    convSoftmaxBlock(b);
    auto pinned = passes::applyLayerPrecisions(
        g, {{"*", DataType::kFloat16}, {"op:Softmax", DataType::kFloat32}, {"r", DataType::kBFloat16}});
    ASSERT_TRUE(pinned.isOk()) << pinned.status().message();
    EXPECT_EQ(*pinned, 6);  // the Shape too (a pin means nothing to it: it writes int64)
    EXPECT_EQ(passes::pinnedPrecision(*nodeNamed(g, "c")), DataType::kFloat16);
    EXPECT_EQ(passes::pinnedPrecision(*nodeNamed(g, "y")), DataType::kFloat32);
    EXPECT_EQ(passes::pinnedPrecision(*nodeNamed(g, "r")), DataType::kBFloat16);

    auto none = passes::applyLayerPrecisions(g, {{"c", DataType::kFloat32}, {"*Softmax*", DataType::kFloat32}});
    ASSERT_FALSE(none.isOk());
    EXPECT_EQ(none.status().code(), ErrorCode::kNotFound);
    EXPECT_NE(none.status().message().find("'*Softmax*' matches no node"), std::string::npos)
        << none.status().message();
    auto int8 = passes::applyLayerPrecisions(g, {{"c", DataType::kInt8}});
    ASSERT_FALSE(int8.isOk());
    EXPECT_NE(int8.status().message().find("int8 is not a layer precision"), std::string::npos);

    std::map<std::string, std::string> options;
    const std::vector<LayerPrecision> pins{{"*Softmax*", DataType::kFloat32}, {"a:b", DataType::kBFloat16}};
    passes::encodeLayerPrecisions(pins, options);
    EXPECT_EQ(options.at("layer_precision.1"), "a:b:bf16");
    const auto back = passes::decodeLayerPrecisions(options);
    ASSERT_EQ(back.size(), 2u);
    EXPECT_EQ(back[1].pattern, "a:b");  // the last ':' separates
    EXPECT_EQ(back[1].dtype, DataType::kBFloat16);
}

TEST(LayerPrecision, Fp32PinKeepsANodeFp32UnderFp16WithCastsAtItsEdges) {
    ir::Graph ref;
    GraphBuilder rb(ref);
    convSoftmaxBlock(rb);
    ir::Graph g;
    GraphBuilder b(g);
    convSoftmaxBlock(b);
    ASSERT_TRUE(passes::applyLayerPrecisions(g, {{"op:Softmax", DataType::kFloat32}}).isOk());
    auto n = passes::lowerPrecision(g, DataType::kFloat16, passes::defaultLowerableInputs);
    ASSERT_TRUE(n.isOk()) << n.status().message();
    EXPECT_EQ(*n, 4);  // Conv, Relu, Sigmoid, Add; not the Softmax
    for (const char* lowered : {"c", "r", "s", "a"}) EXPECT_EQ(computesIn(g, lowered), DataType::kFloat16) << lowered;
    EXPECT_EQ(computesIn(g, "y"), DataType::kFloat32);
    EXPECT_EQ(nodeNamed(g, "y")->input(0)->dtype(), DataType::kFloat32);
    // x down once (read by Conv and Sigmoid), the Add's result up into the Softmax; y needs no cast.
    EXPECT_EQ(castsIn(g), (std::vector<std::string>{"float32->float16", "float16->float32"}));
    EXPECT_LE(maxRelError(runGraph(g, {randomTensor({1, 4, 6, 5}, 33)})[0],
                          runGraph(ref, {randomTensor({1, 4, 6, 5}, 33)})[0]),
              2e-3);
    // Running the pass again changes nothing.
    EXPECT_EQ(*passes::lowerPrecision(g, DataType::kFloat16, passes::defaultLowerableInputs), 0);
}

TEST(LayerPrecision, LowPinsLowerWithoutAFlagAndMixWithTheFlagsTarget) {
    {
        // No flag: only the pinned Relu runs in fp16, between a cast down and a cast up.
        ir::Graph g;
        GraphBuilder b(g);
        convSoftmaxBlock(b);
        ASSERT_TRUE(passes::applyLayerPrecisions(g, {{"r", DataType::kFloat16}}).isOk());
        auto n = passes::lowerPrecision(g, passes::LoweringOptions{});
        ASSERT_TRUE(n.isOk()) << n.status().message();
        EXPECT_EQ(*n, 1);
        EXPECT_EQ(computesIn(g, "r"), DataType::kFloat16);
        for (const char* kept : {"c", "s", "a", "y"}) EXPECT_EQ(computesIn(g, kept), DataType::kFloat32) << kept;
        EXPECT_EQ(castsIn(g), (std::vector<std::string>{"float32->float16", "float16->float32"}));
    }
    {
        // FP16 from the flags, the Add pinned to bf16: its inputs come from fp16 values through float32.
        ir::Graph g;
        GraphBuilder b(g);
        convSoftmaxBlock(b);
        ASSERT_TRUE(passes::applyLayerPrecisions(g, {{"a", DataType::kBFloat16}}).isOk());
        passes::LoweringOptions options;
        options.target = DataType::kFloat16;
        ASSERT_EQ(*passes::lowerPrecision(g, options), 5);
        EXPECT_EQ(computesIn(g, "a"), DataType::kBFloat16);
        EXPECT_EQ(nodeNamed(g, "a")->input(0)->dtype(), DataType::kBFloat16);
        EXPECT_EQ(computesIn(g, "y"), DataType::kFloat16);
        EXPECT_EQ(g.outputs()[0]->dtype(), DataType::kFloat32);
        const auto casts = castsIn(g);
        EXPECT_EQ(std::count(casts.begin(), casts.end(), "float32->bfloat16"), 2);  // r and s, into the Add
        EXPECT_EQ(std::count(casts.begin(), casts.end(), "bfloat16->float32"), 1);  // the Add's result
        EXPECT_EQ(*passes::lowerPrecision(g, options), 0);
    }
}

//! x → ReduceMean → m: an op the lowering has no 16-bit kernel for.
void reduceModel(GraphBuilder& b) {
    b.input("x", DataType::kFloat32, {2, 3});
    b.node(OpKind::kReduceMean, {"x"}, {"m"}, DataType::kFloat32, Shape{1, 1});
    b.output("m");
}

TEST(LayerPrecision, ObeyFailsAndPreferWarnsOnceForAPinWithoutAKernel) {
    ir::Graph g;
    GraphBuilder b(g);
    reduceModel(b);
    ASSERT_TRUE(passes::applyLayerPrecisions(g, {{"op:Reduce*", DataType::kFloat16}}).isOk());
    auto obey = passes::lowerPrecision(g, passes::LoweringOptions{});
    ASSERT_FALSE(obey.isOk());
    EXPECT_EQ(obey.status().code(), ErrorCode::kUnsupported);
    EXPECT_NE(obey.status().message().find("(ReduceMean 'm') is pinned to fp16"), std::string::npos)
        << obey.status().message();
    EXPECT_NE(obey.status().message().find("'prefer'"), std::string::npos) << obey.status().message();

    std::vector<std::string> warnings;
    passes::LoweringOptions prefer;
    prefer.obeyPins = false;
    prefer.warn = [&](const std::string& line) { warnings.push_back(line); };
    EXPECT_EQ(*passes::lowerPrecision(g, prefer), 0);
    EXPECT_EQ(*passes::lowerPrecision(g, prefer), 0);  // the pipeline runs the pass more than once
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find("it stays fp32"), std::string::npos) << warnings[0];
    EXPECT_EQ(computesIn(g, "m"), DataType::kFloat32);
    EXPECT_EQ(nodeNamed(g, "m")->attrs().getString(passes::kPrecisionUnmetAttr), "fp16");
}

//! Runs the default pipeline with the CUDA backend's precision assignment (passes::assignGpuPrecisions).
class GpuPrecisionHooks final : public passes::BackendHooks {
public:
    Result<int64_t> assignPrecisions(ir::Graph& graph, const passes::PrecisionPolicy& policy,
                                     passes::PassContext& ctx) const override {
        return passes::assignGpuPrecisions(graph, policy, ctx);
    }
};

std::vector<std::string> runGpuPipeline(ir::Graph& g, passes::PrecisionPolicy policy) {
    static const GpuPrecisionHooks kHooks;
    std::vector<std::string> warnings;
    passes::PassManager pm(
        passes::defaultPipeline(policy),
        [&](passes::LogLevel level, std::string_view line) {
            if (level == passes::LogLevel::kWarning) warnings.emplace_back(line);
        },
        &kHooks);
    auto r = pm.run(g);
    EXPECT_TRUE(r.isOk()) << r.status().message();
    return warnings;
}

TEST(LayerPrecision, PipelineKeepsAPinnedReluOutOfTheFusedConv) {
    passes::PrecisionPolicy fp16;
    fp16.fp16 = true;
    fp16.bf16 = true;  // both allowed: FP16 wins
    {
        ir::Graph g;
        GraphBuilder b(g);
        convSoftmaxBlock(b);
        ASSERT_TRUE(passes::applyLayerPrecisions(g, {{"r", DataType::kFloat32}}).isOk());
        runGpuPipeline(g, fp16);
        EXPECT_EQ(countOps(g, OpKind::kRelu), 1u);
        EXPECT_EQ(computesIn(g, "c"), DataType::kFloat16);  // the Conv (fused with the bias only)
        EXPECT_EQ(nodeNamed(g, "c")->attrs().getString("activation"), "");
        EXPECT_EQ(computesIn(g, "r"), DataType::kFloat32);
        EXPECT_EQ(nodeNamed(g, "r")->input(0)->producer()->op(), OpKind::kCast);
    }
    {
        // The Conv pinned instead: the unpinned Relu fuses into it and runs in fp32 with it.
        ir::Graph g;
        GraphBuilder b(g);
        convSoftmaxBlock(b);
        ASSERT_TRUE(passes::applyLayerPrecisions(g, {{"op:Conv", DataType::kFloat32}}).isOk());
        runGpuPipeline(g, fp16);
        EXPECT_EQ(countOps(g, OpKind::kRelu), 0u);
        const ir::Node* fused = nodeNamed(g, "c");
        ASSERT_NE(fused, nullptr);
        EXPECT_EQ(fused->op(), OpKind::kFusedConv);
        EXPECT_EQ(fused->attrs().getString("activation"), "Relu");
        EXPECT_EQ(fused->output(0)->dtype(), DataType::kFloat32);
        EXPECT_EQ(passes::pinnedPrecision(*fused), DataType::kFloat32);
        EXPECT_EQ(computesIn(g, "s"), DataType::kFloat16);
    }
}

TEST(LayerPrecision, PipelineWarnsUnderPreferAndKeepsMarkedOutputsFp32) {
    ir::Graph g;
    GraphBuilder b(g);
    convSoftmaxBlock(b);
    b.output("c");  // a marked intermediate tensor (NetworkDefinition::markOutput appends it like this)
    b.node(OpKind::kReduceMean, {"y"}, {"m"}, DataType::kFloat32, Shape{1, 1, 1, 1});
    b.output("m");
    ASSERT_EQ(g.outputs()[2]->name(), "c");
    ASSERT_TRUE(passes::applyLayerPrecisions(g, {{"m", DataType::kBFloat16}}).isOk());
    passes::PrecisionPolicy policy;
    policy.fp16 = true;
    policy.preferPins = true;
    const auto warnings = runGpuPipeline(g, policy);
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find("(ReduceMean 'm') is pinned to bf16"), std::string::npos) << warnings[0];
    for (const char* name : {"y", "c", "m"}) EXPECT_EQ(g.findValue(name)->dtype(), DataType::kFloat32) << name;
    EXPECT_EQ(g.outputs()[2]->producer()->op(), OpKind::kCast);  // the Conv computes fp16, cast up for the output
    EXPECT_EQ(countOps(g, OpKind::kFusedConv) + countOps(g, OpKind::kConv), 1u);
    EXPECT_EQ(countOps(g, OpKind::kRelu), 1u);  // not fused: the Conv's output is a graph output
}

}  // namespace
}  // namespace kiln::testing
