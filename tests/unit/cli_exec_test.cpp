// `kiln exec` through the executable: trtexec's flags and its "=== Performance summary ===" block, engines saved
// and loaded, exports, and unknown / unsupported / no-effect flags.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "unit/cli_test_util.h"

namespace kiln::testing {
namespace {

TEST(CliExec, TrtexecCommandLine) {
    TempDir dir;
    const std::string model = dir.write("dyn.onnx", cli_models::convRelu(true));
    const std::string engine = dir.file("dyn.engine");
    const CliResult r = runKiln(dir, "exec --onnx=" + shq(model) + " --minShapes=x:1x3x8x8 --optShapes=x:2x3x8x8" +
                                         " --maxShapes=x:4x3x8x8 --shapes=x:3x3x8x8 --fp16 --memPoolSize=workspace:64" +
                                         " --iterations=5 --duration=0 --warmUp=0 --saveEngine=" + shq(engine) +
                                         " --exportTimes=" + shq(dir.file("t.json")) + " --percentile=50,99" +
                                         " --exportLayerInfo=" + shq(dir.file("layers.json")) +
                                         " --exportProfile=" + shq(dir.file("prof.json")) +
                                         " --exportOutput=" + shq(dir.file("out.json")) + " --useCudaGraph");
    ASSERT_EQ(r.exitCode, 0) << r.err << r.out;
    for (const char* s :
         {"&&&& RUNNING Kiln.exec", "[I] Engine built in ", "[I] === Performance summary ===", "[I] Throughput: ",
          "[I] Latency: min = ", "percentile(50%) = ", "percentile(99%) = ", "[I] Enqueue Time: ",
          "[I] GPU Compute Time: ", "[I] Total Host Walltime: ", "x 3x3x8x8", "&&&& PASSED Kiln.exec"}) {
        EXPECT_NE(r.out.find(s), std::string::npos) << "no '" << s << "' in:\n" << r.out;
    }
    EXPECT_NE(r.err.find("--useCudaGraph has no effect on the cpu backend"), std::string::npos) << r.err;
    EXPECT_GE(nlohmann::json::parse(readFile(dir.file("t.json"))).size(), 5u);
    EXPECT_EQ(nlohmann::json::parse(readFile(dir.file("layers.json")))[0]["op"], "FusedConv");
    EXPECT_EQ(nlohmann::json::parse(readFile(dir.file("prof.json")))[0]["count"], 5);
    const auto out = nlohmann::json::parse(readFile(dir.file("out.json")));
    EXPECT_EQ(out[0]["name"], "y");
    EXPECT_EQ(out[0]["dimensions"], "3x4x8x8");
    EXPECT_EQ(out[0]["values"].size(), 3u * 4 * 8 * 8);

    // The saved engine loads back.
    const CliResult loaded = runKiln(dir, "exec --loadEngine=" + shq(engine) +
                                              " --shapes=x:2x3x8x8 --iterations=2 --duration=0 --warmUp=0"
                                              " --dumpLayerInfo --dumpProfile");
    ASSERT_EQ(loaded.exitCode, 0) << loaded.err;
    EXPECT_NE(loaded.out.find("[I] Engine loaded from "), std::string::npos) << loaded.out;
    EXPECT_NE(loaded.out.find("Conv + bias + Relu"), std::string::npos) << loaded.out;
    EXPECT_NE(loaded.out.find("ms per run over 2 runs"), std::string::npos) << loaded.out;
}

TEST(CliExec, FlagsItCannotHonour) {
    TempDir dir;
    const std::string model = dir.write("add.onnx", addModel());
    const std::string base = "exec --onnx=" + shq(model) + " --iterations=1 --duration=0 --warmUp=0";
    expectOneErrorLine(runKiln(dir, base + " --fp61"), {"unknown trtexec flag '--fp61'", "did you mean --fp16?"},
                       "typo", 2);
    expectOneErrorLine(runKiln(dir, base + " --frobnicate=3"), {"'--frobnicate'"}, "unknown", 2);
    expectOneErrorLine(runKiln(dir, base + " --sparsity=enable"), {"'--sparsity'", "no sparse kernels"}, "refused", 2);
    expectOneErrorLine(runKiln(dir, base + " --batch=4"), {"'--batch'", "--shapes"}, "implicit batch", 2);
    expectOneErrorLine(runKiln(dir, base + " --iterations=many"), {"--iterations", "many"}, "not a number", 2);
    expectOneErrorLine(runKiln(dir, "exec --iterations=3"), {"--onnx=", "--loadEngine="}, "no model", 2);
    expectOneErrorLine(runKiln(dir, "exec --onnx=" + shq(dir.file("no.onnx"))), {"no.onnx"}, "missing model", 3);
    const CliResult warned = runKiln(dir, base + " --threads --noBuilderCache");
    EXPECT_EQ(warned.exitCode, 0) << warned.err;
    EXPECT_NE(warned.err.find("kiln: warning: trtexec flag '--threads' has no effect here"), std::string::npos)
        << warned.err;
}

}  // namespace
}  // namespace kiln::testing
