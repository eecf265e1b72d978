// The channels-last layout end to end: a small ResNet-style network built for CUDA with kFP16 (and kBF16) runs
// NHWC between one Transpose at the input and its output, and matches the FP32 CPU engine; so does a TF32 one, and
// a strict FP32 CUDA engine keeps NCHW. A small UNet-style network does too, its 2x2 stride-2 ConvTranspose written
// into its Concat slot by Kiln's one-pass kernel (or, with a deep input, by cuBLASLt GEMMs).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <iostream>
#include <random>

#include "backends/cuda/kernels/conv_transpose_gemm.h"
#include "backends/cuda/tactics.h"
#include "cuda/cuda_op_tester.h"
#include "cuda/engine_build_util.h"
#include "kiln/kiln.h"
#include "unit/model_builder.h"

namespace kiln::testing {
namespace {

std::vector<float> randomValues(size_t n, float scale, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-scale, scale);
    std::vector<float> v(n);
    for (float& x : v) x = dist(rng);
    return v;
}

void addConv(onnx::GraphProto& g, const std::string& in, const std::string& out, int64_t cin, int64_t cout,
             uint32_t seed) {
    const float scale = 1.0f / std::sqrt(static_cast<float>(cin * 9));
    addInitializer(g, floatTensor(out + "_W", {cout, cin, 3, 3}, randomValues(size_t(cout * cin * 9), scale, seed)));
    addInitializer(g, floatTensor(out + "_B", {cout}, randomValues(size_t(cout), 0.1f, seed + 1)));
    auto& n = addNode(g, "Conv", {in, out + "_W", out + "_B"}, {out}, out);
    addIntsAttr(n, "pads", {1, 1, 1, 1});
}

//! x [2, 3, 32, 32] → conv+relu → maxpool → (conv+BN+relu → conv) + skip → relu → global pool → flatten → gemm.
std::string writeResNetBlock(TempDir& dir) {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    addInput(g, "x", onnx::TensorProto::FLOAT, {2, 3, 32, 32});
    addConv(g, "x", "stem", 3, 16, 1);
    addNode(g, "Relu", {"stem"}, {"stem_r"}, "stem_relu");
    auto& pool = addNode(g, "MaxPool", {"stem_r"}, {"pool"}, "pool");
    addIntsAttr(pool, "kernel_shape", {3, 3});
    addIntsAttr(pool, "strides", {2, 2});
    addIntsAttr(pool, "pads", {1, 1, 1, 1});
    addConv(g, "pool", "c1", 16, 16, 10);
    addInitializer(g, floatTensor("bn_scale", {16}, randomValues(16, 1.0f, 20)));
    addInitializer(g, floatTensor("bn_bias", {16}, randomValues(16, 0.1f, 21)));
    addInitializer(g, floatTensor("bn_mean", {16}, randomValues(16, 0.1f, 22)));
    std::vector<float> var = randomValues(16, 0.5f, 23);
    for (float& v : var) v = 1.0f + v;
    addInitializer(g, floatTensor("bn_var", {16}, var));
    addNode(g, "BatchNormalization", {"c1", "bn_scale", "bn_bias", "bn_mean", "bn_var"}, {"bn"}, "bn");
    addNode(g, "Relu", {"bn"}, {"r1"}, "relu1");
    addConv(g, "r1", "c2", 16, 16, 30);
    addNode(g, "Add", {"c2", "pool"}, {"sum"}, "residual");
    addNode(g, "Relu", {"sum"}, {"r2"}, "relu2");
    addNode(g, "GlobalAveragePool", {"r2"}, {"gap"}, "gap");
    addNode(g, "Flatten", {"gap"}, {"flat"}, "flatten");
    addInitializer(g, floatTensor("fc_W", {16, 10}, randomValues(160, 0.25f, 40)));
    addInitializer(g, floatTensor("fc_B", {10}, randomValues(10, 0.1f, 41)));
    addNode(g, "Gemm", {"flat", "fc_W", "fc_B"}, {"logits"}, "fc");
    addOutput(g, "logits", onnx::TensorProto::FLOAT, {2, 10});
    return dir.write("resnet_block.onnx", m);
}

size_t count(const ir::Graph& g, ir::OpKind op) {
    return static_cast<size_t>(
        std::count_if(g.nodes().begin(), g.nodes().end(), [&](const auto& n) { return n->op() == op; }));
}

//! Builds the model for `backend` with the precision flag (or none), TF32 off.
void build(const std::string& path, Backend backend, std::optional<BuilderFlag> precision, Built& out) {
    buildFile(
        path, backend,
        [&](Builder&, BuilderConfig& config) {
            config.clearFlag(BuilderFlag::kTF32);
            if (precision) config.setFlag(*precision);
        },
        out);
}

//! Builds the model at `path` (input "x" of `inputShape`, output "logits") for the CPU in FP32 and for CUDA with
//! kFP16 and kBF16; `inspect` checks each CUDA build, `run` (runLogits when empty) runs it, and its output must be
//! within 1e-2 (FP16) / 5e-2 (BF16) of the CPU's, relative to the largest reference value.
void expectHalfPrecisionMatchesCpu(const std::string& path, const Shape& inputShape,
                                   const std::function<void(const Built&)>& inspect,
                                   const std::function<Tensor(Engine&, const Tensor&)>& run = {}) {
    Built reference;
    build(path, Backend::kCpu, std::nullopt, reference);
    const Tensor x = randomTensor(DataType::kFloat32, inputShape, seed());
    const Tensor want = runLogits(*reference.net.engine, x);

    for (auto [flag, tol] : {std::pair{BuilderFlag::kFP16, 1e-2}, std::pair{BuilderFlag::kBF16, 5e-2}}) {
        SCOPED_TRACE(flag == BuilderFlag::kFP16 ? "FP16" : "BF16");
        Built cuda;
        build(path, Backend::kCuda, flag, cuda);
        inspect(cuda);
        const Tensor got = run ? run(*cuda.net.engine, x) : runLogits(*cuda.net.engine, x);
        ASSERT_EQ(got.shape(), want.shape());
        const double err = relativeError(got, want);
        std::cout << "  max |cuda - cpu fp32| / max |cpu fp32| = " << err << "\n";
        EXPECT_LE(err, tol);
    }
}

TEST(CudaNhwcEngine, HalfPrecisionResNetBlockRunsChannelsLast) {
    KILN_REQUIRE_GPU();
    TempDir dir;
    expectHalfPrecisionMatchesCpu(writeResNetBlock(dir), {2, 3, 32, 32}, [](const Built& cuda) {
        const ir::Graph& g = *cuda.net.graph;
        EXPECT_TRUE(cuda.logger.saw("layout-assignment: changed the layout of"));
        EXPECT_TRUE(cuda.logger.saw("nhwc-layout: 3 convolutions channels-last"));
        EXPECT_EQ(count(g, ir::OpKind::kFusedConvNhwc), 3u);
        EXPECT_EQ(count(g, ir::OpKind::kMaxPoolNhwc), 1u);
        EXPECT_EQ(count(g, ir::OpKind::kGlobalAveragePoolNhwc), 1u);
        EXPECT_EQ(count(g, ir::OpKind::kFusedConv) + count(g, ir::OpKind::kConv), 0u);
        // The input's Cast to FP16 and Transpose to NHWC are one TransposeCast (transpose-cast-fusion).
        EXPECT_EQ(count(g, ir::OpKind::kTranspose), 0u) << "no Transpose inside";
        EXPECT_EQ(count(g, ir::OpKind::kTransposeCast), 1u) << "one TransposeCast at the input";
        for (const auto& n : g.nodes()) {
            if (n->op() == ir::OpKind::kFusedConvNhwc) {
                EXPECT_NE(n->output(0)->dtype(), DataType::kFloat32) << n->describe() << " was not lowered";
            }
        }
    });
}

//! x [2, 3, 16, 16] → conv+relu (skip) → maxpool → conv+relu (`mid` channels) → ConvTranspose 2x2 stride 2 → concat
//! with the skip → conv: UNet's up-sampling step (in FP16 the last conv splits over the Concat's two inputs:
//! concat-conv-split, so the ConvTranspose runs alone).
std::string writeUNetStep(TempDir& dir, int64_t mid) {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    addInput(g, "x", onnx::TensorProto::FLOAT, {2, 3, 16, 16});
    addConv(g, "x", "down", 3, 8, 50);
    addNode(g, "Relu", {"down"}, {"skip"}, "down_relu");
    auto& pool = addNode(g, "MaxPool", {"skip"}, {"pool"}, "pool");
    addIntsAttr(pool, "kernel_shape", {2, 2});
    addIntsAttr(pool, "strides", {2, 2});
    addConv(g, "pool", "mid", 8, mid, 60);
    addNode(g, "Relu", {"mid"}, {"mid_r"}, "mid_relu");
    const float upScale = 1.0f / std::sqrt(static_cast<float>(mid));  // 0.25 at 16 channels
    addInitializer(g, floatTensor("up_W", {mid, 8, 2, 2}, randomValues(size_t(mid * 8 * 4), upScale, 70)));
    addInitializer(g, floatTensor("up_B", {8}, randomValues(8, 0.1f, 71)));
    auto& up = addNode(g, "ConvTranspose", {"mid_r", "up_W", "up_B"}, {"up"}, "up");
    addIntsAttr(up, "kernel_shape", {2, 2});
    addIntsAttr(up, "strides", {2, 2});
    auto& cat = addNode(g, "Concat", {"up", "skip"}, {"cat"}, "cat");
    addIntAttr(cat, "axis", 1);
    addConv(g, "cat", "logits", 16, 4, 80);
    addOutput(g, "logits", onnx::TensorProto::FLOAT, {2, 4, 16, 16});
    return dir.write("unet_step.onnx", m);
}

TEST(CudaNhwcEngine, HalfPrecisionUNetStepUpsamplesAsGemms) {
    KILN_REQUIRE_GPU();
    TempDir dir;
    auto inspect = [](const Built& cuda) {
        const ir::Graph& g = *cuda.net.graph;
        EXPECT_EQ(count(g, ir::OpKind::kConvTransposeNhwc), 1u);
        EXPECT_EQ(count(g, ir::OpKind::kConvTranspose), 0u);
        EXPECT_EQ(count(g, ir::OpKind::kTranspose), 0u);
        EXPECT_EQ(count(g, ir::OpKind::kTransposeCast), 2u) << "one TransposeCast at the input, one at the output";
        // The Concat is gone: the last conv is two, one per concatenated input, chained by the residual input.
        EXPECT_EQ(count(g, ir::OpKind::kConcat), 0u);
        EXPECT_EQ(count(g, ir::OpKind::kFusedConvNhwc), 4u) << "down, mid, and logits split in two";
        for (const auto& n : g.nodes()) {
            if (n->op() != ir::OpKind::kConvTransposeNhwc) continue;
            EXPECT_FALSE(n->attrs().has("kiln_concat_slot")) << n->describe();
            // The build timed the GEMM (level 3): its tactic names cuBLASLt.
            const auto tactic = n->attrs().getStrings(cuda::kTacticAttribute);
            ASSERT_TRUE(tactic && tactic->size() == 2) << n->describe() << " has no tactic";
            EXPECT_EQ((*tactic)[0].rfind("cublaslt.matmul|", 0), 0u) << (*tactic)[0];
        }
    };
    auto run = [](Engine& engine, const Tensor& x) {
        const uint64_t runs = cuda::convTransposeGemmRuns();
        Tensor got = runLogits(engine, x);
        EXPECT_GT(cuda::convTransposeGemmRuns(), runs) << "the ConvTranspose did not run as cuBLASLt GEMMs";
        return got;
    };
    expectHalfPrecisionMatchesCpu(writeUNetStep(dir, 16), {2, 3, 16, 16}, inspect, run);
}

TEST(CudaNhwcEngine, Tf32RunsChannelsLast) {
    KILN_REQUIRE_GPU();
    TempDir dir;
    const std::string path = writeResNetBlock(dir);
    Built reference, cuda;
    build(path, Backend::kCpu, std::nullopt, reference);
    build(path, Backend::kCuda, BuilderFlag::kTF32, cuda);
    EXPECT_EQ(count(*cuda.net.graph, ir::OpKind::kFusedConvNhwc), 3u);
    EXPECT_EQ(count(*cuda.net.graph, ir::OpKind::kTranspose), 1u) << "one Transpose at the input, none inside";
    const Tensor x = randomTensor(DataType::kFloat32, {2, 3, 32, 32}, seed());
    // TF32 keeps 10 mantissa bits: the real models' bound (docs/cuda.md) is 2e-3.
    EXPECT_LE(relativeError(runLogits(*cuda.net.engine, x), runLogits(*reference.net.engine, x)), 2e-3);
}

TEST(CudaNhwcEngine, Float32KeepsNchw) {
    KILN_REQUIRE_GPU();
    TempDir dir;
    Built cuda;
    build(writeResNetBlock(dir), Backend::kCuda, std::nullopt, cuda);
    EXPECT_EQ(count(*cuda.net.graph, ir::OpKind::kFusedConvNhwc), 0u);
    EXPECT_EQ(count(*cuda.net.graph, ir::OpKind::kTranspose), 0u);
}

}  // namespace
}  // namespace kiln::testing
