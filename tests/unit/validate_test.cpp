// kiln/validate.h: an engine against the reference executor, and the comparison rules.
#include "kiln/validate.h"

#include <gtest/gtest.h>

#include <cmath>

#include "unit/cli_test_util.h"

namespace kiln::testing {
namespace {

class Quiet : public ILogger {
    void log(Severity, const char*) noexcept override {}
};

std::unique_ptr<Engine> build(const std::string& path, ILogger& logger) {
    Builder builder(logger);
    auto network = builder.createNetwork();
    OnnxParser parser(*network, logger);
    EXPECT_TRUE(parser.parseFromFile(path).isOk());
    auto engine = builder.buildEngine(*network, *builder.createBuilderConfig());
    EXPECT_TRUE(engine.isOk()) << engine.status().message();
    return std::move(engine).value();
}

TEST(Validate, EngineAgainstReference) {
    TempDir dir;
    Quiet logger;
    const std::string model = dir.write("conv.onnx", cli_models::convRelu());
    auto engine = build(model, logger);
    Tensor x(DataType::kFloat32, {1, 3, 8, 8});
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = std::sin(static_cast<float>(i));
    auto report = validateEngine(*engine, model, {{"x", x}}, Tolerances::forFlags({}));
    ASSERT_TRUE(report.isOk()) << report.status().message();
    EXPECT_TRUE(report->passed());
    ASSERT_EQ(report->outputs.size(), 1u);
    EXPECT_EQ(report->outputs[0].name, "y");
    EXPECT_EQ(report->outputs[0].shape, (Shape{1, 4, 8, 8}));
    EXPECT_LE(report->outputs[0].maxRelError, 1e-5);

    // Another model's engine with the same I/O fails the comparison (not an error).
    auto other = build(dir.write("triple.onnx", cli_models::tripleModel()), logger);
    const std::string add = dir.write("add.onnx", addModel());
    auto mismatch = validateEngine(*other, add, {{"x", Tensor::fromVector<float>({1, 2, 3, 4, 5, 6}, {2, 3})}}, {});
    ASSERT_TRUE(mismatch.isOk()) << mismatch.status().message();
    EXPECT_FALSE(mismatch->passed());
    EXPECT_DOUBLE_EQ(mismatch->outputs[0].maxAbsError, 6.0);
    EXPECT_DOUBLE_EQ(mismatch->outputs[0].maxRelError, 0.5);
    EXPECT_EQ(mismatch->outputs[0].worstIndex, 5);
    EXPECT_EQ(mismatch->outputs[0].mismatches, 6);

    // Inputs the engine rejects are an error naming the input.
    auto bad = validateEngine(*engine, model, {{"x", Tensor(DataType::kFloat32, {1, 3, 4, 4})}}, {});
    ASSERT_FALSE(bad.isOk());
    EXPECT_NE(bad.status().message().find("'x'"), std::string::npos) << bad.status().message();
    auto missing = validateEngine(*engine, dir.file("gone.onnx"), {{"x", x}}, {});
    ASSERT_FALSE(missing.isOk());
    EXPECT_NE(missing.status().message().find("gone.onnx"), std::string::npos) << missing.status().message();
}

TEST(Validate, ComparisonRules) {
    const Tolerances tol{1e-2, 1e-4};
    auto one = [&](Tensor ref, Tensor got) {
        return compareOutputs({{"o", std::move(ref)}}, {{"o", std::move(got)}}, tol).outputs.at(0);
    };
    // Within atol + rtol * max|ref| = 1e-4 + 1e-2 * 10.
    EXPECT_TRUE(one(Tensor::fromVector<float>({10, 0}), Tensor::fromVector<float>({10.05f, 0.05f})).passed);
    EXPECT_FALSE(one(Tensor::fromVector<float>({10, 0}), Tensor::fromVector<float>({10, 0.2f})).passed);
    // NaN where the reference has NaN is agreement; elsewhere a failure that says where.
    EXPECT_TRUE(one(Tensor::fromVector<float>({NAN, 1}), Tensor::fromVector<float>({NAN, 1})).passed);
    const auto nan = one(Tensor::fromVector<float>({1, 1}), Tensor::fromVector<float>({1, NAN}));
    EXPECT_FALSE(nan.passed);
    EXPECT_EQ(nan.problem, "NaN in the engine output at index 1");
    // Integers must match exactly; shapes and dtypes must agree; a missing output is named.
    EXPECT_FALSE(one(Tensor::fromVector<int64_t>({1, 2}), Tensor::fromVector<int64_t>({1, 3})).passed);
    EXPECT_TRUE(one(Tensor::fromVector<int64_t>({1, 2}), Tensor::fromVector<int64_t>({1, 2})).passed);
    EXPECT_EQ(one(Tensor::fromVector<float>({1, 2}), Tensor::fromVector<float>({1, 2, 3})).problem,
              "shape 3 vs reference 2");
    EXPECT_EQ(one(Tensor::fromVector<float>({1}), Tensor::fromVector<double>({1})).problem,
              "dtype float64 vs reference float32");
    const auto report = compareOutputs({{"p", Tensor::fromVector<float>({1})}}, {}, tol);
    EXPECT_FALSE(report.passed());
    EXPECT_EQ(report.outputs[0].problem, "the engine has no output 'p'");
    // Tolerances by precision.
    EXPECT_DOUBLE_EQ(Tolerances::forFlags({}).rtol, 1e-4);
    EXPECT_DOUBLE_EQ(Tolerances::forFlags({BuilderFlag::kTF32}).rtol, 2e-3);
    EXPECT_DOUBLE_EQ(Tolerances::forFlags({BuilderFlag::kTF32, BuilderFlag::kBF16}).rtol, 1e-2);
}

//! y = Relu(x * k) on float32[2, 3], the Mul named "scale" and its output "a".
std::string scaleRelu(const TempDir& dir, const std::string& name, float k) {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    addInput(g, "x", onnx::TensorProto::FLOAT, {2, 3});
    addInitializer(g, floatTensor("k", {1}, {k}));
    addNode(g, "Mul", {"x", "k"}, {"a"}, "scale");
    addNode(g, "Relu", {"a"}, {"y"}, "relu");
    addOutput(g, "y", onnx::TensorProto::FLOAT, {2, 3});
    return dir.write(name, m);
}

TEST(Validate, MarkedTensorsInTopologicalOrderAndTheFirstFailure) {
    TempDir dir;
    Quiet logger;
    const std::string want = scaleRelu(dir, "want.onnx", 2);
    Builder builder(logger);
    auto network = builder.createNetwork();
    OnnxParser parser(*network, logger);
    ASSERT_TRUE(parser.parseFromFile(scaleRelu(dir, "got.onnx", 3)).isOk());
    ASSERT_EQ(*markAllTensors(*network), 1);
    auto engine = builder.buildEngine(*network, *builder.createBuilderConfig());
    ASSERT_TRUE(engine.isOk()) << engine.status().message();
    auto report = validateEngine(**engine, want, {{"x", Tensor::fromVector<float>({1, -2, 3, -4, 5, -6}, {2, 3})}},
                                 Tolerances::forFlags({}));
    ASSERT_TRUE(report.isOk()) << report.status().message();
    ASSERT_EQ(report->outputs.size(), 2u);
    // The marked "a" comes first (computed first), though the engine lists it after y.
    EXPECT_EQ(report->outputs[0].name, "a");
    EXPECT_TRUE(report->outputs[0].marked);
    EXPECT_EQ(report->outputs[0].producerOp, "Mul");
    EXPECT_EQ(report->outputs[0].producerName, "scale");
    EXPECT_EQ(report->outputs[0].producerIndex, 0);
    EXPECT_DOUBLE_EQ(report->outputs[0].maxAbsError, 6.0);
    EXPECT_EQ(report->outputs[1].name, "y");
    EXPECT_FALSE(report->outputs[1].marked);
    EXPECT_EQ(report->outputs[1].producerIndex, 1);
    const OutputComparison* first = report->firstFailure();
    ASSERT_NE(first, nullptr);
    EXPECT_EQ(first->name, "a");

    // runReference names an extra tensor the model does not compute.
    auto extra = runReference(want, {{"x", Tensor(DataType::kFloat32, {2, 3})}}, {"nope"});
    ASSERT_FALSE(extra.isOk());
    EXPECT_NE(extra.status().message().find("'nope'"), std::string::npos) << extra.status().message();
}

TEST(Validate, MarkedFloat16TensorsCompareInFloat64AgainstFloat32) {
    const Tolerances tol{1e-2, 1e-4};
    Tensor half(DataType::kFloat16, {2});
    half.data<Half>()[0] = Half(1.0f);
    half.data<Half>()[1] = Half(-0.333f);
    const std::vector<std::pair<std::string, Tensor>> ref{{"t", Tensor::fromVector<float>({1.0f, -0.333f})}};
    const auto marked = compareOutputs(ref, {{"t", half}}, tol, {"t"}).outputs.at(0);
    EXPECT_TRUE(marked.passed) << marked.problem;
    EXPECT_EQ(marked.engineDtype, DataType::kFloat16);
    EXPECT_GT(marked.maxAbsError, 0.0);  // float16's rounding of -0.333, measured exactly
    EXPECT_LT(marked.maxAbsError, 1e-3);
    // A model output keeps its dtype: the same tensor fails there.
    const auto output = compareOutputs(ref, {{"t", half}}, tol).outputs.at(0);
    EXPECT_FALSE(output.passed);
    EXPECT_EQ(output.problem, "dtype float16 vs reference float32");
}

}  // namespace
}  // namespace kiln::testing
