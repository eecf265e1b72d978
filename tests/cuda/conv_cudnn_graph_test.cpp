// cuDNN graph (backend API) engine configs for the channels-last fused convolution (conv_cudnn_graph.h): the tactic
// text round-trips and rejects garbage (host only); every config the heuristics return (up to 6 per problem) for
// ResNet-like problems (1x1 and 3x3, stride 1 and 2, 64/256 channels, batch 1 and 8, with and without residual and
// ReLU, FP16 and BF16) matches the CPU reference when recorded as the node's tactic; a refused or garbage graph
// tactic falls back to the legacy cuDNN call with the right result.
#include <gtest/gtest.h>

#include "backends/cuda/kernels/conv_cudnn.h"
#include "backends/cuda/kernels/conv_cudnn_graph.h"
#include "backends/cuda/kernels/conv_cudnn_graph_build.h"
#include "cuda/cuda_op_tester.h"

namespace kiln::testing {
namespace {

using Ints = std::vector<int64_t>;

TEST(CudaConvGraphHost, TacticTextRoundTrips) {
    const cuda::GraphTactic t{cuda::GraphConfig{12, {{1, 4}, {3, 0}, {17, -1}}}, 1048576};
    const std::string text = cuda::encodeGraphTactic(t);
    EXPECT_EQ(text, "graph engine=12 knobs=1:4,3:0,17:-1 workspace=1048576");
    EXPECT_TRUE(cuda::isGraphTactic(text));
    const std::optional<cuda::GraphTactic> back = cuda::decodeGraphTactic(text);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->config, t.config);
    EXPECT_EQ(back->workspace, t.workspace);
    const cuda::GraphTactic noKnobs{cuda::GraphConfig{0, {}}, 0};
    const std::optional<cuda::GraphTactic> plain = cuda::decodeGraphTactic(cuda::encodeGraphTactic(noKnobs));
    ASSERT_TRUE(plain.has_value()) << cuda::encodeGraphTactic(noKnobs);
    EXPECT_EQ(plain->config, noKnobs.config);
    EXPECT_FALSE(cuda::isGraphTactic("algo=1 math=1 workspace=0")) << "a legacy tactic";
    for (const char* bad :
         {"", "graph", "graph engine=", "graph engine=x knobs= workspace=0", "graph engine=-1 knobs= workspace=0",
          "graph engine=1 knobs=1:2 workspace=", "graph engine=1 knobs=1:2, workspace=0",
          "graph engine=1 knobs=1 workspace=0", "graph engine=1 knobs=999:1 workspace=0",
          "graph engine=1 knobs= workspace=0 ", "graph engine=1 knobs= workspace=-5",
          "graph engine=99999999999999999999 knobs= workspace=0", "graph engine=1 knobs=1:2,,3:4 workspace=0",
          "graph engine=1  knobs= workspace=0"}) {
        EXPECT_FALSE(cuda::decodeGraphTactic(bad).has_value()) << "'" << bad << "'";
    }
}

TEST(CudaConvGraphHost, ServesOnlyTwoDimensionalUngroupedHalfChannelsLast) {
    cuda::CudnnConvProblem p;
    p.dtype = DataType::kFloat16;
    p.channelsLast = true;
    EXPECT_TRUE(cuda::graphConvServes(p));
    p.dtype = DataType::kBFloat16;
    EXPECT_TRUE(cuda::graphConvServes(p));
    p.dtype = DataType::kFloat32;
    EXPECT_FALSE(cuda::graphConvServes(p));
    p.dtype = DataType::kFloat16;
    p.group = 2;
    EXPECT_FALSE(cuda::graphConvServes(p));
    p.group = 1;
    p.channelsLast = false;
    EXPECT_FALSE(cuda::graphConvServes(p));
}

//! A FusedConvNhwc problem: x [n, h, w, c], w [k, r, r, c], symmetric pad r / 2.
struct Problem {
    int64_t n, h, c, k, r, stride;
    bool z, relu;
    std::string name() const {
        return std::to_string(r) + "x" + std::to_string(r) + "/" + std::to_string(stride) + " " + std::to_string(c) +
               "->" + std::to_string(k) + " batch " + std::to_string(n) + (z ? " +z" : "") + (relu ? " relu" : "");
    }
    int64_t out() const { return (h + 2 * (r / 2) - r) / stride + 1; }
    //! As conv_nhwc.cpp describes it to cuDNN.
    cuda::CudnnConvProblem cudnn(DataType t) const {
        cuda::CudnnConvProblem p;
        p.dtype = t;
        p.channelsLast = true;
        p.in = {int(n), int(c), int(h), int(h), 0};
        p.filter = {int(k), int(c), int(r), int(r), 0};
        p.out = {int(n), int(k), int(out()), int(out()), 0};
        p.pad = {int(r / 2), int(r / 2), 0};
        p.stride = {int(stride), int(stride), 1};
        return p;
    }
    OpTester op(DataType t) const {
        OpTester o("FusedConvNhwc", 1, "kiln");
        o.input(randomTensor(t, {n, h, h, c}, seed()))
            .constInput(randomTensor(t, {k, r, r, c}, seed()))
            .constInput(randomTensor(t, {k}, seed()));
        if (z) o.input(randomTensor(t, {n, out(), out(), k}, seed()));
        const int64_t pad = r / 2;
        o.attr("pads", Ints{pad, pad, pad, pad}).attr("strides", Ints{stride, stride});
        if (relu) o.attr("activation", std::string("Relu"));
        return o;
    }
};

const Problem kProblems[] = {
    {8, 8, 64, 64, 1, 1, false, true},    {1, 8, 64, 64, 3, 1, false, true},   {8, 8, 64, 256, 1, 1, true, true},
    {1, 10, 64, 256, 1, 2, false, false}, {8, 10, 64, 64, 3, 2, false, true},  {1, 8, 256, 64, 1, 1, false, true},
    {1, 8, 256, 256, 3, 1, true, true},   {8, 10, 256, 64, 1, 2, true, false}, {1, 10, 64, 256, 3, 2, false, false},
    {8, 8, 64, 64, 3, 1, true, false},
};

constexpr DataType kHalfTypes[] = {DataType::kFloat16, DataType::kBFloat16};

//! The op with `tactic` recorded on its node for the problem's fused signature.
OpTester withTactic(const Problem& pr, DataType t, const std::string& tactic) {
    OpTester o = pr.op(t);
    const std::string sig = cuda::cudnnFusedConvSignature(pr.cudnn(t), pr.relu, SIZE_MAX);
    return o.attr(cuda::kTacticAttribute, std::vector<std::string>{sig, tactic});
}

TEST(CudaConvGraph, EveryConfigMatchesTheReference) {
    KILN_REQUIRE_GPU();
    for (DataType t : kHalfTypes) {
        for (const Problem& pr : kProblems) {
            SCOPED_TRACE(std::string(dataTypeName(t)) + " " + pr.name());
            auto tactics = cuda::graphConvTactics(pr.cudnn(t), pr.z, pr.relu, SIZE_MAX, 6);
            ASSERT_TRUE(tactics.isOk()) << tactics.status().message();
            if (t == DataType::kFloat16) {
                EXPECT_FALSE(tactics->empty()) << "no graph config for an FP16 problem";
            }
            for (const std::string& tactic : *tactics) {
                SCOPED_TRACE(tactic);
                const uint64_t runs = cuda::cudnnGraphConvRuns();
                expectCudaMatchesCpuScaled(withTactic(pr, t, tactic), scaledTolerance(t));
                EXPECT_GT(cuda::cudnnGraphConvRuns(), runs) << "the recorded graph tactic did not run";
            }
        }
    }
}

TEST(CudaConvGraph, RefusedOrGarbageTacticsRunTheLegacyCall) {
    KILN_REQUIRE_GPU();
    const Problem pr{2, 8, 64, 64, 3, 1, true, true};
    for (DataType t : kHalfTypes) {
        for (const char* tactic : {"graph engine=999999 knobs= workspace=0",  // no such engine: refused
                                   "graph engine=zz knobs= workspace=0", "graph nonsense"}) {
            SCOPED_TRACE(std::string(dataTypeName(t)) + " " + tactic);
            const uint64_t runs = cuda::cudnnGraphConvRuns();
            const uint64_t fusedRefusals = cuda::cudnnFusedConvRefusals();
            expectCudaMatchesCpuScaled(withTactic(pr, t, tactic), scaledTolerance(t));
            EXPECT_EQ(cuda::cudnnGraphConvRuns(), runs) << "a refused tactic ran through a graph plan";
            if (t == DataType::kFloat16) {
                EXPECT_EQ(cuda::cudnnFusedConvRefusals(), fusedRefusals) << "the legacy fused call ran";
            }
        }
    }
}

TEST(CudaConvGraph, TacticsFitTheWorkspaceBudget) {
    KILN_REQUIRE_GPU();
    const Problem pr{8, 8, 256, 256, 3, 1, false, true};
    auto all = cuda::graphConvTactics(pr.cudnn(DataType::kFloat16), false, true, SIZE_MAX, cuda::kMaxGraphConfigs);
    ASSERT_TRUE(all.isOk()) << all.status().message();
    auto none = cuda::graphConvTactics(pr.cudnn(DataType::kFloat16), false, true, 0, cuda::kMaxGraphConfigs);
    ASSERT_TRUE(none.isOk()) << none.status().message();
    EXPECT_LE(none->size(), all->size());
    for (const std::string& text : *none) {
        const std::optional<cuda::GraphTactic> t = cuda::decodeGraphTactic(text);
        ASSERT_TRUE(t.has_value()) << text;
        EXPECT_EQ(t->workspace, 0u) << text;
    }
    for (const std::string& text : *all) {
        EXPECT_TRUE(cuda::decodeGraphTactic(text).has_value()) << "cuDNN's knobs must round-trip: " << text;
    }
}

}  // namespace
}  // namespace kiln::testing
