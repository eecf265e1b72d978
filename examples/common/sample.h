// What the C++ samples (classify, segment) share; the twin of examples/python/common.py, so that the two languages
// build the same engine, feed it the same tensors and print the same lines. Public API (kiln/kiln.h) only.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "image.h"
#include "kiln/kiln.h"

namespace kiln::samples {

//! Prints Kiln's messages from `minSeverity` up on stderr as "[kiln] WARNING: msg", like Python's kiln.Logger.
class Logger final : public ILogger {
public:
    explicit Logger(bool verbose) : mMin(verbose ? Severity::kInfo : Severity::kWarning) {}
    void log(Severity severity, const char* msg) noexcept override;

private:
    Severity mMin;
};

//! The repository's .cache/models (tests/models/prepare_models.sh puts the real models there).
std::string modelsDir();

//! "<name>.engine" in the current directory; <name> is the model's folder for files called model.onnx.
std::string defaultEnginePath(const std::string& model);

//! What both samples take on the command line (the flags of the same names in the Python samples).
struct CommonOptions {
    std::vector<std::string> images;
    std::string model;
    std::string engine;  //!< empty: defaultEnginePath(model)
    bool force = false;
    //! Inputs whose dim 0 alone is dynamic get the profile 1..maxBatch..maxBatch, the same on every run so that the
    //! engine file is reused.
    int maxBatch = 1;
    std::string backend = "auto";
    std::string saveOutputs;
    bool verbose = false;
};

//! Adds the photos and the shared flags to `app`; `o` holds the defaults (shown in --help) and receives the values.
void addCommonOptions(CLI::App& app, CommonOptions& o, const std::string& modelHelp, const std::string& batchHelp);

//! Parses the command line and runs `body`: exit code 0 when it succeeds, 1 with "<tool>: error: <message>" on
//! stderr when it fails, 2 with the same line for a bad command line (as Python's argparse).
int runSample(CLI::App& app, int argc, char** argv, const char* tool, const std::function<Status()>& body);

//! Reads every photo as 8-bit RGB, before the engine is built, so that a bad path fails at once.
Result<std::vector<examples::Image>> readPhotos(const std::vector<std::string>& paths);

//! The engine for `o.model`: loaded from the engine file when that holds one built from this model with these
//! options, else built and saved there (Builder::buildEngineFile; --force always rebuilds). Prints
//! "engine: loaded|built|rebuilt PATH (reason)" on stdout.
Result<std::unique_ptr<Engine>> openEngine(const CommonOptions& o, ILogger& logger);

struct IoNames {
    std::vector<std::string> inputs;
    std::vector<std::string> outputs;
};
//! Input and output names in engine order.
Result<IoNames> ioNames(const Engine& engine);

//! "<kiln.Engine in 'input' float32[-1x3x224x224], out 'logits' float32[-1x1000]>", as Python's repr(engine).
std::string describeEngine(const Engine& engine);

//! "(3, 1000)": a shape as Python prints a tuple.
std::string tupleText(const Shape& shape);

//! The most images one run of `input` takes: its static dim 0, else the max of profile 0.
Result<int64_t> batchLimit(const Engine& engine, const std::string& input);

//! Per-channel normalization of 8-bit RGB: (x / divisor - mean[c]) / std[c], in float32 and in this order, as the
//! Python samples compute it with numpy (so both feed the engine the same bits).
struct Normalization {
    float divisor;
    float mean[3];
    float std[3];
};

//! torchvision's ImageNet normalization: x / 255, mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225).
inline constexpr Normalization kImageNet{255.0F, {0.485F, 0.456F, 0.406F}, {0.229F, 0.224F, 0.225F}};

//! Writes `image` (RGB, the tensor's H x W) normalized into row `row` of an [N, 3, H, W] float32 or float16 tensor.
Status writeChw(Tensor& batch, int64_t row, const examples::Image& image, const Normalization& norm);

//! --save-outputs: row `row` of each output as DIR/<stem>.<output>.npy (names made file-safe), as the Python
//! samples and `kiln infer --save-outputs` name them.
Status saveOutputs(const std::string& dir, const std::string& stem, const std::map<std::string, Tensor>& outputs,
                   int64_t row);

//! The file name of `path` without folder and extension ("a/b/cat.png" → "cat").
std::string fileStem(const std::string& path);

//! Seconds since `start`, for the "in 0.19 s" of the progress lines.
double secondsSince(std::chrono::steady_clock::time_point start);

}  // namespace kiln::samples
