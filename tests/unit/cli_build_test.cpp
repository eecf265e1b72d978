// `kiln build` and `kiln check` through the executable: progress and summary, profiles, build-or-load, and every
// bad argument as one error line with its exit code (2 command line, 3 could not be done).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "unit/cli_test_util.h"

namespace kiln::testing {
namespace {

TEST(CliBuild, BuildsAndSummarizes) {
    TempDir dir;
    const std::string model = dir.write("conv.onnx", cli_models::convRelu());
    const std::string engine = dir.file("conv.engine");
    const CliResult r = runKiln(dir, "build " + shq(model) + " -o " + shq(engine) + " --fp16 --workspace 64MiB");
    ASSERT_EQ(r.exitCode, 0) << r.err;
    EXPECT_TRUE(std::filesystem::exists(engine));
    // Not a terminal: one plain line per phase, then what happened and the summary.
    for (const char* s : {"prepare", "optimize", "write", "built ", "engine ", "layers ", "imported nodes -> 1 layers",
                          "FusedConv x1", "precision ", "fp32 x1 (allowed: fp32+tf32+fp16)", "activations ", "time "}) {
        EXPECT_NE(r.out.find(s), std::string::npos) << "no '" << s << "' in:\n" << r.out;
    }
    EXPECT_EQ(r.out.find('\r'), std::string::npos) << "live redraws are for terminals only";
    EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST(CliBuild, NoTf32ClearsTheDefaultTf32) {
    TempDir dir;
    const std::string model = dir.write("conv.onnx", cli_models::convRelu());
    for (const auto& [flags, allowed] :
         {std::pair{"", "(allowed: fp32+tf32)"}, std::pair{"--tf32", "(allowed: fp32+tf32)"},
          std::pair{"--no-tf32", "(allowed: fp32)"}, std::pair{"--tf32 --no-tf32 --fp16", "(allowed: fp32+fp16)"}}) {
        const CliResult r =
            runKiln(dir, "build " + shq(model) + " -o " + shq(dir.file("c.engine")) + " --force " + flags);
        ASSERT_EQ(r.exitCode, 0) << flags << ": " << r.err;
        EXPECT_NE(r.out.find(allowed), std::string::npos) << flags << ": no '" << allowed << "' in:\n" << r.out;
    }
}

TEST(CliBuild, QuietPrintsOnlyWhatHappened) {
    TempDir dir;
    const std::string model = dir.write("conv.onnx", cli_models::convRelu());
    const CliResult r = runKiln(dir, "build -q " + shq(model) + " -o " + shq(dir.file("c.engine")));
    ASSERT_EQ(r.exitCode, 0) << r.err;
    EXPECT_EQ(r.out.rfind("built ", 0), 0u) << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
}

TEST(CliBuild, ProfilesFromShapeFlags) {
    TempDir dir;
    const std::string model = dir.write("dyn.onnx", cli_models::convRelu(true));
    const std::string engine = dir.file("dyn.engine");
    const CliResult r = runKiln(dir, "build -q " + shq(model) + " -o " + shq(engine) +
                                         " --min-shapes x:1x3x8x8 --opt-shapes x:2x3x8x8 --max-shapes x:4x3x8x8"
                                         " --profile x:8x3x8x8/16x3x8x8/32x3x8x8 --profile x:5x3x8x8");
    ASSERT_EQ(r.exitCode, 0) << r.err;
    const CliResult info = runKiln(dir, "inspect --json " + shq(engine));
    ASSERT_EQ(info.exitCode, 0) << info.err;
    const auto j = nlohmann::json::parse(info.out);
    ASSERT_EQ(j["profiles"].size(), 3u);
    EXPECT_EQ(j["profiles"][0]["x"]["opt"], "2x3x8x8");
    EXPECT_EQ(j["profiles"][1]["x"]["max"], "32x3x8x8");
    EXPECT_EQ(j["profiles"][2]["x"]["min"], "5x3x8x8");
}

TEST(CliBuild, SecondBuildLoadsAndForceRebuilds) {
    TempDir dir;
    const std::string model = dir.write("conv.onnx", cli_models::convRelu());
    const std::string args = "build -q " + shq(model) + " -o " + shq(dir.file("c.engine"));
    ASSERT_EQ(runKiln(dir, args).exitCode, 0);
    const CliResult again = runKiln(dir, args);
    ASSERT_EQ(again.exitCode, 0) << again.err;
    EXPECT_EQ(again.out.rfind("loaded ", 0), 0u) << again.out;
    const CliResult forced = runKiln(dir, args + " --force");
    ASSERT_EQ(forced.exitCode, 0) << forced.err;
    EXPECT_EQ(forced.out.rfind("built ", 0), 0u) << forced.out;
}

TEST(CliBuild, StaleEngineIsRebuiltOrRefused) {
    TempDir dir;
    const std::string model = dir.write("m.onnx", cli_models::convRelu());
    const std::string args = "build -q " + shq(model) + " -o " + shq(dir.file("m.engine"));
    ASSERT_EQ(runKiln(dir, args).exitCode, 0);
    dir.write("m.onnx", cli_models::classifier(1));  // the model changed
    const CliResult refused = runKiln(dir, args + " --no-rebuild");
    expectOneErrorLine(refused, {"m.engine"}, "--no-rebuild on a stale engine", 3);
    const CliResult rebuilt = runKiln(dir, args);
    ASSERT_EQ(rebuilt.exitCode, 0) << rebuilt.err;
    EXPECT_EQ(rebuilt.out.rfind("rebuilt ", 0), 0u) << rebuilt.out;
    EXPECT_NE(rebuilt.out.find("model"), std::string::npos) << rebuilt.out;
}

TEST(CliBuild, TimingFlagsAreOnlyRecordedOnTheCpuBackend) {
    TempDir dir;
    const std::string model = dir.write("conv.onnx", cli_models::convRelu());
    const std::string cache = dir.file("kiln.cache");
    for (const char* level : {"0", "5"}) {
        const CliResult r =
            runKiln(dir, "build -q " + shq(model) + " -o " + shq(dir.file("c.engine")) +
                             " --force --backend cpu --timing-cache " + shq(cache) + " --opt-level " + level);
        ASSERT_EQ(r.exitCode, 0) << level << ": " << r.err;
        EXPECT_FALSE(std::filesystem::exists(cache)) << "the CPU backend has no tactics to cache";
    }
}

TEST(CliBuild, BadArgumentsGiveOneLine) {
    TempDir dir;
    const std::string model = dir.write("dyn.onnx", cli_models::convRelu(true));
    const std::string staticModel = dir.write("static.onnx", cli_models::convRelu());
    const std::string out = " -o " + shq(dir.file("e.engine"));
    const std::string base = "build " + shq(model) + out;
    struct Case {
        std::string args;
        std::vector<std::string> mentions;
        int code;
    };
    const std::vector<Case> cases = {
        {"build " + shq(dir.file("nope.onnx")) + out, {"nope.onnx", "does not exist"}, 3},
        {base + " --shapes x:1x3xax8", {"--shapes", "'a' is not a dimension"}, 2},
        {base + " --shapes x1x3x8x8", {"--shapes", "name:1x3x224x224"}, 2},
        {base + " --min-shapes x:1x3x8x8", {"--min-shapes", "'x'", "--opt-shapes"}, 2},
        {base + " --profile x:1x3x8x8/2x3x8x8", {"--profile", "three"}, 2},
        {base + " --workspace 12XB", {"--workspace", "unknown unit 'XB'"}, 2},
        {base + " --workspace lots", {"--workspace", "not a size"}, 2},
        {base + " --opt-level 9", {"--opt-level"}, 2},
        {base + " --frobnicate", {"--frobnicate"}, 2},
        {base + " --backend tpu", {"--backend", "tpu"}, 2},
        {"build " + shq(staticModel) + out + " --shapes y:1x3x8x8", {"'y'", "not an input"}, 3},
        {base, {"'x'", "dynamic", "profile"}, 3},
        {base + " --shapes x:1x3x9x9", {"x", "static dim"}, 3},
        {base + " --shapes x:1x3x8x8 --backend cuda", {"backend kCuda: ", "Backend::kCpu"}, 3},
        {"build " + shq(model) + " -o " + shq(dir.file("no/such/dir/e.engine")) + " --shapes x:1x3x8x8",
         {"no/such/dir", "does not exist"},
         3},
    };
    for (const Case& c : cases) expectOneErrorLine(runKiln(dir, c.args), c.mentions, c.args, c.code);
}

TEST(CliCheck, BackendOption) {
    TempDir dir;
    const std::string model = dir.write("conv.onnx", cli_models::convRelu());
    const CliResult cpu = runKiln(dir, "check --backend cpu " + shq(model));
    EXPECT_EQ(cpu.exitCode, 0) << cpu.err;
    EXPECT_NE(cpu.out.find("all nodes are supported on backend cpu"), std::string::npos) << cpu.out;
    // Until the CUDA backend lands, the builder says it is not available; the CLI prints just that.
    expectOneErrorLine(runKiln(dir, "check --backend cuda " + shq(model)), {"conv.onnx", "kCuda"}, "check cuda", 3);
}

TEST(CliBuild, RealModel) {
    const std::string model = realModel("ppocr_cls");
    if (model.empty()) GTEST_SKIP() << "ppocr_cls not prepared (tests/models/prepare_models.sh)";
    TempDir dir;
    const CliResult r = runKiln(dir, "build " + shq(model) + " -o " + shq(dir.file("cls.engine")) +
                                         " --min-shapes x:1x3x48x192 --opt-shapes x:2x3x48x192"
                                         " --max-shapes x:8x3x48x192");
    ASSERT_EQ(r.exitCode, 0) << r.err;
    EXPECT_NE(r.out.find("FusedConv x"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("layers after the passes"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace kiln::testing
