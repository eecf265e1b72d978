// `kiln compare` through the executable: pass (exit 0), fail (exit 1), given inputs, tolerances, bad arguments.
#include <gtest/gtest.h>

#include "unit/cli_test_util.h"

namespace kiln::testing {
namespace {

TEST(CliCompare, PassAndFail) {
    TempDir dir;
    const std::string model = dir.write("add.onnx", addModel());
    const std::string engine = dir.file("add.engine");
    ASSERT_EQ(runKiln(dir, "build -q " + shq(model) + " -o " + shq(engine)).exitCode, 0);
    const CliResult pass = runKiln(dir, "compare " + shq(model) + " " + shq(engine));
    EXPECT_EQ(pass.exitCode, 0) << pass.err << pass.out;
    EXPECT_NE(pass.out.find("rtol 0.0001, atol 1e-06"), std::string::npos) << pass.out;
    EXPECT_NE(pass.out.find("PASS: 1 output within tolerance"), std::string::npos) << pass.out;

    // An engine of another model with the same I/O (y = 3x instead of 2x): every element is off by |x|.
    const std::string other = dir.write("triple.onnx", cli_models::tripleModel());
    const std::string wrong = dir.file("triple.engine");
    ASSERT_EQ(runKiln(dir, "build -q " + shq(other) + " -o " + shq(wrong) + " --fp16").exitCode, 0);
    const std::string x = dir.writeBytes("x.npy", npyBytes({1, -2, 3, -4, 5, -6}, {2, 3}));
    const CliResult fail = runKiln(dir, "compare " + shq(model) + " " + shq(wrong) + " --input x:" + shq(x));
    EXPECT_EQ(fail.exitCode, 1) << fail.err << fail.out;
    // The CPU backend computes an --fp16 engine in FP32: FP32's tolerance, and compare says why.
    EXPECT_NE(fail.out.find("allows fp32+tf32+fp16, computes in fp32"), std::string::npos) << fail.out;
    EXPECT_NE(fail.out.find("rtol 0.0001"), std::string::npos) << "fp16 CPU engine tolerance:\n" << fail.out;
    EXPECT_NE(fail.out.find("from file"), std::string::npos) << fail.out;
    EXPECT_NE(fail.out.find(" 6          0.5           6  FAIL"), std::string::npos) << "max abs 6, max rel 0.5, "
                                                                                     << "6 mismatches:\n"
                                                                                     << fail.out;
    EXPECT_NE(fail.out.find("FAIL: 1 of 1 outputs outside tolerance"), std::string::npos) << fail.out;
    // A loose enough tolerance passes it.
    EXPECT_EQ(
        runKiln(dir, "compare " + shq(model) + " " + shq(wrong) + " --input x:" + shq(x) + " --rtol 0.6").exitCode, 0);
}

TEST(CliCompare, BadArgumentsGiveOneLine) {
    TempDir dir;
    const std::string model = dir.write("add.onnx", addModel());
    expectOneErrorLine(runKiln(dir, "compare " + shq(dir.file("no.onnx")) + " " + shq(model)), {"no.onnx"},
                       "missing model", 3);
    expectOneErrorLine(runKiln(dir, "compare " + shq(model) + " " + shq(dir.file("no.engine"))), {"no.engine"},
                       "missing engine", 3);
    expectOneErrorLine(runKiln(dir, "compare " + shq(model) + " " + shq(model) + " --rtol -1"), {"--rtol"},
                       "negative tolerance", 2);
    expectOneErrorLine(runKiln(dir, "compare " + shq(model) + " " + shq(model) + " --shapes x:2x4"), {"'x'", "2x4"},
                       "shape the model does not take", 3);
}

TEST(CliCompare, TensorProtoInputs) {
    TempDir dir;
    const std::string model = dir.write("add.onnx", addModel());
    std::string bytes;
    ASSERT_TRUE(floatTensor("x", {2, 3}, {1, -2, 3, -4, 5, -6}).SerializeToString(&bytes));
    const std::string pb = dir.writeBytes("input_0.pb", bytes);
    const CliResult r = runKiln(dir, "compare " + shq(model) + " " + shq(model) + " --input x:" + shq(pb));
    EXPECT_EQ(r.exitCode, 0) << r.err << r.out;
    EXPECT_NE(r.out.find("x float32[2x3] (from file)"), std::string::npos) << r.out;
    const std::string bad = dir.writeBytes("bad.pb", "not a tensor");
    expectOneErrorLine(runKiln(dir, "compare " + shq(model) + " " + shq(model) + " --input x:" + shq(bad)), {"bad.pb"},
                       "a .pb file that is not a TensorProto", 3);
}

TEST(CliCompare, RealModel) {
    const std::string model = realModel("ppocr_cls");
    if (model.empty()) GTEST_SKIP() << "ppocr_cls not prepared (tests/models/prepare_models.sh)";
    TempDir dir;
    const std::string engine = dir.file("cls.engine");
    ASSERT_EQ(runKiln(dir, "build -q " + shq(model) + " -o " + shq(engine) + " --shapes x:2x3x48x192").exitCode, 0);
    const CliResult r = runKiln(dir, "compare " + shq(model) + " " + shq(engine) + " --seed 3");
    EXPECT_EQ(r.exitCode, 0) << r.err << r.out;
    EXPECT_NE(r.out.find("softmax_0.tmp_0"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace kiln::testing
