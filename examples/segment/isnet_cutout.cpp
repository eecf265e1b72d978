// kiln-isnet-cutout: cuts the foreground out of a photo with a salient-object segmentation model (ISNet, as shipped
// by IMG.LY's background removal) run on Kiln's CPU backend, and prints how long each step took.
//
//   kiln-isnet-cutout --model isnet.onnx --image photo.jpg --out cutout.png [--mask mask.png]
//
// The model takes one float image tensor 1xCxHxW (C = 3 for RGB, or 1 for gray; H and W static) and its first output
// holds a foreground probability map whose last two dims are its height and width. Preprocessing matches
// tests/models/images.py and prepare_models.py (so Kiln sees the same tensor as the reference data): Pillow-exact
// bilinear resize to HxW, RGB, (x - 128) / 256. The map is min-max normalised (as rembg does for ISNet), resized back
// to the photo bilinearly and becomes the alpha channel of an RGBA PNG whose colours are the photo's.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <map>
#include <string>

#include "backends/cpu/executor.h"
#include "frontend/onnx/importer.h"
#include "image.h"

using namespace kiln;
using examples::Image;
using examples::Plane;

namespace {

constexpr float kMean = 128.0F;  // IMG.LY's tensorHWCtoBCHW defaults, in 0..255 pixel units
constexpr float kScale = 256.0F;

//! Prints one line per step: name, milliseconds since the previous step, and what the step did.
class StepClock {
public:
    void step(const char* name, const std::string& detail) {
        const auto now = Clock::now();
        std::printf("%-12s %8.0f ms  %s\n", name, ms(mLast, now), detail.c_str());
        std::fflush(stdout);
        mLast = now;
    }
    void total() const { std::printf("%-12s %8.0f ms\n", "total", ms(mStart, Clock::now())); }

private:
    using Clock = std::chrono::steady_clock;
    static double ms(Clock::time_point a, Clock::time_point b) {
        return std::chrono::duration<double, std::milli>(b - a).count();
    }
    Clock::time_point mStart = Clock::now();
    Clock::time_point mLast = mStart;
};

//! importOnnxFile, but a model with ops Kiln lacks fails with one short line that counts them by op type rather
//! than listing each node (ISNet alone has hundreds); `kiln check` gives the full list.
Result<onnx_frontend::ImportedModel> loadModel(const std::string& path) {
    KILN_ASSIGN_OR_RETURN(onnx::ModelProto proto, onnx_frontend::loadModelProto(path));
    const std::string dir = std::filesystem::path(path).parent_path().string();
    KILN_ASSIGN_OR_RETURN(const auto missing, onnx_frontend::checkModel(proto, dir.empty() ? "." : dir));
    if (!missing.empty()) {
        std::map<std::string, int> byOp;
        for (const auto& node : missing) ++byOp[node.opType];
        std::string ops;
        for (const auto& [op, count] : byOp) ops += (ops.empty() ? "" : ", ") + op + " x" + std::to_string(count);
        return unsupported(path + ": Kiln cannot run " + std::to_string(missing.size()) + " of its nodes yet (" + ops +
                           "); `kiln check " + path + "` lists them");
    }
    auto model = onnx_frontend::importModel(proto, dir.empty() ? "." : dir);
    if (!model) return model.status().withContext(path);
    model->path = path;
    return model;
}

//! What the tool needs to know about the model's input and output.
struct ModelIo {
    std::string input;
    DataType dtype = DataType::kUndefined;
    int channels = 0;
    int height = 0;
    int width = 0;
    std::string output;
};

Result<ModelIo> inspectModel(const ir::Graph& graph) {
    if (graph.inputs().size() != 1) {
        return invalidArgument("the model must take one image input, it takes " +
                               std::to_string(graph.inputs().size()));
    }
    if (graph.outputs().empty()) return invalidArgument("the model has no outputs");
    const ir::Value& in = *graph.inputs()[0];
    ModelIo io{in.name(), in.dtype(), 0, 0, 0, graph.outputs()[0]->name()};
    const std::string what = "model input '" + in.name() + "' " + dataTypeName(in.dtype()) + "[" +
                             ir::symbolicShapeToString(in.shape()) + "]";
    if (io.dtype != DataType::kFloat32 && io.dtype != DataType::kFloat16) {
        return invalidArgument(what + " must be float32 or float16");
    }
    const auto& dims = in.shape();
    const auto staticDim = [&](size_t i) { return (*dims)[i].isStatic() ? (*dims)[i].size : int64_t{-1}; };
    if (!dims || dims->size() != 4 || ((*dims)[0].isStatic() && staticDim(0) != 1) ||
        (staticDim(1) != 1 && staticDim(1) != 3) || staticDim(2) <= 0 || staticDim(3) <= 0) {
        return invalidArgument(what + " must be an image 1xCxHxW with C = 1 or 3 and static H, W");
    }
    io.channels = static_cast<int>(staticDim(1));
    io.height = static_cast<int>(staticDim(2));
    io.width = static_cast<int>(staticDim(3));
    return io;
}

//! Resized photo (gray when the model wants one channel) → 1xCxHxW tensor, (x - 128) / 256 per pixel.
Result<Tensor> preprocess(const Image& photo, const ModelIo& io) {
    Image img = examples::resizeBilinear(photo, io.width, io.height);
    if (io.channels == 1) img = examples::toGray(img);
    KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(io.dtype, {1, io.channels, io.height, io.width}));
    const size_t plane = static_cast<size_t>(io.height) * io.width;
    for (int c = 0; c < io.channels; ++c) {
        for (size_t p = 0; p < plane; ++p) {
            const float v = (static_cast<float>(img.pixels[p * io.channels + c]) - kMean) / kScale;
            if (io.dtype == DataType::kFloat32) {
                t.data<float>()[c * plane + p] = v;
            } else {
                t.data<Half>()[c * plane + p] = Half(v);
            }
        }
    }
    return t;
}

//! First HxW plane of the output, min-max normalised to [0, 1], resized to the photo, as 8-bit alpha.
Result<Image> postprocess(const Tensor& out, const std::string& name, int width, int height) {
    if (out.rank() < 2 || out.dim(-1) <= 0 || out.dim(-2) <= 0 || !isFloatingPoint(out.dtype())) {
        return invalidArgument("model output '" + name + "' " + out.describe() +
                               " must be a floating-point map ...xHxW");
    }
    Plane map{static_cast<int>(out.dim(-1)), static_cast<int>(out.dim(-2)), {}};
    map.values.resize(static_cast<size_t>(map.width) * map.height);
    float lo = INFINITY;
    float hi = -INFINITY;
    for (size_t i = 0; i < map.values.size(); ++i) {
        const auto v = static_cast<float>(out.getDouble(static_cast<int64_t>(i)));
        if (!std::isfinite(v)) return invalidArgument("model output '" + name + "' has non-finite values");
        map.values[i] = v;
        lo = std::min(lo, v);
        hi = std::max(hi, v);
    }
    // A flat map carries no contrast to stretch; keep it as it is, clamped to [0, 1] below.
    if (hi - lo > 1e-6F) {
        for (float& v : map.values) v = (v - lo) / (hi - lo);
    }
    const Plane resized = examples::resizeBilinear(map, width, height);
    Image alpha{width, height, 1, std::vector<uint8_t>(resized.values.size())};
    for (size_t i = 0; i < alpha.pixels.size(); ++i) {
        alpha.pixels[i] = static_cast<uint8_t>(std::lround(std::clamp(resized.values[i], 0.0F, 1.0F) * 255.0F));
    }
    return alpha;
}

std::string sizeText(int width, int height) { return std::to_string(width) + "x" + std::to_string(height); }

Status cutOut(const std::string& modelPath, const std::string& imagePath, const std::string& outPath,
              const std::string& maskPath) {
    StepClock clock;
    KILN_ASSIGN_OR_RETURN(onnx_frontend::ImportedModel model, loadModel(modelPath));
    KILN_ASSIGN_OR_RETURN(ModelIo io, inspectModel(*model.graph));
    clock.step("load model", modelPath + ": input '" + io.input + "' " + dataTypeName(io.dtype) + "[1x" +
                                 std::to_string(io.channels) + "x" + sizeText(io.height, io.width) + "], " +
                                 std::to_string(model.graph->nodes().size()) + " nodes");

    KILN_ASSIGN_OR_RETURN(Image photo, examples::readRgbImage(imagePath));
    clock.step("read image", imagePath + ": " + sizeText(photo.width, photo.height) + " RGB");

    KILN_ASSIGN_OR_RETURN(Tensor input, preprocess(photo, io));
    clock.step("preprocess", "bilinear to " + sizeText(io.width, io.height) + (io.channels == 3 ? " RGB" : " gray") +
                                 ", (x - 128) / 256");

    KILN_ASSIGN_OR_RETURN(auto outputs, cpu::Executor().runNamed(*model.graph, {{io.input, input}}));
    const Tensor& map = outputs.at(io.output);
    clock.step("run (cpu)", "output '" + io.output + "' " + map.describe());

    KILN_ASSIGN_OR_RETURN(Image alpha, postprocess(map, io.output, photo.width, photo.height));
    clock.step("postprocess", "min-max normalised, bilinear to " + sizeText(photo.width, photo.height));

    KILN_RETURN_IF_ERROR(examples::writePng(outPath, examples::cutout(photo, alpha)));
    std::string wrote = outPath + " (RGBA " + sizeText(photo.width, photo.height) + ")";
    if (!maskPath.empty()) {
        KILN_RETURN_IF_ERROR(examples::writePng(maskPath, alpha));
        wrote += ", " + maskPath + " (gray)";
    }
    clock.step("write png", wrote);
    clock.total();
    return Status::ok();
}

int fail(const std::string& message) {
    std::fprintf(stderr, "isnet-cutout: error: %s\n", message.c_str());
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Cuts the foreground out of a photo with ISNet on Kiln's CPU backend; prints each step's time"};
    std::string model;
    std::string image;
    std::string out;
    std::string mask;
    app.add_option("--model", model, "ONNX model taking a 1xCxHxW float image (ISNet: 1x3x1024x1024)")->required();
    app.add_option("--image", image, "Photo to cut out (JPEG, PNG, ...)")->required();
    app.add_option("--out", out, "Cut-out to write: RGBA PNG, the photo's size")->required();
    app.add_option("--mask", mask, "Also write the alpha mask as a grayscale PNG");
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
        std::printf("%s", app.help().c_str());
        return 0;
    } catch (const CLI::ParseError& e) {
        return fail(std::string(e.what()) + " (see --help)");
    }
    try {
        const Status s = cutOut(model, image, out, mask);
        return s.isOk() ? 0 : fail(s.message());
    } catch (const std::exception& e) {
        return fail(e.what());
    }
}
