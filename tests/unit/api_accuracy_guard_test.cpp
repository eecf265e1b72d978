// The accuracy guard in the build (BuilderConfig::setAccuracyTarget), on the CPU with FP16/BF16 emulation: a model
// whose lowering breaks the tolerance is fixed by keeping its cancelling layers in FP32; the guard's options,
// errors and reuse; and a real model judged against onnxruntime.
#include <gtest/gtest.h>

#include <cmath>

#include "frontend/onnx/tensor_proto.h"
#include "passes/layer_precision.h"
#include "plan/engine_file.h"
#include "unit/api_test_util.h"
#include "unit/guard_models.h"
#include "unit/passes_test_util.h"

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;
using Severity = ILogger::Severity;

std::map<std::string, Tensor> sampleOf(float phase) {
    Tensor x(DataType::kFloat32, {1, 64});
    for (int64_t i = 0; i < 64; ++i) x.data<float>()[i] = std::sin(0.37F * static_cast<float>(i) + phase);
    return {{"x", x}};
}

struct Guarded {
    CollectingLogger logger;
    Builder builder{logger};
    std::unique_ptr<NetworkDefinition> network = builder.createNetwork();
    std::unique_ptr<BuilderConfig> config = builder.createBuilderConfig();

    explicit Guarded(const std::string& path, BuilderFlag precision = BuilderFlag::kFP16) {
        OnnxParser parser(*network, logger);
        const Status s = parser.parseFromFile(path);
        EXPECT_TRUE(s.isOk()) << s.message();
        config->setBackend(Backend::kCpu);
        config->setFlag(BuilderFlag::kEMULATE_REDUCED_PRECISION);
        config->setFlag(precision);
    }
    Result<plan::EngineFile> build() {
        KILN_ASSIGN_OR_RETURN(auto bytes, builder.buildSerializedNetwork(*network, *config));
        return plan::loadEngineFromMemory(bytes->data(), bytes->size(), nullptr);
    }
    //! The engine's error on `inputs` against an FP32 build of the same network.
    double errorOn(const plan::EngineFile& file, const std::map<std::string, Tensor>& inputs) {
        Runtime runtime(logger);
        auto bytes = plan::serializeEngine(*file.graph, file.metadata);
        auto engine = runtime.deserializeEngine(bytes->data(), bytes->size());
        auto fp32Config = builder.createBuilderConfig();
        fp32Config->setBackend(Backend::kCpu);
        auto fp32 = builder.buildEngine(*network, *fp32Config);
        EXPECT_TRUE(engine.isOk() && fp32.isOk());
        auto got = (*(*engine)->createExecutionContext())->infer(inputs);
        auto want = (*(*fp32)->createExecutionContext())->infer(inputs);
        return maxRelError(got->at("y"), want->at("y"));
    }
};

const ir::Node* nodeNamed(const ir::Graph& g, const std::string& name) {
    for (const auto& n : g.nodes()) {
        if (n->name() == name) return n.get();
    }
    return nullptr;
}

bool lowered(const ir::Node* n) {
    return n != nullptr && std::any_of(n->outputs().begin(), n->outputs().end(), [](const ir::Value* v) {
               return v && (v->dtype() == DataType::kFloat16 || v->dtype() == DataType::kBFloat16);
           });
}

TEST(AccuracyGuard, KeepsTheCancellingLayersInFp32AndMeetsTheTarget) {
    TempDir dir;
    Guarded p(dir.write("cancel.onnx", cancellingModel(false)));
    p.config->setCalibrationInputs({sampleOf(0.0F), sampleOf(1.0F)});
    const auto judged = sampleOf(2.5F);  // not a calibration sample

    auto plain = p.build();  // the emulated FP16 engine without the guard misses 1e-2
    ASSERT_TRUE(plain.isOk()) << plain.status().message();
    EXPECT_TRUE(lowered(nodeNamed(*plain->graph, "unshift")));
    EXPECT_GT(p.errorOn(*plain, judged), 5e-2);

    ASSERT_TRUE(p.config->setAccuracyTarget(1e-2).isOk());
    auto guarded = p.build();
    ASSERT_TRUE(guarded.isOk()) << guarded.status().message();
    for (const char* name : {"shift", "unshift"}) {
        const ir::Node* n = nodeNamed(*guarded->graph, name);
        ASSERT_NE(n, nullptr) << name;
        EXPECT_FALSE(lowered(n)) << name;
        EXPECT_EQ(passes::pinnedPrecision(*n), DataType::kFloat32) << name;
    }
    EXPECT_TRUE(lowered(nodeNamed(*guarded->graph, "relu"))) << "a harmless layer stays FP16";
    EXPECT_LE(p.errorOn(*guarded, judged), 1e-2);

    const auto& o = guarded->metadata.buildOptions;
    EXPECT_EQ(o.at("accuracy_target"), "0.01");
    EXPECT_EQ(o.at("accuracy.met"), "1");
    EXPECT_EQ(o.at("accuracy.calibration"), "2 given samples");
    EXPECT_NE(o.at("accuracy.fp32_layers").find("unshift"), std::string::npos);
    EXPECT_LT(std::stoi(o.at("accuracy.kept_fp32")), std::stoi(o.at("accuracy.lowered")));
    EXPECT_EQ(o.count("layer_precision.0"), 0u) << "the guard's pins are not the config's";
    EXPECT_TRUE(p.logger.contains(Severity::kInfo, "accuracy guard: kept ")) << "the summary line";
    EXPECT_TRUE(p.logger.contains(Severity::kInfo, "<= 0.01 ("));
}

TEST(AccuracyGuard, OverflowToInfFailsACandidateAndIsKeptInFp32) {
    TempDir dir;
    Guarded p(dir.write("overflow.onnx", cancellingModel(true)));
    ASSERT_TRUE(p.config->setAccuracyTarget(1e-2).isOk());
    auto guarded = p.build();  // random calibration inputs
    ASSERT_TRUE(guarded.isOk()) << guarded.status().message();
    EXPECT_FALSE(lowered(nodeNamed(*guarded->graph, "grow")));
    EXPECT_LE(p.errorOn(*guarded, sampleOf(0.3F)), 1e-2);
    EXPECT_TRUE(p.logger.contains(Severity::kInfo, "error inf")) << "the fully lowered candidate overflowed";
    EXPECT_TRUE(p.logger.contains(Severity::kWarning, "random"));
    EXPECT_EQ(guarded->metadata.buildOptions.at("accuracy.calibration"), "random");
}

TEST(AccuracyGuard, BF16IsGuardedToo) {
    TempDir dir;
    Guarded p(dir.write("cancel.onnx", cancellingModel(false)), BuilderFlag::kBF16);
    p.config->setCalibrationInputs({sampleOf(0.0F)});
    ASSERT_TRUE(p.config->setAccuracyTarget(1e-2).isOk());
    auto guarded = p.build();
    ASSERT_TRUE(guarded.isOk()) << guarded.status().message();
    EXPECT_FALSE(lowered(nodeNamed(*guarded->graph, "unshift")));
    EXPECT_LE(p.errorOn(*guarded, sampleOf(2.0F)), 1e-2);
}

TEST(AccuracyGuard, APinnedLayerItCannotChangeMissesTheTargetWarningOrFailingWhenStrict) {
    TempDir dir;
    Guarded p(dir.write("cancel.onnx", cancellingModel(false)));
    // The user's fp16 pin is obeyed: the guard cannot keep "unshift" in FP32.
    ASSERT_TRUE(p.config->setLayerPrecision("unshift", DataType::kFloat16).isOk());
    p.config->setCalibrationInputs({sampleOf(0.0F)});
    ASSERT_TRUE(p.config->setAccuracyTarget(1e-2).isOk());
    auto built = p.build();
    ASSERT_TRUE(built.isOk()) << built.status().message();
    EXPECT_EQ(built->metadata.buildOptions.at("accuracy.met"), "0");
    EXPECT_TRUE(p.logger.contains(Severity::kWarning, "accuracy guard: target 0.01 not met"));

    ASSERT_TRUE(p.config->setAccuracyTarget(1e-2, true).isOk());
    auto strict = p.build();
    ASSERT_FALSE(strict.isOk());
    EXPECT_EQ(strict.status().code(), ErrorCode::kUnsupported);
    EXPECT_NE(strict.status().message().find("not met"), std::string::npos) << strict.status().message();
}

TEST(AccuracyGuard, ErrorsNameTheSampleAndTheInput) {
    TempDir dir;
    Guarded p(dir.write("cancel.onnx", cancellingModel(false)));
    EXPECT_EQ(p.config->setAccuracyTarget(-1).code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(p.config->setAccuracyTarget(NAN).code(), ErrorCode::kInvalidArgument);
    ASSERT_TRUE(p.config->setAccuracyTarget(1e-2).isOk());
    auto expectError = [&](std::vector<std::map<std::string, Tensor>> samples, const std::string& why) {
        p.config->setCalibrationInputs(std::move(samples));
        auto r = p.build();
        ASSERT_FALSE(r.isOk());
        EXPECT_NE(r.status().message().find(why), std::string::npos) << r.status().message();
    };
    expectError({sampleOf(0), {}}, "calibration sample 1 lacks input 'x'");
    auto extra = sampleOf(0);
    extra["z"] = Tensor(DataType::kFloat32, {1});
    expectError({extra}, "calibration sample 0 gives 'z', which is not an input of the network (inputs: x)");
    expectError({{{"x", Tensor(DataType::kInt64, {1, 64})}}}, "input 'x' is int64, the network takes float32");
    expectError({{{"x", Tensor(DataType::kFloat32, {2, 64})}}}, "'x'");
}

TEST(AccuracyGuard, NothingToGuardWithoutEmulationOnTheCpu) {
    TempDir dir;
    Guarded p(dir.write("cancel.onnx", cancellingModel(false)));
    p.config->clearFlag(BuilderFlag::kEMULATE_REDUCED_PRECISION);
    ASSERT_TRUE(p.config->setAccuracyTarget(1e-2).isOk());
    auto built = p.build();
    ASSERT_TRUE(built.isOk()) << built.status().message();
    EXPECT_TRUE(
        p.logger.contains(Severity::kInfo, "accuracy guard: nothing to guard: the CPU backend computes in FP32"));
    EXPECT_FALSE(lowered(nodeNamed(*built->graph, "unshift")));
}

TEST(AccuracyGuard, EngineFilesRebuildWhenTheTargetChanges) {
    TempDir dir;
    Guarded p(dir.write("cancel.onnx", cancellingModel(false)));
    p.config->setCalibrationInputs({sampleOf(0.0F)});
    ASSERT_TRUE(p.config->setAccuracyTarget(1e-2).isOk());
    const std::string model = dir.file("cancel.onnx");
    const std::string engine = dir.file("cancel.engine");
    auto first = p.builder.buildEngineFile(model, *p.config, engine);
    ASSERT_TRUE(first.isOk()) << first.status().message();
    auto again = p.builder.buildEngineFile(model, *p.config, engine);
    ASSERT_TRUE(again.isOk()) << again.status().message();
    EXPECT_EQ(again->action, EngineFileAction::kLoaded) << again->reason;
    ASSERT_TRUE(p.config->setAccuracyTarget(2e-2).isOk());
    auto changed = p.builder.buildEngineFile(model, *p.config, engine);
    ASSERT_TRUE(changed.isOk()) << changed.status().message();
    EXPECT_EQ(changed->action, EngineFileAction::kRebuilt);
    EXPECT_NE(changed->reason.find("accuracy_target '0.01' -> '0.02'"), std::string::npos) << changed->reason;
}

//! PP-OCRv4 rec, FP16 emulated on the CPU, judged on onnxruntime's test outputs; calibrated on other real data: the
//! test crops mirrored left to right (text statistics, not the judged pixels). Unguarded, it misses 1e-2 (1.8e-2).
TEST(AccuracyGuard, RealModelMeetsTheTargetAgainstOnnxruntime) {
    const fs::path dir = modelsDir() / "ppocrv4_rec";
    if (!fs::exists(dir / "model.onnx")) GTEST_SKIP() << "no " << dir / "model.onnx";
    Guarded p((dir / "model.onnx").string());
    std::map<std::string, Tensor> inputs;
    ASSERT_TRUE(readInputsAndPinProfile(p.builder, *p.network, *p.config, dir, inputs));
    ASSERT_TRUE(p.config->setAccuracyTarget(1e-2).isOk());
    std::map<std::string, Tensor> mirrored;
    for (const auto& [name, t] : inputs) {
        Tensor m(t.dtype(), t.shape());
        const int64_t w = t.shape().back();
        for (int64_t i = 0; i < t.numel(); ++i) m.data<float>()[i] = t.data<float>()[i - i % w + (w - 1 - i % w)];
        mirrored.emplace(name, std::move(m));
    }
    p.config->setCalibrationInputs({mirrored});
    auto engine = p.builder.buildEngine(*p.network, *p.config);
    ASSERT_TRUE(engine.isOk()) << engine.status().message();
    auto got = (*(*engine)->createExecutionContext())->infer(inputs);
    ASSERT_TRUE(got.isOk()) << got.status().message();
    auto want = onnx_frontend::readTensorProtoFile((dir / "test_data_set_0" / "output_0.pb").string());
    ASSERT_TRUE(want.isOk()) << want.status().message();
    const std::string out = *p.network->getOutputName(0);
    EXPECT_LE(maxRelError(got->at(out), *want), 1e-2);
    EXPECT_TRUE(p.logger.contains(Severity::kInfo, "accuracy guard: kept "));
}

}  // namespace
}  // namespace kiln::testing
