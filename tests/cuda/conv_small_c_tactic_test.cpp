// Kiln's few-input-channel convolution as a tactic of the channels-last fused convolution (conv_small_c_tactic.h):
// recorded on a FusedConvNhwc node, "kiln small_c v1 workspace=0" runs the kernel (its counter moves) and matches
// the CPU reference (ResNet's stem, UNet's first convolution with a residual, 1x1, one and four channels, no bias,
// FP16 and BF16); another version's text runs the legacy call. End to end: a tuned FP16 build offers the kernel for
// its 3-channel convolution only (the signature says so), and a timing cache that names it makes the engine run it.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <iostream>

#include "backends/cuda/kernels/conv_cudnn.h"
#include "backends/cuda/kernels/conv_small_c_tactic.h"
#include "cuda/cuda_op_tester.h"
#include "cuda/engine_build_util.h"
#include "kiln/kiln.h"
#include "plan/timing_cache.h"
#include "unit/cli_test_util.h"
#include "unit/model_builder.h"

namespace kiln::testing {
namespace {

using Ints = std::vector<int64_t>;

//! A FusedConvNhwc: x [n, h, h, c], w [m, r, r, c], symmetric pad, a bias unless `noBias`.
struct Problem {
    int64_t n, h, c, m, r, stride, pad;
    bool z, relu, noBias;
    int64_t out() const { return (h + 2 * pad - r) / stride + 1; }
    std::string name(DataType t) const {
        return std::string(dataTypeName(t)) + " " + std::to_string(r) + "x" + std::to_string(r) + "/" +
               std::to_string(stride) + " pad " + std::to_string(pad) + " " + std::to_string(c) + "->" +
               std::to_string(m) + " @" + std::to_string(h) + (z ? " +z" : "") + (relu ? " relu" : "") +
               (noBias ? " no bias" : "");
    }
    //! As conv_nhwc.cpp describes it to cuDNN (the signature the node's tactic must carry).
    cuda::CudnnConvProblem cudnn(DataType t) const {
        cuda::CudnnConvProblem p;
        p.dtype = t;
        p.channelsLast = true;
        p.in = {int(n), int(c), int(h), int(h), 0};
        p.filter = {int(m), int(c), int(r), int(r), 0};
        p.out = {int(n), int(m), int(out()), int(out()), 0};
        p.pad = {int(pad), int(pad), 0};
        p.stride = {int(stride), int(stride), 1};
        return p;
    }
    OpTester op(DataType t, const std::string& tactic) const {
        OpTester o("FusedConvNhwc", 1, "kiln");
        o.input(randomTensor(t, {n, h, h, c}, seed())).constInput(randomTensor(t, {m, r, r, c}, seed()));
        if (noBias) {
            o.absentInput();
        } else {
            o.constInput(randomTensor(t, {m}, seed()));
        }
        if (z) o.input(randomTensor(t, {n, out(), out(), m}, seed()));
        o.attr("pads", Ints{pad, pad, pad, pad}).attr("strides", Ints{stride, stride});
        if (relu) o.attr("activation", std::string("Relu"));
        const std::string sig = cuda::cudnnFusedConvSignature(cudnn(t), relu, SIZE_MAX);
        return o.attr(cuda::kTacticAttribute, std::vector<std::string>{sig, tactic});
    }
};

const Problem kProblems[] = {
    {2, 30, 3, 64, 7, 2, 3, false, true, false},  // ResNet's stem
    {2, 33, 3, 64, 3, 1, 1, true, true, false},   // UNet's first convolution, with a residual
    {1, 17, 4, 8, 1, 1, 0, false, false, false}, {3, 19, 1, 24, 3, 2, 0, false, true, false},
    {2, 21, 3, 32, 3, 1, 1, true, false, true},  // residual without bias: the fused call's zero bias
};

constexpr DataType kTypes[] = {DataType::kFloat16, DataType::kBFloat16};

TEST(CudaSmallChannelConvTactic, RecordedTacticRunsTheKernel) {
    KILN_REQUIRE_GPU();
    for (DataType t : kTypes) {
        for (const Problem& pr : kProblems) {
            SCOPED_TRACE(pr.name(t));
            ASSERT_TRUE(cuda::smallChannelConvServes(pr.cudnn(t)));
            const uint64_t runs = cuda::smallChannelConvRuns();
            expectCudaMatchesCpuScaled(pr.op(t, cuda::kSmallChannelTactic), scaledTolerance(t));
            EXPECT_GT(cuda::smallChannelConvRuns(), runs) << "the recorded tactic did not run the Kiln kernel";
        }
    }
}

TEST(CudaSmallChannelConvTactic, AnotherVersionRunsTheLegacyCall) {
    KILN_REQUIRE_GPU();
    for (DataType t : kTypes) {
        const Problem& pr = kProblems[1];
        SCOPED_TRACE(pr.name(t));
        const uint64_t runs = cuda::smallChannelConvRuns();
        expectCudaMatchesCpuScaled(pr.op(t, "kiln small_c v9 workspace=0"), scaledTolerance(t));
        EXPECT_EQ(cuda::smallChannelConvRuns(), runs) << "an unknown version ran the kernel";
    }
}

//! `n` values uniform in [-scale, scale].
std::vector<float> uniformValues(int64_t n, float scale) {
    const Tensor t = randomTensor(DataType::kFloat32, {n}, seed(), -scale, scale);
    return {t.data<float>(), t.data<float>() + n};
}

//! x [2, 3, 40, 40] → 3x3 conv 3→32 + ReLU → 3x3 conv 32→16 → "logits": the first convolution is the kernel's.
std::string writeStemNet(TempDir& dir) {
    onnx::ModelProto model = makeModel();
    auto& g = *model.mutable_graph();
    addInput(g, "x", onnx::TensorProto::FLOAT, {2, 3, 40, 40});
    const std::pair<int64_t, int64_t> widths[] = {{3, 32}, {32, 16}};
    std::string in = "x";
    for (int i = 0; i < 2; ++i) {
        const auto [cin, cout] = widths[i];
        const std::string out = i == 0 ? "stem" : "logits";
        const float scale = 1.0f / std::sqrt(float(cin * 9));
        addInitializer(g, floatTensor(out + "_W", {cout, cin, 3, 3}, uniformValues(cout * cin * 9, scale)));
        addInitializer(g, floatTensor(out + "_B", {cout}, uniformValues(cout, 0.1f)));
        addIntsAttr(addNode(g, "Conv", {in, out + "_W", out + "_B"}, {out}, out), "pads", {1, 1, 1, 1});
        if (i == 0) addNode(g, "Relu", {"stem"}, {"stem_r"}, "stem_relu");
        in = "stem_r";
    }
    addOutput(g, "logits", onnx::TensorProto::FLOAT, {2, 16, 40, 40});
    return dir.write("stem.onnx", model);
}

//! Builds for the CPU (FP32) or for CUDA in FP16 at level 1 with the timing cache `cache`.
void build(const std::string& path, Backend backend, const std::string& cache, Built& out) {
    buildFile(
        path, backend,
        [&](Builder&, BuilderConfig& config) {
            if (backend != Backend::kCuda) return;
            config.setFlag(BuilderFlag::kFP16);
            ASSERT_TRUE(config.setOptimizationLevel(1).isOk());
            config.setTimingCachePath(cache);
        },
        out);
}

//! The [signature, tactic] of every FusedConvNhwc node.
std::vector<std::vector<std::string>> convTactics(const ir::Graph& g) {
    std::vector<std::vector<std::string>> out;
    for (const auto& n : g.nodes()) {
        if (n->op() != ir::OpKind::kFusedConvNhwc) continue;
        out.push_back(n->attrs().getStrings(cuda::kTacticAttribute).value_or(std::vector<std::string>{}));
    }
    return out;
}

TEST(CudaSmallChannelConvEngine, TunedBuildOffersItAndATimingCacheChoiceRunsIt) {
    KILN_REQUIRE_GPU();
    TempDir dir;
    const std::string path = writeStemNet(dir);
    const std::string cache = dir.file("kiln.timing-cache");
    Built cpu, tuned;
    build(path, Backend::kCpu, "", cpu);
    build(path, Backend::kCuda, cache, tuned);
    const Tensor x = randomTensor(DataType::kFloat32, {2, 3, 40, 40}, seed());
    const Tensor want = runLogits(*cpu.net.engine, x);

    // The timer chose among the legacy first choice and the Kiln kernel (level 1: two candidates).
    const auto chosen = convTactics(*tuned.net.graph);
    ASSERT_EQ(chosen.size(), 2u) << "two channels-last convolutions";
    std::string stemSignature;
    for (const auto& t : chosen) {
        if (t.size() != 2 || t[0].find("|kiln=small_c1") == std::string::npos) continue;
        EXPECT_TRUE(stemSignature.empty()) << "only the 3-channel convolution is offered the kernel";
        stemSignature = t[0];
        std::cout << "  timed choice for the 3-channel convolution: " << t[1] << "\n";
    }
    ASSERT_FALSE(stemSignature.empty()) << "the 3-channel convolution was not offered the Kiln kernel";
    EXPECT_LE(relativeError(runLogits(*tuned.net.engine, x), want), 1e-2);

    // A cache that names the kernel for that signature: the rebuild takes it without timing, and runs it.
    auto parsed = plan::TimingCache::parse(readFile(cache), cache);
    ASSERT_TRUE(parsed.isOk()) << parsed.status().message();
    parsed->insert(stemSignature, plan::TacticRecord{cuda::kSmallChannelTactic, 0.001, 2});
    {
        std::ofstream f(cache, std::ios::trunc);
        f << parsed->serialize();
    }
    Built cached;
    build(path, Backend::kCuda, cache, cached);
    bool found = false;
    for (const auto& t : convTactics(*cached.net.graph)) {
        if (t.size() == 2 && t[0] == stemSignature) found = t[1] == cuda::kSmallChannelTactic;
    }
    EXPECT_TRUE(found) << "the cached Kiln tactic was not recorded on the node";
    const uint64_t runs = cuda::smallChannelConvRuns();
    const double err = relativeError(runLogits(*cached.net.engine, x), want);
    EXPECT_GT(cuda::smallChannelConvRuns(), runs) << "the engine did not run the Kiln kernel";
    std::cout << "  max |cuda - cpu fp32| / max |cpu fp32| with the Kiln kernel = " << err << "\n";
    EXPECT_LE(err, 1e-2);
}

}  // namespace
}  // namespace kiln::testing
