// kiln build --accuracy RTOL (the accuracy guard) with --emulate-precision on the CPU: the summary line, what inspect
// shows, and the one-line errors of its flags and calibration files.
#include <gtest/gtest.h>

#include <cmath>

#include "frontend/onnx/tensor_proto.h"
#include "unit/cli_test_util.h"
#include "unit/guard_models.h"

namespace kiln::testing {
namespace {

std::string writeSample(const TempDir& dir, const std::string& file, const Shape& shape, float phase) {
    Tensor x(DataType::kFloat32, shape);
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = std::sin(0.37F * static_cast<float>(i) + phase);
    onnx::TensorProto proto;
    onnx_frontend::tensorToProto(x, "x", proto);
    return dir.writeBytes(file, proto.SerializeAsString());
}

TEST(CliAccuracy, BuildKeepsLayersInFp32AndSaysSo) {
    TempDir dir;
    const std::string model = dir.write("cancel.onnx", cancellingModel(false));
    const std::string a = writeSample(dir, "a.pb", {1, 64}, 0.0F);
    const std::string b = writeSample(dir, "b.pb", {1, 64}, 1.0F);
    const std::string engine = dir.file("cancel.engine");
    const CliResult r =
        runKiln(dir, "build " + shq(model) + " -o " + shq(engine) +
                         " --backend cpu --fp16 --emulate-precision --accuracy 1e-2 --calib-inputs x:" + shq(a) +
                         " --calib-inputs x:" + shq(b));
    ASSERT_EQ(r.exitCode, 0) << r.err;
    EXPECT_NE(r.out.find("accuracy     kept "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("<= 0.01 (calibration: 2 given samples)"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("fp16 x"), std::string::npos) << "harmless layers stay FP16: " << r.out;

    const CliResult inspect = runKiln(dir, "inspect " + shq(engine));
    ASSERT_EQ(inspect.exitCode, 0) << inspect.err;
    EXPECT_NE(inspect.out.find("accuracy.met=1"), std::string::npos) << inspect.out;
    EXPECT_NE(inspect.out.find("unshift"), std::string::npos) << inspect.out;

    // Same target: reused; another target: rebuilt.
    const CliResult again = runKiln(dir, "build " + shq(model) + " -o " + shq(engine) +
                                             " --backend cpu --fp16 --emulate-precision --accuracy 1e-2 "
                                             "--calib-inputs x:" +
                                             shq(a) + " --calib-inputs x:" + shq(b));
    EXPECT_NE(again.out.find("loaded "), std::string::npos) << again.out << again.err;
    const CliResult other = runKiln(dir, "build " + shq(model) + " -o " + shq(engine) +
                                             " --backend cpu --fp16 --emulate-precision --accuracy 2e-2");
    EXPECT_NE(other.out.find("rebuilt "), std::string::npos) << other.out << other.err;
    EXPECT_NE(other.err.find("judging on random ones"), std::string::npos)
        << "random calibration is announced: " << other.err;
}

TEST(CliAccuracy, ErrorsAreOneLineAndNameTheThing) {
    TempDir dir;
    const std::string model = dir.write("cancel.onnx", cancellingModel(false));
    const std::string engine = dir.file("cancel.engine");
    const std::string base =
        "build " + shq(model) + " -o " + shq(engine) + " --backend cpu --fp16 --emulate-precision ";
    expectOneErrorLine(runKiln(dir, base + "--accuracy abc"), {"--accuracy 'abc'"}, "bad RTOL", 2);
    expectOneErrorLine(runKiln(dir, base + "--accuracy 0"), {"--accuracy '0'"}, "zero RTOL", 2);
    expectOneErrorLine(runKiln(dir, base + "--calib-inputs x:a.pb"), {"--calib-inputs needs --accuracy"},
                       "calibration without a target", 2);
    expectOneErrorLine(runKiln(dir, base + "--accuracy 1e-2 --calib-inputs nofile"), {"--calib-inputs 'nofile'"},
                       "malformed NAME:FILE", 2);
    const std::string missing = dir.file("missing.pb");
    expectOneErrorLine(runKiln(dir, base + "--accuracy 1e-2 --calib-inputs x:" + shq(missing)), {missing},
                       "missing calibration file");
    const std::string wide = writeSample(dir, "wide.pb", {2, 64}, 0.0F);
    expectOneErrorLine(runKiln(dir, base + "--accuracy 1e-2 --calib-inputs x:" + shq(wide)),
                       {"calibration sample 0", "'x'"}, "calibration shape");
    const std::string a = writeSample(dir, "a.pb", {1, 64}, 0.0F);
    expectOneErrorLine(runKiln(dir, base + "--accuracy 1e-2 --calib-inputs y:" + shq(a)),
                       {"calibration sample 0 gives 'y'", "(inputs: x)"}, "unknown calibration input");
}

}  // namespace
}  // namespace kiln::testing
