// kiln-classify: image classification with Kiln; several photos become one batch through a ResNet-50 engine, and
// the top-5 classes of each are printed. The C++ twin of examples/python/classify.py: same flags, same lines, the
// same tensors (docs/samples.md).
//
//   kiln-classify photo1.png photo2.jpg ... [--model resnet50.onnx] [--engine resnet50.engine] [--force]
//
// The engine is built on first use and saved (default <model name>.engine in the current directory); later runs
// load it (Builder::buildEngineFile), --force rebuilds. A model whose batch dim is dynamic gets the profile
// 1..max-batch. Preprocessing is torchvision's for ImageNet models: resize the short side to 256 (Pillow-exact
// bilinear), center-crop to the input's size (224), RGB / 255, ImageNet mean and std. Labels come from --labels FILE
// (one per line), else the class index is printed. Only the public API (kiln/kiln.h) and the image helpers are used.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "files.h"
#include "image.h"
#include "kiln/kiln.h"
#include "sample.h"

using namespace kiln;
using examples::Image;

namespace {

constexpr const char* kTool = "classify";
constexpr int kResize = 256;  // torchvision's ImageNet preprocessing: short side to 256, then the center crop

struct Options : samples::CommonOptions {
    std::string labels;
    int top = 5;
};

//! Short side to kResize (Pillow's bilinear; Python's round() is half-to-even, as nearbyint), center crop size².
Image centerCrop(const Image& photo, int size) {
    const double scale = static_cast<double>(kResize) / std::min(photo.width, photo.height);
    const int width = std::max(size, static_cast<int>(std::nearbyint(photo.width * scale)));
    const int height = std::max(size, static_cast<int>(std::nearbyint(photo.height * scale)));
    const Image resized = examples::resizeBilinear(photo, width, height);
    const int left = (width - size) / 2;
    const int top = (height - size) / 2;
    Image crop{size, size, 3, std::vector<uint8_t>(static_cast<size_t>(size) * size * 3)};
    for (int y = 0; y < size; ++y) {
        const auto* from = &resized.pixels[(static_cast<size_t>(top + y) * width + left) * 3];
        std::copy_n(from, static_cast<size_t>(size) * 3, &crop.pixels[static_cast<size_t>(y) * size * 3]);
    }
    return crop;
}

struct Ranked {
    int64_t index;
    double probability;
};

//! The k highest logits, best first (ties keep class order), with their softmax probabilities (in double).
std::vector<Ranked> topK(const Tensor& logits, int64_t row, int64_t k) {
    const int64_t classes = logits.dim(1);
    std::vector<double> z(static_cast<size_t>(classes));
    for (int64_t c = 0; c < classes; ++c) z[c] = logits.getDouble(row * classes + c);
    const double zmax = *std::max_element(z.begin(), z.end());
    double sum = 0.0;
    for (double& v : z) sum += (v = std::exp(v - zmax));
    std::vector<int64_t> order(z.size());
    std::iota(order.begin(), order.end(), 0);
    // Ranked by the logits themselves, which the engine gives bit-identically to both languages.
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        return logits.getDouble(row * classes + a) > logits.getDouble(row * classes + b);
    });
    std::vector<Ranked> best;
    for (int64_t i = 0; i < std::min(k, classes); ++i) best.push_back({order[i], z[order[i]] / sum});
    return best;
}

Status classify(const Options& o) {
    if (o.images.size() > static_cast<size_t>(o.maxBatch)) {
        return invalidArgument(std::to_string(o.images.size()) + " images, but --max-batch is " +
                               std::to_string(o.maxBatch));
    }
    KILN_ASSIGN_OR_RETURN(const std::vector<Image> photos, samples::readPhotos(o.images));
    std::vector<std::string> labels;
    if (!o.labels.empty()) {
        KILN_ASSIGN_OR_RETURN(labels, examples::readLabels(o.labels));
    }

    auto start = std::chrono::steady_clock::now();
    samples::Logger logger(o.verbose);
    KILN_ASSIGN_OR_RETURN(auto engine, samples::openEngine(o, logger));
    KILN_ASSIGN_OR_RETURN(const samples::IoNames io, samples::ioNames(*engine));
    const std::string& input = io.inputs[0];
    KILN_ASSIGN_OR_RETURN(Shape shape, engine->getTensorShape(input));
    if (shape.size() != 4 || shape[1] != 3 || shape[2] <= 0 || shape[2] != shape[3]) {
        return invalidArgument("input '" + input + "' [" + shapeToString(shape) +
                               "] must be [N, 3, S, S] with a static size S");
    }
    KILN_ASSIGN_OR_RETURN(const int64_t limit, samples::batchLimit(*engine, input));
    const auto count = static_cast<int64_t>(photos.size());
    if (count > limit || (shape[0] >= 0 && count != shape[0])) {
        return invalidArgument(std::to_string(count) + " images, but the engine's input '" + input + "' takes " +
                               (shape[0] >= 0 ? "exactly " : "at most ") + std::to_string(limit) + " per batch");
    }
    std::printf("engine ready in %.2f s: %s\n", samples::secondsSince(start), samples::describeEngine(*engine).c_str());

    shape[0] = count;
    KILN_ASSIGN_OR_RETURN(DataType dtype, engine->getTensorDataType(input));
    KILN_ASSIGN_OR_RETURN(Tensor batch, Tensor::allocate(dtype, shape));
    for (int64_t i = 0; i < count; ++i) {
        KILN_RETURN_IF_ERROR(
            samples::writeChw(batch, i, centerCrop(photos[i], static_cast<int>(shape[2])), samples::kImageNet));
    }
    start = std::chrono::steady_clock::now();
    KILN_ASSIGN_OR_RETURN(auto context, engine->createExecutionContext());
    KILN_ASSIGN_OR_RETURN(auto outputs, context->infer({{input, batch}}));
    const Tensor& logits = outputs.at(io.outputs[0]);
    std::printf("ran batch of %lld in %.2f s: '%s' %s\n", static_cast<long long>(count), samples::secondsSince(start),
                io.outputs[0].c_str(), samples::tupleText(logits.shape()).c_str());
    if (logits.rank() != 2 || logits.dim(0) != count || logits.dim(1) <= 0 || !isFloatingPoint(logits.dtype())) {
        return invalidArgument("output '" + io.outputs[0] + "' " + logits.describe() + " must be [N, classes] logits");
    }
    for (int64_t i = 0; i < count; ++i) {
        std::printf("%s:\n", o.images[i].c_str());
        int rank = 0;
        for (const Ranked& r : topK(logits, i, o.top)) {
            const std::string name =
                r.index < static_cast<int64_t>(labels.size()) ? labels[r.index] : "class " + std::to_string(r.index);
            std::printf("  %d. %6.2f%%  %4lld  %s\n", ++rank, r.probability * 100.0, static_cast<long long>(r.index),
                        name.c_str());
        }
        if (!o.saveOutputs.empty()) {
            KILN_RETURN_IF_ERROR(samples::saveOutputs(o.saveOutputs, samples::fileStem(o.images[i]), outputs, i));
        }
    }
    return Status::ok();
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Classify photos in one batch with a Kiln engine (top-5 each).", "kiln-classify"};
    Options o;
    o.model = samples::modelsDir() + "/resnet50/model.onnx";
    o.maxBatch = 8;
    samples::addCommonOptions(app, o, "ONNX classifier", "largest batch the engine takes");
    app.add_option("--labels", o.labels, "class names, one per line");
    app.add_option("--top", o.top, "classes to print per photo")->check(CLI::PositiveNumber)->capture_default_str();
    return samples::runSample(app, argc, argv, kTool, [&] { return classify(o); });
}
