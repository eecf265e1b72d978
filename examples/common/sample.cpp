#include "sample.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "files.h"

#ifndef KILN_SAMPLE_MODELS_DIR
#define KILN_SAMPLE_MODELS_DIR ".cache/models"
#endif

namespace kiln::samples {

namespace fs = std::filesystem;

void Logger::log(Severity severity, const char* msg) noexcept {
    static constexpr const char* kNames[] = {"ERROR", "WARNING", "INFO", "VERBOSE"};
    if (severity <= mMin) std::fprintf(stderr, "[kiln] %s: %s\n", kNames[static_cast<int>(severity)], msg);
}

std::string modelsDir() { return KILN_SAMPLE_MODELS_DIR; }

std::string defaultEnginePath(const std::string& model) {
    const fs::path path(model);
    const std::string name = path.stem() == "model" ? path.parent_path().filename().string() : path.stem().string();
    return name + ".engine";
}

namespace {

using InputShapes = std::vector<std::pair<std::string, Shape>>;

Backend backendOf(const std::string& name) {
    return name == "cpu" ? Backend::kCpu : name == "cuda" ? Backend::kCuda : Backend::kAuto;
}

//! Adds the profile 1..maxBatch..maxBatch for every input whose dim 0 alone is dynamic.
Status addBatchProfile(Builder& builder, BuilderConfig& config, const InputShapes& inputs, int64_t maxBatch) {
    std::unique_ptr<OptimizationProfile> profile = builder.createOptimizationProfile();
    bool dynamic = false;
    for (const auto& [name, shape] : inputs) {
        if (shape.empty() || shape[0] >= 0 ||
            std::any_of(shape.begin() + 1, shape.end(), [](int64_t d) { return d < 0; })) {
            continue;
        }
        Shape smallest = shape;
        Shape largest = shape;
        smallest[0] = 1;
        largest[0] = maxBatch;
        KILN_RETURN_IF_ERROR(profile->setDimensions(name, OptProfileSelector::kMIN, smallest));
        KILN_RETURN_IF_ERROR(profile->setDimensions(name, OptProfileSelector::kOPT, largest));
        KILN_RETURN_IF_ERROR(profile->setDimensions(name, OptProfileSelector::kMAX, largest));
        dynamic = true;
    }
    return dynamic ? config.addOptimizationProfile(*profile) : Status::ok();
}

//! The model's input shapes (dynamic dims -1), which only the parsed network knows.
Result<InputShapes> modelInputs(Builder& builder, const std::string& model, ILogger& logger) {
    std::unique_ptr<NetworkDefinition> network = builder.createNetwork();
    OnnxParser parser(*network, logger);
    KILN_RETURN_IF_ERROR(parser.parseFromFile(model));
    InputShapes inputs;
    for (int32_t i = 0; i < network->getNbInputs(); ++i) {
        KILN_ASSIGN_OR_RETURN(std::string name, network->getInputName(i));
        KILN_ASSIGN_OR_RETURN(Shape shape, network->getTensorShape(name));
        inputs.emplace_back(std::move(name), std::move(shape));
    }
    return inputs;
}

class SilentLogger final : public ILogger {
    void log(Severity, const char*) noexcept override {}
};

//! Reuse without parsing the model (0.4 s of the 0.45 s ResNet-50 takes to get ready): when the engine file loads,
//! its own inputs give the profile, and buildEngineFile (rebuildStale = false) still checks that the file matches
//! the model and the options. Anything else (no engine, a stale or damaged one) fails here and takes the full path.
Result<EngineFileResult> reuseEngineFile(const CommonOptions& o, const std::string& enginePath) {
    SilentLogger quiet;
    KILN_ASSIGN_OR_RETURN(const std::unique_ptr<Engine> engine, Runtime(quiet).loadEngineFile(enginePath));
    InputShapes inputs;
    for (int32_t i = 0; i < engine->getNbIOTensors(); ++i) {
        KILN_ASSIGN_OR_RETURN(std::string name, engine->getIOTensorName(i));
        KILN_ASSIGN_OR_RETURN(const TensorIOMode mode, engine->getTensorIOMode(name));
        KILN_ASSIGN_OR_RETURN(Shape shape, engine->getTensorShape(name));
        if (mode == TensorIOMode::kINPUT) inputs.emplace_back(std::move(name), std::move(shape));
    }
    Builder builder(quiet);
    std::unique_ptr<BuilderConfig> config = builder.createBuilderConfig();
    config->setBackend(backendOf(o.backend));
    KILN_RETURN_IF_ERROR(addBatchProfile(builder, *config, inputs, o.maxBatch));
    EngineFileOptions options;
    options.rebuildStale = false;
    return builder.buildEngineFile(o.model, *config, enginePath, options);
}

const char* actionName(EngineFileAction action) {
    switch (action) {
        case EngineFileAction::kLoaded: return "loaded";
        case EngineFileAction::kBuilt: return "built";
        case EngineFileAction::kRebuilt: return "rebuilt";
    }
    return "?";
}

}  // namespace

void addCommonOptions(CLI::App& app, CommonOptions& o, const std::string& modelHelp, const std::string& batchHelp) {
    app.add_option("images", o.images, "photos (PNG, JPEG, ...)")->required();
    app.add_option("--model", o.model, modelHelp)->capture_default_str();
    app.add_option("--engine", o.engine, "engine file (default: <model name>.engine here)");
    app.add_flag("--force", o.force, "rebuild the engine even when the file matches");
    app.add_option("--max-batch", o.maxBatch, batchHelp)->check(CLI::PositiveNumber)->capture_default_str();
    app.add_option("--backend", o.backend, "auto (CUDA when a GPU is present, else CPU), cpu or cuda")
        ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
        ->capture_default_str();
    app.add_option("--save-outputs", o.saveOutputs, "write each photo's raw outputs as DIR/<photo>.<output>.npy");
    app.add_flag("-v,--verbose", o.verbose, "print Kiln's info messages");
}

int runSample(CLI::App& app, int argc, char** argv, const char* tool, const std::function<Status()>& body) {
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
        std::printf("%s", app.help().c_str());
        return 0;
    } catch (const CLI::ParseError& e) {
        std::fprintf(stderr, "%s: error: %s (see --help)\n", tool, e.what());
        return 2;
    }
    std::string message;
    try {
        const Status s = body();
        if (s.isOk()) return 0;
        message = s.message();
    } catch (const std::exception& e) {
        message = e.what();
    }
    std::fflush(stdout);
    std::fprintf(stderr, "%s: error: %s\n", tool, message.c_str());
    return 1;
}

Result<std::vector<examples::Image>> readPhotos(const std::vector<std::string>& paths) {
    std::vector<examples::Image> photos;
    for (const std::string& path : paths) {
        KILN_ASSIGN_OR_RETURN(examples::Image photo, examples::readRgbImage(path));
        photos.push_back(std::move(photo));
    }
    return photos;
}

Result<std::unique_ptr<Engine>> openEngine(const CommonOptions& o, ILogger& logger) {
    std::error_code ec;
    if (!fs::is_regular_file(o.model, ec)) return notFound("model file '" + o.model + "' does not exist");
    const std::string enginePath = o.engine.empty() ? defaultEnginePath(o.model) : o.engine;
    Result<EngineFileResult> result = invalidArgument("no engine file to reuse");
    if (!o.force && fs::exists(enginePath, ec)) result = reuseEngineFile(o, enginePath);
    if (!result) {
        Builder builder(logger);
        std::unique_ptr<BuilderConfig> config = builder.createBuilderConfig();
        config->setBackend(backendOf(o.backend));
        KILN_ASSIGN_OR_RETURN(const InputShapes inputs, modelInputs(builder, o.model, logger));
        KILN_RETURN_IF_ERROR(addBatchProfile(builder, *config, inputs, o.maxBatch));
        EngineFileOptions options;
        options.force = o.force;
        result = builder.buildEngineFile(o.model, *config, enginePath, options);
        if (!result) return result.status();
    }
    std::printf("engine: %s %s (%s)\n", actionName(result->action), enginePath.c_str(), result->reason.c_str());
    return std::move(result->engine);
}

Result<IoNames> ioNames(const Engine& engine) {
    IoNames names;
    for (int32_t i = 0; i < engine.getNbIOTensors(); ++i) {
        KILN_ASSIGN_OR_RETURN(std::string name, engine.getIOTensorName(i));
        KILN_ASSIGN_OR_RETURN(const TensorIOMode mode, engine.getTensorIOMode(name));
        (mode == TensorIOMode::kINPUT ? names.inputs : names.outputs).push_back(std::move(name));
    }
    if (names.inputs.empty() || names.outputs.empty())
        return invalidArgument("the engine needs an input and an output");
    return names;
}

std::string describeEngine(const Engine& engine) {
    constexpr int32_t kShown = 4;  // ISNet has 12 outputs: the line stays readable
    std::string text = "<kiln.Engine";
    for (int32_t i = 0; i < std::min(engine.getNbIOTensors(), kShown); ++i) {
        const Result<std::string> name = engine.getIOTensorName(i);
        if (!name) continue;
        const Result<TensorIOMode> mode = engine.getTensorIOMode(*name);
        const Result<DataType> dtype = engine.getTensorDataType(*name);
        const Result<Shape> shape = engine.getTensorShape(*name);
        text += std::string(i ? ", " : " ") + (mode && *mode == TensorIOMode::kINPUT ? "in " : "out ") + "'" + *name +
                "' " + (dtype ? dataTypeName(*dtype) : "?") + "[" + (shape ? shapeToString(*shape) : "?") + "]";
    }
    if (engine.getNbIOTensors() > kShown) text += " and " + std::to_string(engine.getNbIOTensors() - kShown) + " more";
    return text + ">";
}

std::string tupleText(const Shape& shape) {
    std::string text = "(";
    for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
    return text + (shape.size() == 1 ? ",)" : ")");
}

Result<int64_t> batchLimit(const Engine& engine, const std::string& input) {
    KILN_ASSIGN_OR_RETURN(const Shape shape, engine.getTensorShape(input));
    if (shape.empty()) return invalidArgument("input '" + input + "' is a scalar, not a batch of images");
    if (shape[0] >= 0) return shape[0];
    KILN_ASSIGN_OR_RETURN(const Shape largest, engine.getProfileShape(input, 0, OptProfileSelector::kMAX));
    return largest.at(0);
}

Status writeChw(Tensor& batch, int64_t row, const examples::Image& image, const Normalization& norm) {
    const Shape& s = batch.shape();
    if (s.size() != 4 || s[1] != 3 || s[2] != image.height || s[3] != image.width || image.channels != 3 || row < 0 ||
        row >= s[0]) {
        return invalidArgument("cannot write a " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                               " image into row " + std::to_string(row) + " of " + batch.describe());
    }
    const bool half = batch.dtype() == DataType::kFloat16;
    if (!half && batch.dtype() != DataType::kFloat32) {
        return invalidArgument(std::string("the image input is ") + dataTypeName(batch.dtype()) +
                               "; the samples feed float32 or float16 images");
    }
    const size_t plane = static_cast<size_t>(image.width) * static_cast<size_t>(image.height);
    const size_t base = static_cast<size_t>(row) * 3 * plane;
    for (size_t c = 0; c < 3; ++c) {
        for (size_t p = 0; p < plane; ++p) {
            const float x = static_cast<float>(image.pixels[p * 3 + c]);
            const float v = (x / norm.divisor - norm.mean[c]) / norm.std[c];
            if (half) {
                batch.data<Half>()[base + c * plane + p] = Half(v);
            } else {
                batch.data<float>()[base + c * plane + p] = v;
            }
        }
    }
    return Status::ok();
}

Status saveOutputs(const std::string& dir, const std::string& stem, const std::map<std::string, Tensor>& outputs,
                   int64_t row) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return ioError("cannot create folder '" + dir + "': " + ec.message());
    for (const auto& [name, tensor] : outputs) {
        const Tensor data = tensor.rank() > 0 && tensor.dim(0) > row ? examples::batchRow(tensor, row) : tensor;
        KILN_RETURN_IF_ERROR(
            examples::writeNpy((fs::path(dir) / (stem + "." + examples::fileSafeName(name) + ".npy")).string(), data));
    }
    return Status::ok();
}

std::string fileStem(const std::string& path) { return fs::path(path).stem().string(); }

double secondsSince(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace kiln::samples
