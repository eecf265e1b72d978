// The seed's C++ flow end to end through the public API: build the engine if the file is missing (else load it),
// run it on a deterministic input, print the top-5 of the first output.
//
//   kiln-example-engine-flow model.onnx model.engine
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <vector>

#include "kiln/kiln.h"

namespace {

class Logger : public kiln::ILogger {
    void log(Severity severity, const char* msg) noexcept override {
        if (severity <= Severity::kInfo) std::fprintf(stderr, "[kiln] %s\n", msg);
    }
};

int fail(const kiln::Status& s) {
    std::fprintf(stderr, "error: %s\n", s.message().c_str());
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s model.onnx model.engine\n", argv[0]);
        return 2;
    }
    Logger logger;
    kiln::Runtime runtime(logger);
    auto engine = runtime.loadEngineFile(argv[2]);
    if (!engine) {
        kiln::Builder builder(logger);
        auto network = builder.createNetwork();
        kiln::OnnxParser parser(*network, logger);
        if (kiln::Status s = parser.parseFromFile(argv[1]); !s) return fail(s);
        auto config = builder.createBuilderConfig();
        auto profile = builder.createOptimizationProfile();
        bool dynamic = false;
        for (int32_t i = 0; i < network->getNbInputs(); ++i) {
            const std::string name = network->getInputName(i).value();
            kiln::Shape shape = network->getTensorShape(name).value();
            for (int64_t& d : shape) {
                if (d < 0) d = 1, dynamic = true;  // dynamic dims run at 1 in this example
            }
            for (auto sel :
                 {kiln::OptProfileSelector::kMIN, kiln::OptProfileSelector::kOPT, kiln::OptProfileSelector::kMAX}) {
                if (kiln::Status s = profile->setDimensions(name, sel, shape); !s) return fail(s);
            }
        }
        if (dynamic) {
            if (kiln::Status s = config->addOptimizationProfile(*profile); !s) return fail(s);
        }
        auto blob = builder.buildSerializedNetwork(*network, *config);
        if (!blob) return fail(blob.status());
        std::ofstream(argv[2], std::ios::binary)
            .write(static_cast<const char*>((*blob)->data()), static_cast<std::streamsize>((*blob)->size()));
        engine = runtime.deserializeEngine((*blob)->data(), (*blob)->size());
        if (!engine) return fail(engine.status());
    }
    auto context = (*engine)->createExecutionContext();
    if (!context) return fail(context.status());
    std::map<std::string, kiln::Tensor> inputs;
    for (int32_t i = 0; i < (*engine)->getNbIOTensors(); ++i) {
        const std::string name = (*engine)->getIOTensorName(i).value();
        if ((*engine)->getTensorIOMode(name).value() != kiln::TensorIOMode::kINPUT) continue;
        kiln::Shape shape = (*engine)->getTensorShape(name).value();
        if ((*engine)->getNbOptimizationProfiles() > 0) {
            if (auto p = (*engine)->getProfileShape(name, 0, kiln::OptProfileSelector::kOPT); p) shape = *p;
        }
        auto t = kiln::Tensor::allocate((*engine)->getTensorDataType(name).value(), shape);
        if (!t) return fail(t.status());
        if (t->dtype() == kiln::DataType::kFloat32) {
            for (int64_t k = 0; k < t->numel(); ++k) t->data<float>()[k] = static_cast<float>(k % 255) / 255.0f;
        }
        inputs.emplace(name, std::move(t).value());
    }
    auto outputs = (*context)->infer(inputs);
    if (!outputs) return fail(outputs.status());
    for (const auto& [name, t] : *outputs) {
        if (t.dtype() != kiln::DataType::kFloat32) continue;
        std::vector<int64_t> idx(static_cast<size_t>(t.numel()));
        std::iota(idx.begin(), idx.end(), 0);
        const size_t k = std::min<size_t>(5, idx.size());
        std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(k), idx.end(),
                          [&](int64_t a, int64_t b) { return t.data<float>()[a] > t.data<float>()[b]; });
        std::printf("%s %s top-%zu:\n", name.c_str(), t.describe().c_str(), k);
        for (size_t i = 0; i < k; ++i)
            std::printf("  %lld  %.6f\n", static_cast<long long>(idx[i]), t.data<float>()[idx[i]]);
        break;
    }
    return 0;
}
