// `kiln inspect` through the executable: header, I/O, layers with what they fused, JSON, per-layer profile.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "frontend/onnx/importer.h"
#include "plan/engine_file.h"
#include "unit/capture_test_models.h"
#include "unit/cli_test_util.h"

namespace kiln::testing {
namespace {

class CliInspect : public ::testing::Test {
protected:
    void SetUp() override {
        model = dir.write("conv.onnx", cli_models::convRelu());
        engine = dir.file("conv.engine");
        ASSERT_EQ(runKiln(dir, "build -q --fp16 " + shq(model) + " -o " + shq(engine)).exitCode, 0);
    }
    TempDir dir;
    std::string model;
    std::string engine;
};

TEST_F(CliInspect, Text) {
    const CliResult r = runKiln(dir, "inspect " + shq(engine));
    ASSERT_EQ(r.exitCode, 0) << r.err;
    for (const std::string& s :
         {std::string("format      2, built by Kiln "), std::string("backend     cpu"), model + " (sha256 ",
          std::string(", unchanged)"), std::string("fp16=1"), std::string("inputs\n  x "),
          std::string("float32  1x3x8x8"), std::string("outputs\n  y "),
          std::string("profiles (none: every input is static)"), std::string("layers (1)"), std::string("FusedConv"),
          std::string("Conv + bias + Relu"), std::string("1x4x8x8"), std::string("1.00 KiB")}) {
        EXPECT_NE(r.out.find(s), std::string::npos) << "no '" << s << "' in:\n" << r.out;
    }
    // Changing the source model shows in the header.
    dir.write("conv.onnx", cli_models::classifier(1));
    const CliResult changed = runKiln(dir, "inspect " + shq(engine));
    EXPECT_NE(changed.out.find("changed since the build"), std::string::npos) << changed.out;
}

TEST_F(CliInspect, JsonAndProfile) {
    const CliResult r = runKiln(dir, "inspect --json --profile --iterations 3 " + shq(engine) + " --export-profile " +
                                         shq(dir.file("prof.json")));
    ASSERT_EQ(r.exitCode, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["backend"], "cpu");
    EXPECT_EQ(j["buildOptions"]["fp16"], "1");
    EXPECT_EQ(j["inputs"][0]["name"], "x");
    ASSERT_EQ(j["layers"].size(), 1u);
    const auto& layer = j["layers"][0];
    EXPECT_EQ(layer["op"], "FusedConv");
    EXPECT_EQ(layer["fused"], (nlohmann::json{"Conv", "bias", "Relu"}));
    EXPECT_EQ(layer["outputBytes"], 4 * 8 * 8 * 4);
    EXPECT_GT(layer["averageMs"].get<double>(), 0.0);
    EXPECT_NEAR(layer["percentage"].get<double>(), 100.0, 1e-9);
    const auto prof = nlohmann::json::parse(readFile(dir.file("prof.json")));
    ASSERT_EQ(prof.size(), 2u);
    EXPECT_EQ(prof[0]["count"], 3);
    EXPECT_EQ(prof[1]["name"], "conv0");
    const CliResult text = runKiln(dir, "inspect --profile --iterations 2 " + shq(engine));
    EXPECT_NE(text.out.find("ms/run"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("ms per run over 2 runs"), std::string::npos) << text.out;
}

TEST_F(CliInspect, BadArgumentsGiveOneLine) {
    expectOneErrorLine(runKiln(dir, "inspect " + shq(model)), {"conv.onnx", "not a Kiln engine"}, "an ONNX file", 3);
    expectOneErrorLine(runKiln(dir, "inspect " + shq(dir.file("none.engine"))), {"none.engine"}, "missing", 3);
    const std::string bytes = readFile(engine);
    const std::string cut = dir.writeBytes("cut.engine", bytes.substr(0, bytes.size() / 2));
    expectOneErrorLine(runKiln(dir, "inspect " + shq(cut)), {"cut.engine", "truncated"}, "truncated", 3);
    expectOneErrorLine(runKiln(dir, "inspect --profile --shapes x:1x3xx " + shq(engine)), {"--shapes"}, "syntax", 2);
}

TEST(CliInspectModels, RealModel) {
    const std::string model = realModel("resnet50");
    if (model.empty()) GTEST_SKIP() << "resnet50 not prepared (tests/models/prepare_models.sh)";
    TempDir dir;
    const std::string engine = dir.file("r50.engine");
    ASSERT_EQ(runKiln(dir, "build -q " + shq(model) + " -o " + shq(engine) + " --shapes input:1x3x224x224").exitCode,
              0);
    const CliResult r = runKiln(dir, "inspect --json " + shq(engine));
    ASSERT_EQ(r.exitCode, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    int residual = 0;
    for (const auto& layer : j["layers"]) {
        for (const auto& op : layer["fused"]) residual += op == "Add (residual)";
    }
    EXPECT_EQ(residual, 16) << "ResNet-50 has 16 residual blocks";
}

#if KILN_HAVE_CUDA
//! A CUDA engine file, written directly (this machine need not have a GPU: inspect only reads the file).
std::string writeCudaEngine(const TempDir& dir, const onnx::ModelProto& model, const std::string& name) {
    auto imported = onnx_frontend::importModel(model, ".");
    EXPECT_TRUE(imported.isOk()) << imported.status().message();
    if (!imported) return {};
    const std::string path = dir.file(name);
    const Status saved =
        plan::saveEngineFile(path, *imported->graph, plan::EngineMetadata::current("cuda", "NVIDIA H100", 9, 0));
    EXPECT_TRUE(saved.isOk()) << saved.message();
    return path;
}

TEST_F(CliInspect, CudaGraphVerdict) {
    const std::string bad = writeCudaEngine(dir, reshapeByInputModel(), "reshape.engine");
    const CliResult r = runKiln(dir, "inspect " + shq(bad));
    ASSERT_EQ(r.exitCode, 0) << r.err;
    EXPECT_NE(r.out.find("cuda graph  not capturable: node 1 (Reshape 'reshape') reads input 1 'shp' on the host"),
              std::string::npos)
        << r.out;
    const CliResult j = runKiln(dir, "inspect --json " + shq(bad));
    ASSERT_EQ(j.exitCode, 0) << j.err;
    EXPECT_EQ(nlohmann::json::parse(j.out)["cudaGraph"].get<std::string>().rfind("not capturable: node 1", 0), 0u);
    onnx::ModelProto relu = makeModel(13);
    addInput(*relu.mutable_graph(), "x", onnx::TensorProto::FLOAT, {2, 3});
    addNode(*relu.mutable_graph(), "Relu", {"x"}, {"y"}, "relu");
    addOutput(*relu.mutable_graph(), "y", onnx::TensorProto::FLOAT, {2, 3});
    const CliResult good = runKiln(dir, "inspect " + shq(writeCudaEngine(dir, relu, "relu.engine")));
    EXPECT_NE(good.out.find("cuda graph  capturable"), std::string::npos) << good.out;
    // CPU engines have no such line.
    EXPECT_EQ(runKiln(dir, "inspect " + shq(engine)).out.find("cuda graph"), std::string::npos);
}
#endif

}  // namespace
}  // namespace kiln::testing
