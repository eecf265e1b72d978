// kiln-segment: foreground segmentation with Kiln; photos in, a mask PNG and an RGBA cut-out PNG out per photo (the
// seed's example). The C++ twin of examples/python/segment.py: same flags, same lines, the same masks
// (docs/samples.md).
//
//   kiln-segment photo.png ... [--model isnet.onnx] [--out-dir DIR] [--out cutout.png --mask mask.png] [--force]
//
// The model takes images [N, 3, H, W] (N dynamic or 1; H, W static) and its first output is a map [N, C, H', W']:
//   - ISNet (C = 1; the default, the repo's .cache/models/isnet_fp32, IMG.LY's background removal): input RGB
//     (x - 128) / 256; the map is min-max normalized, as rembg does;
//   - a UNet (C = 2, e.g. .cache/models/unet_small): input ImageNet mean/std; foreground = softmax channel 1.
// --kind picks one; by default C decides. Each photo is resized to H x W (Pillow-exact bilinear); its map is resized
// back to the photo and becomes the mask and the cut-out's alpha. Photos run as batches of up to --max-batch when the
// batch dim is dynamic (its profile is 1..max-batch), one at a time when it is 1. The engine is built on first use
// and saved (<model name>.engine here), reused later; --force rebuilds. Public API and the image helpers only.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "image.h"
#include "kiln/kiln.h"
#include "sample.h"

using namespace kiln;
using examples::Image;
using examples::Plane;

namespace {

constexpr const char* kTool = "segment";
// IMG.LY's tensorHWCtoBCHW: (x - 128) / 256 in pixel units.
constexpr samples::Normalization kIsnet{1.0F, {128.0F, 128.0F, 128.0F}, {256.0F, 256.0F, 256.0F}};

struct Options : samples::CommonOptions {
    std::string kind = "auto";
    std::string out;
    std::string mask;
    std::string outDir;
};

//! The foreground map in [0, 1] of batch row `row` of the model's first output [N, C, H', W'], computed as
//! segment.py does with numpy (float32 min-max for ISNet; softmax in double for a UNet) so that the masks agree.
Result<Plane> foreground(const Tensor& out, const std::string& name, int64_t row, bool isnet) {
    const int64_t channels = out.dim(1);
    const auto height = static_cast<int>(out.dim(2));
    const auto width = static_cast<int>(out.dim(3));
    const auto plane = static_cast<int64_t>(width) * height;
    const int64_t base = row * channels * plane;
    Plane map{width, height, std::vector<float>(static_cast<size_t>(plane))};
    if (isnet) {
        float lo = INFINITY;
        float hi = -INFINITY;
        for (int64_t p = 0; p < plane; ++p) {
            const auto v = static_cast<float>(out.getDouble(base + p));
            if (!std::isfinite(v)) return invalidArgument("output '" + name + "' has non-finite values");
            map.values[p] = v;
            lo = std::min(lo, v);
            hi = std::max(hi, v);
        }
        // numpy divides the float32 map by the float32 rounding of the double hi - lo.
        const double range = static_cast<double>(hi) - static_cast<double>(lo);
        for (float& v : map.values) v = range > 1e-6 ? (v - lo) / static_cast<float>(range) : std::clamp(v, 0.0F, 1.0F);
        return map;
    }
    if (channels < 2) return invalidArgument("output '" + name + "' has one channel; a UNet gives two or more");
    for (int64_t p = 0; p < plane; ++p) {
        double zmax = -INFINITY;
        for (int64_t c = 0; c < channels; ++c) zmax = std::max(zmax, out.getDouble(base + c * plane + p));
        double sum = 0.0;
        for (int64_t c = 0; c < channels; ++c) sum += std::exp(out.getDouble(base + c * plane + p) - zmax);
        map.values[p] = static_cast<float>(std::exp(out.getDouble(base + plane + p) - zmax) / sum);
    }
    return map;
}

//! The map resized to the photo (bilinear, in double as Pillow's mode "F"), as 8-bit alpha: numpy's round(clip(v,
//! 0, 1) * 255) rounds halves to even, as nearbyint does.
Image alphaOf(const Plane& map, int width, int height) {
    const Plane resized = examples::resizeBilinear(map, width, height);
    Image alpha{width, height, 1, std::vector<uint8_t>(resized.values.size())};
    for (size_t i = 0; i < alpha.pixels.size(); ++i) {
        alpha.pixels[i] = static_cast<uint8_t>(std::nearbyint(std::clamp(resized.values[i], 0.0F, 1.0F) * 255.0F));
    }
    return alpha;
}

std::string outPath(const std::string& dir, const std::string& name) {
    return dir.empty() || dir == "." ? name : (std::filesystem::path(dir) / name).string();
}

Status segment(const Options& o) {
    if ((!o.out.empty() || !o.mask.empty()) && o.images.size() > 1) {
        return invalidArgument("--out and --mask name one photo's files; with " + std::to_string(o.images.size()) +
                               " photos use --out-dir");
    }
    KILN_ASSIGN_OR_RETURN(const std::vector<Image> photos, samples::readPhotos(o.images));

    auto start = std::chrono::steady_clock::now();
    samples::Logger logger(o.verbose);
    KILN_ASSIGN_OR_RETURN(auto engine, samples::openEngine(o, logger));
    KILN_ASSIGN_OR_RETURN(const samples::IoNames io, samples::ioNames(*engine));
    const std::string& input = io.inputs[0];
    const std::string& output = io.outputs[0];
    KILN_ASSIGN_OR_RETURN(Shape shape, engine->getTensorShape(input));
    KILN_ASSIGN_OR_RETURN(const Shape outShape, engine->getTensorShape(output));
    if (shape.size() != 4 || (shape[0] >= 0 && shape[0] != 1) || shape[1] != 3 || shape[2] <= 0 || shape[3] <= 0 ||
        outShape.size() != 4) {
        return invalidArgument("input '" + input + "' [" + shapeToString(shape) +
                               "] must be [N, 3, H, W] with N dynamic or 1 and static H, W, output '" + output + "' [" +
                               shapeToString(outShape) + "] [N, C, H, W]");
    }
    const bool isnet = o.kind == "auto" ? outShape[1] == 1 : o.kind == "isnet";
    KILN_ASSIGN_OR_RETURN(const int64_t limit, samples::batchLimit(*engine, input));
    std::printf("engine ready in %.2f s (%s): %s\n", samples::secondsSince(start), isnet ? "isnet" : "unet",
                samples::describeEngine(*engine).c_str());
    KILN_ASSIGN_OR_RETURN(const DataType dtype, engine->getTensorDataType(input));
    KILN_ASSIGN_OR_RETURN(auto context, engine->createExecutionContext());

    for (size_t first = 0; first < photos.size(); first += static_cast<size_t>(limit)) {
        const size_t count = std::min(photos.size() - first, static_cast<size_t>(limit));
        shape[0] = static_cast<int64_t>(count);
        KILN_ASSIGN_OR_RETURN(Tensor batch, Tensor::allocate(dtype, shape));
        for (size_t i = 0; i < count; ++i) {
            const Image resized =
                examples::resizeBilinear(photos[first + i], static_cast<int>(shape[3]), static_cast<int>(shape[2]));
            KILN_RETURN_IF_ERROR(
                samples::writeChw(batch, static_cast<int64_t>(i), resized, isnet ? kIsnet : samples::kImageNet));
        }
        start = std::chrono::steady_clock::now();
        KILN_ASSIGN_OR_RETURN(auto outputs, context->infer({{input, batch}}));
        const Tensor& map = outputs.at(output);
        std::printf("ran batch of %zu in %.2f s: '%s' %s\n", count, samples::secondsSince(start), output.c_str(),
                    samples::tupleText(map.shape()).c_str());
        if (map.rank() != 4 || map.dim(0) != static_cast<int64_t>(count) || !isFloatingPoint(map.dtype())) {
            return invalidArgument("output '" + output + "' " + map.describe() + " must be a float map [N, C, H, W]");
        }
        for (size_t i = 0; i < count; ++i) {
            const Image& photo = photos[first + i];
            const std::string stem = samples::fileStem(o.images[first + i]);
            KILN_ASSIGN_OR_RETURN(const Plane fg, foreground(map, output, static_cast<int64_t>(i), isnet));
            const Image alpha = alphaOf(fg, photo.width, photo.height);
            const std::string maskPath = o.mask.empty() ? outPath(o.outDir, stem + "_mask.png") : o.mask;
            const std::string cutPath = o.out.empty() ? outPath(o.outDir, stem + "_cutout.png") : o.out;
            KILN_RETURN_IF_ERROR(examples::writePng(maskPath, alpha));
            KILN_RETURN_IF_ERROR(examples::writePng(cutPath, examples::cutout(photo, alpha)));
            double sum = 0.0;
            for (const uint8_t a : alpha.pixels) sum += a;
            std::printf("wrote %s (mask, %dx%d) and %s (RGBA); foreground %.1f%%\n", maskPath.c_str(), photo.width,
                        photo.height, cutPath.c_str(), sum / static_cast<double>(alpha.pixels.size()) / 255.0 * 100.0);
            if (!o.saveOutputs.empty()) {
                KILN_RETURN_IF_ERROR(samples::saveOutputs(o.saveOutputs, stem, outputs, static_cast<int64_t>(i)));
            }
        }
    }
    return Status::ok();
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Cut the foreground out of photos with a Kiln engine (mask + RGBA cut-out each).", "kiln-segment"};
    Options o;
    o.model = samples::modelsDir() + "/isnet_fp32/model.onnx";
    o.maxBatch = 4;
    samples::addCommonOptions(app, o, "ONNX model", "photos per run when the batch dim is dynamic");
    app.add_option("--kind", o.kind,
                   "pre/postprocessing: auto (from the output's channels: 1 isnet, 2 unet), isnet, unet")
        ->check(CLI::IsMember({"auto", "isnet", "unet"}))
        ->capture_default_str();
    app.add_option("--out", o.out, "RGBA cut-out PNG of the one photo (default <photo>_cutout.png in --out-dir)");
    app.add_option("--mask", o.mask, "mask PNG of the one photo (default <photo>_mask.png in --out-dir)");
    app.add_option("--out-dir", o.outDir, "folder of the masks and cut-outs (default: here)");
    return samples::runSample(app, argc, argv, kTool, [&] { return segment(o); });
}
