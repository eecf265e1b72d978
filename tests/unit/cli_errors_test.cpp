// Bad input through the `kiln` executable: `kiln check` and `kiln run` exit non-zero and print exactly one line on
// stderr, "kiln: error: ...", naming the file.
#include <gtest/gtest.h>

#include "frontend/onnx/tensor_proto.h"
#include "unit/bad_models.h"
#include "unit/cli_test_util.h"

namespace kiln::testing {
namespace {

class CliErrors : public ::testing::TestWithParam<BadModelCase> {};

TEST_P(CliErrors, CheckAndRunFailWithOneErrorLine) {
    const BadModelCase& c = GetParam();
    TempDir dir;
    const std::string path = c.make(dir);
    const std::string quoted = "'" + path + "'";

    const CliResult check = runKiln(dir, "check " + quoted);
    expectOneErrorLine(check, {path}, "kiln check");
    if (c.unsupportedOnly) {
        // The report itself goes to stdout, one unsupported node per line.
        EXPECT_NE(check.out.find("unsupported node"), std::string::npos) << check.out;
    } else {
        for (const auto& m : c.mentions) {
            EXPECT_NE(check.err.find(m), std::string::npos) << "no '" << m << "' in: " << check.err;
        }
    }

    const CliResult run = runKiln(dir, "run " + quoted);
    expectOneErrorLine(run, {path}, "kiln run");
    for (const auto& m : c.mentions)
        EXPECT_NE(run.err.find(m), std::string::npos) << "no '" << m << "' in: " << run.err;
    EXPECT_TRUE(run.out.empty()) << run.out;
}

INSTANTIATE_TEST_SUITE_P(BadModels, CliErrors, ::testing::ValuesIn(badModelCases()),
                         [](const auto& info) { return info.param.name; });

TEST(CliErrors, CheckListsEveryUnsupportedNode) {
    TempDir dir;
    const std::string path = bad_models::severalUnknownOps(dir);
    const CliResult r = runKiln(dir, "check '" + path + "'");
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_EQ(r.err, "kiln: error: " + path + ": 4 unsupported nodes\n");
    for (const char* op : {"Mystery", "Enigma", "Riddle", "Conundrum"}) {
        EXPECT_NE(r.out.find(op), std::string::npos) << op << " missing from:\n" << r.out;
    }
}

TEST(CliErrors, CheckPassesASupportedModel) {
    TempDir dir;
    const std::string path = dir.write("add.onnx", addModel());
    const CliResult r = runKiln(dir, "check '" + path + "'");
    EXPECT_EQ(r.exitCode, 0) << r.err;
    EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST(CliErrors, RunWithABadInputFileNamesIt) {
    TempDir dir;
    const std::string model = dir.write("add.onnx", addModel());
    const std::string input = dir.writeBytes("x.pb", "garbage");
    const CliResult r = runKiln(dir, "run '" + model + "' --input x='" + input + "'");
    expectOneErrorLine(r, {input}, "kiln run --input");
}

TEST(CliErrors, RunThatCannotWriteItsOutputsSaysSoOnOneLine) {
    TempDir dir;
    const std::string model = dir.write("add.onnx", addModel());
    onnx::TensorProto x;
    onnx_frontend::tensorToProto(Tensor::fromVector<float>({1, 2, 3, 4, 5, 6}, {2, 3}), "x", x);
    const std::string input = dir.writeBytes("x.pb", x.SerializeAsString());
    const std::string notADir = dir.writeBytes("plain_file", "");
    const CliResult ok = runKiln(dir, "run '" + model + "' --input x='" + input + "'");
    EXPECT_EQ(ok.exitCode, 0) << ok.err;
    const CliResult r =
        runKiln(dir, "run '" + model + "' --input x='" + input + "' --output-dir '" + notADir + "/out'");
    expectOneErrorLine(r, {notADir}, "kiln run --output-dir");
}

TEST(CliErrors, RunWithAMissingInputNamesIt) {
    TempDir dir;
    const std::string model = dir.write("add.onnx", addModel());
    const CliResult r = runKiln(dir, "run '" + model + "'");
    EXPECT_NE(r.exitCode, 0);
    EXPECT_EQ(r.err, "kiln: error: missing input 'x'\n");
}

}  // namespace
}  // namespace kiln::testing
