// Helpers for the tests of the public API (kiln/kiln.h): a logger that keeps what it is told, the real models'
// folder, optimization profiles pinned to a real model's stored test inputs, and a profiler that records.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "frontend/onnx/tensor_proto.h"
#include "kiln/kiln.h"

namespace kiln::testing {

class CollectingLogger : public ILogger {
public:
    void log(Severity severity, const char* msg) noexcept override {
        std::lock_guard<std::mutex> lock(mMutex);
        lines.emplace_back(severity, msg);
    }
    bool contains(Severity severity, const std::string& text) const {
        std::lock_guard<std::mutex> lock(mMutex);
        for (const auto& [s, m] : lines) {
            if (s == severity && m.find(text) != std::string::npos) return true;
        }
        return false;
    }
    std::vector<std::pair<Severity, std::string>> lines;

private:
    mutable std::mutex mMutex;
};

//! The real models (tests/models/prepare_models.sh); KILN_MODELS_DIR in the environment overrides.
inline std::filesystem::path modelsDir() {
    if (const char* env = std::getenv("KILN_MODELS_DIR")) return env;
    return KILN_MODELS_DIR;
}

//! Reads `modelDir`/test_data_set_0's inputs by the network's input names and, when an input has dynamic dims, adds
//! to `config` one profile pinned to the stored inputs' shapes. Fails the test (returns false) on unreadable data.
inline bool readInputsAndPinProfile(Builder& builder, const NetworkDefinition& network, BuilderConfig& config,
                                    const std::filesystem::path& modelDir, std::map<std::string, Tensor>& inputs) {
    const std::filesystem::path set = modelDir / "test_data_set_0";
    auto profile = builder.createOptimizationProfile();
    bool dynamic = false;
    for (int32_t i = 0; i < network.getNbInputs(); ++i) {
        auto t = onnx_frontend::readTensorProtoFile((set / ("input_" + std::to_string(i) + ".pb")).string());
        EXPECT_TRUE(t.isOk()) << t.status().message();
        if (!t) return false;
        const std::string name = *network.getInputName(i);
        const Shape shape = *network.getTensorShape(name);
        if (std::any_of(shape.begin(), shape.end(), [](int64_t d) { return d < 0; })) {
            dynamic = true;
            for (auto sel : {OptProfileSelector::kMIN, OptProfileSelector::kOPT, OptProfileSelector::kMAX}) {
                EXPECT_TRUE(profile->setDimensions(name, sel, t->shape()).isOk());
            }
        }
        inputs.emplace(name, std::move(t).value());
    }
    if (dynamic) {
        const Status s = config.addOptimizationProfile(*profile);
        EXPECT_TRUE(s.isOk()) << s.message();
        return s.isOk();
    }
    return true;
}

//! A Profiler that records every layer time a context reports, in order.
class RecordingProfiler final : public Profiler {
public:
    void reportLayerTime(const char* layerName, float ms) noexcept override { layers.emplace_back(layerName, ms); }
    std::vector<std::pair<std::string, float>> layers;
};

}  // namespace kiln::testing
