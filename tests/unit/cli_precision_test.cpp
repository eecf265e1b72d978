// `kiln compare --mark` and `--layer-precisions` (build, compare, inspect, exec's --layerPrecisions /
// --precisionConstraints) through the executable. The CPU backend computes in FP32 whatever is allowed or pinned, so
// these check what is built, recorded and reported; the numbers of FP16 lowering show on the GPU only.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "unit/cli_test_util.h"

namespace kiln::testing {
namespace {

//! Lines of `text` that contain `needle`.
int countLines(const std::string& text, const std::string& needle) {
    int n = 0;
    std::stringstream ss(text);
    for (std::string line; std::getline(ss, line);) n += line.find(needle) != std::string::npos ? 1 : 0;
    return n;
}

TEST(CliMark, CompareMarkAllListsEveryTensorOfAnFp16Build) {
    TempDir dir;
    const std::string model = dir.write("conv.onnx", cli_models::convRelu());
    const CliResult r =
        runKiln(dir, "compare " + shq(model) + " " + shq(model) + " --mark all --fp16 --backend cpu --seed 4");
    ASSERT_EQ(r.exitCode, 0) << r.err << r.out;
    EXPECT_NE(r.out.find("with 1 more tensors marked as outputs"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("allows fp32+tf32+fp16, computes in fp32"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("tensor (topological order)"), std::string::npos) << r.out;
    const size_t c = r.out.find("\n  c ");
    const size_t y = r.out.find("\n  y ");
    ASSERT_NE(c, std::string::npos) << r.out;
    ASSERT_NE(y, std::string::npos) << r.out;
    EXPECT_LT(c, y) << "topological order:\n" << r.out;
    EXPECT_NE(r.out.find("Conv 'conv0'"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("Relu 'relu0'"), std::string::npos) << r.out;
    EXPECT_EQ(countLines(r.out, "  pass"), 2) << r.out;
    EXPECT_NE(r.out.find("PASS: 2 tensors within tolerance"), std::string::npos) << r.out;

    // Named tensors, one of them unknown.
    const CliResult named = runKiln(dir, "compare " + shq(model) + " " + shq(model) + " --mark c --backend cpu");
    EXPECT_EQ(named.exitCode, 0) << named.err << named.out;
    EXPECT_NE(named.out.find("PASS: 2 tensors"), std::string::npos) << named.out;
    expectOneErrorLine(runKiln(dir, "compare " + shq(model) + " " + shq(model) + " --mark c,nope"),
                       {"--mark", "'nope'", "computes no tensor"}, "unknown tensor", 3);
    expectOneErrorLine(runKiln(dir, "compare " + shq(model) + " " + shq(model) + " --mark y"),
                       {"'y'", "already an output"}, "a model output", 3);
}

TEST(CliMark, CompareNamesTheFirstTensorOutsideTolerance) {
    TempDir dir;
    // The same graph, once with y = Relu(Conv(x) + b), once with other weights: c differs first, then y.
    const std::string model = dir.write("conv.onnx", cli_models::convRelu());
    onnx::ModelProto otherProto = cli_models::convRelu();
    auto* w = otherProto.mutable_graph()->mutable_initializer(0);
    std::string raw = w->raw_data();
    reinterpret_cast<float*>(raw.data())[0] += 1.0f;
    w->set_raw_data(raw);
    const std::string other = dir.write("other.onnx", otherProto);
    const CliResult r = runKiln(dir, "compare " + shq(model) + " " + shq(other) + " --mark all --backend cpu");
    EXPECT_EQ(r.exitCode, 1) << r.err << r.out;
    EXPECT_NE(r.out.find("FAIL: 2 of 2 tensors outside tolerance"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("first outside tolerance: 'c', computed by Conv 'conv0'"), std::string::npos) << r.out;
}

TEST(CliMark, AnEngineFileCannotBeMarked) {
    TempDir dir;
    const std::string model = dir.write("conv.onnx", cli_models::convRelu());
    const std::string engine = dir.file("conv.engine");
    ASSERT_EQ(runKiln(dir, "build -q " + shq(model) + " -o " + shq(engine)).exitCode, 0);
    expectOneErrorLine(runKiln(dir, "compare " + shq(model) + " " + shq(engine) + " --mark all"),
                       {"--mark", "conv.engine", "engine file", "give the .onnx instead", "kiln compare"},
                       "marking an engine file", 2);
}

TEST(CliLayerPrecisions, BadValuesGiveOneLine) {
    TempDir dir;
    const std::string model = dir.write("conv.onnx", cli_models::convRelu());
    const std::string engine = shq(dir.file("conv.engine"));
    const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
        {"relu0", {"--layer-precisions 'relu0'", "expected name:fp32"}},
        {"relu0:int8", {"'int8' is not a layer precision"}},
        {"relu0:", {"'' is not a layer precision"}},
        {":fp32", {"expected name:fp32"}},
        {"relu0:fp32,", {"expected name:fp32"}},
    };
    for (const auto& [value, mentions] : cases) {
        expectOneErrorLine(runKiln(dir, "build " + shq(model) + " -o " + engine + " --layer-precisions " + shq(value)),
                           mentions, "build --layer-precisions " + value, 2);
        expectOneErrorLine(
            runKiln(dir, "compare " + shq(model) + " " + shq(model) + " --layer-precisions " + shq(value)), mentions,
            "compare --layer-precisions " + value, 2);
    }
    expectOneErrorLine(
        runKiln(dir, "bench " + shq(model) + " --layer-precisions 'relu0:fp64' --iterations 1 --duration 0"),
        {"'fp64' is not a layer precision"}, "bench", 2);
    expectOneErrorLine(runKiln(dir, "build " + shq(model) + " -o " + engine + " --precision-constraints maybe"),
                       {"--precision-constraints"}, "bad constraint", 2);
    // Well-formed, but naming no node of the model: the build fails naming the pattern.
    expectOneErrorLine(runKiln(dir, "build " + shq(model) + " -o " + engine + " --layer-precisions '*Softmax*:fp32'"),
                       {"'*Softmax*' matches no node"}, "pattern matching nothing", 3);
}

TEST(CliLayerPrecisions, BuildSummaryAndInspectShowThePinnedLayers) {
    TempDir dir;
    const std::string model = dir.write("conv.onnx", cli_models::convRelu());
    const std::string engine = dir.file("conv.engine");
    const CliResult r = runKiln(
        dir, "build " + shq(model) + " -o " + shq(engine) + " --fp16 --layer-precisions 'op:Conv:fp16,relu?:fp32'");
    ASSERT_EQ(r.exitCode, 0) << r.err << r.out;
    EXPECT_NE(r.out.find("pinned fp16 x1, fp32 x1 by 'op:Conv:fp16,relu?:fp32' (obey)"), std::string::npos) << r.out;
    // Differently pinned, the Relu stays out of the Conv: two layers.
    EXPECT_NE(r.out.find("Conv x1, Relu x1"), std::string::npos) << r.out;

    const CliResult table = runKiln(dir, "inspect " + shq(engine));
    ASSERT_EQ(table.exitCode, 0) << table.err;
    EXPECT_NE(table.out.find("layer_precision.0=op:Conv:fp16 layer_precision.1=relu?:fp32"), std::string::npos)
        << table.out;
    EXPECT_NE(table.out.find("relu0                            Relu               fp32*"), std::string::npos)
        << table.out;
    EXPECT_NE(table.out.find("* pinned by a layer precision override: 1 pinned to fp16 (computes fp32), 1 pinned "
                             "to fp32"),
              std::string::npos)
        << table.out;
    const CliResult json = runKiln(dir, "inspect " + shq(engine) + " --json");
    ASSERT_EQ(json.exitCode, 0) << json.err;
    const auto layers = nlohmann::json::parse(json.out)["layers"];
    ASSERT_EQ(layers.size(), 2u);
    EXPECT_EQ(layers[0]["pinnedPrecision"], "fp16");
    EXPECT_EQ(layers[1]["pinnedPrecision"], "fp32");

    // The same pins reuse the engine; other pins (or constraints) rebuild it.
    const std::string same = "build -q " + shq(model) + " -o " + shq(engine) + " --fp16 --layer-precisions " +
                             shq("op:Conv:fp16,relu?:fp32");
    EXPECT_NE(runKiln(dir, same).out.find("loaded"), std::string::npos);
    const CliResult prefer = runKiln(dir, same + " --precision-constraints prefer");
    EXPECT_NE(prefer.out.find("rebuilt " + engine +
                              ": build options changed: precision_constraints 'obey' -> "
                              "'prefer'"),
              std::string::npos)
        << prefer.out;
    const CliResult none = runKiln(dir, "build -q " + shq(model) + " -o " + shq(engine) + " --fp16");
    EXPECT_NE(none.out.find("layer_precision.0 'op:Conv:fp16' -> (unset)"), std::string::npos) << none.out;
}

TEST(CliLayerPrecisions, ExecTakesTrtexecsLayerPrecisionsUnderAConstraint) {
    TempDir dir;
    const std::string model = dir.write("conv.onnx", cli_models::convRelu());
    const std::string run = "exec --onnx=" + shq(model) + " --iterations=1 --duration=0 --warmUp=0";
    expectOneErrorLine(runKiln(dir, run + " --layerPrecisions='*:fp16'"),
                       {"--layerPrecisions='*:fp16'", "--precisionConstraints=obey or prefer"}, "no constraint", 2);
    expectOneErrorLine(runKiln(dir, run + " --layerPrecisions='*:fp16' --precisionConstraints=none"),
                       {"--precisionConstraints=obey or prefer"}, "constraint none", 2);
    expectOneErrorLine(runKiln(dir, run + " --layerPrecisions=relu0 --precisionConstraints=obey"),
                       {"--layerPrecisions 'relu0'", "expected name:fp32"}, "malformed", 2);
    expectOneErrorLine(runKiln(dir, run + " --precisionConstraints=strict"),
                       {"--precisionConstraints='strict'", "none, prefer or obey"}, "unknown constraint", 2);
    expectOneErrorLine(runKiln(dir, run + " --layerOutputTypes=relu0:fp16"), {"--layerOutputTypes"},
                       "still unsupported", 2);
    const std::string layers = dir.file("layers.json");
    const CliResult ok = runKiln(dir, run + " --fp16 --layerPrecisions='*:fp16,relu0:fp32' --precisionConstraints=" +
                                          "prefer --exportLayerInfo=" + shq(layers));
    ASSERT_EQ(ok.exitCode, 0) << ok.err << ok.out;
    EXPECT_NE(ok.out.find("&&&& PASSED"), std::string::npos) << ok.out;
    const auto info = nlohmann::json::parse(readFile(layers));
    ASSERT_EQ(info.size(), 2u);
    EXPECT_EQ(info[1]["name"], "relu0");
    EXPECT_EQ(info[1]["pinnedPrecision"], "fp32");
}

}  // namespace
}  // namespace kiln::testing
