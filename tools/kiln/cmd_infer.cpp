// kiln infer: images (one batch) and/or .npy inputs through an engine; outputs reported by kind (postprocess.h).
#include <cstdio>
#include <filesystem>
#include <set>

#include "build_flags.h"
#include "cli.h"
#include "files.h"
#include "infer_output.h"
#include "inputs.h"
#include "postprocess.h"
#include "preprocess.h"
#include "tensor_io.h"

namespace kiln::cli {

namespace fs = std::filesystem;

namespace {

struct InferArgs {
    std::string engine;
    std::vector<std::string> images;
    std::vector<std::string> inputs;
    std::string config;
    std::string mean, stdev, size, layout, outputs;
    double scale = -1;
    bool bgr = false;
    bool rgb = false;
    int topK = -1;
    std::string labels;
    OutputOptions out;
    BuildFlags flags;
};

Result<std::vector<float>> parseFloats(const std::string& text, const std::string& flag) {
    std::vector<float> v;
    for (const std::string& item : splitList(text)) {
        try {
            size_t used = 0;
            v.push_back(std::stof(item, &used));
            if (used != item.size()) throw std::invalid_argument(item);
        } catch (const std::exception&) {
            return invalidArgument(flag + " '" + text + "': '" + item + "' is not a number");
        }
    }
    return v;
}

//! The settings: defaults, then the JSON next to the model (or --config), then the flags.
Status resolvePreprocess(const InferArgs& a, Preprocess& p) {
    std::string config = a.config;
    if (config.empty() && fs::exists(a.engine + ".json")) config = a.engine + ".json";
    if (!config.empty()) KILN_RETURN_IF_ERROR(loadPreprocessConfig(config, p));
    if (!a.mean.empty()) {
        KILN_ASSIGN_OR_RETURN(p.mean, parseFloats(a.mean, "--mean"));
    }
    if (!a.stdev.empty()) {
        KILN_ASSIGN_OR_RETURN(p.stdev, parseFloats(a.stdev, "--std"));
    }
    if (a.scale >= 0) p.scale = static_cast<float>(a.scale);
    if (a.bgr) p.bgr = true;
    if (a.rgb) p.bgr = false;
    if (!a.layout.empty()) p.layout = a.layout;
    if (a.topK > 0) p.topK = a.topK;
    if (!a.labels.empty()) p.labels = a.labels;
    if (!a.size.empty()) {
        KILN_ASSIGN_OR_RETURN(Shape wh, parseDims(a.size, "--size"));
        if (wh.size() != 2 || wh[0] <= 0 || wh[1] <= 0)
            return invalidArgument("--size '" + a.size + "': write WxH, e.g. 640x480");
        p.width = static_cast<int>(wh[0]);
        p.height = static_cast<int>(wh[1]);
    }
    if (!a.outputs.empty()) {
        p.outputs.clear();
        KILN_ASSIGN_OR_RETURN(auto kinds, parseNameKinds(a.outputs));
        for (auto& [name, kind] : kinds) p.outputs[name] = kind;
    }
    return Status::ok();
}

//! The input the images go to: --config/"input", else the engine's first 4-D input.
Result<std::string> imageInputOf(const Engine& engine, const InputPlan& plan, const Preprocess& p) {
    if (!p.input.empty()) {
        if (std::find(plan.inputs.begin(), plan.inputs.end(), p.input) == plan.inputs.end()) {
            return notFound("image input '" + p.input + "' is not an input of the engine");
        }
        return p.input;
    }
    for (const std::string& name : plan.inputs) {
        if (auto s = engine.getTensorShape(name); s && s->size() == 4) return name;
    }
    return invalidArgument("the engine has no 4-D input to take images; give its inputs with --input name:file.npy");
}

//! Batch size of each run for `count` images: the static batch, or within the profile's [min, max].
Result<std::pair<int64_t, int64_t>> batchRange(const Engine& engine, const std::string& input) {
    KILN_ASSIGN_OR_RETURN(Shape shape, engine.getTensorShape(input));
    if (shape[0] >= 0) return std::make_pair(shape[0], shape[0]);
    KILN_ASSIGN_OR_RETURN(Shape lo, engine.getProfileShape(input, 0, OptProfileSelector::kMIN));
    KILN_ASSIGN_OR_RETURN(Shape hi, engine.getProfileShape(input, 0, OptProfileSelector::kMAX));
    return std::make_pair(std::max<int64_t>(lo[0], 1), hi[0]);
}

//! The images in batches the engine takes; each batch's real rows are reported.
Status runImages(const Engine& engine, const Preprocess& p, const std::vector<Item>& items,
                 const std::map<std::string, Tensor>& given, const InputPlan& plan, const OutputOptions& out) {
    KILN_ASSIGN_OR_RETURN(const std::string input, imageInputOf(engine, plan, p));
    KILN_ASSIGN_OR_RETURN(const auto range, batchRange(engine, input));
    KILN_ASSIGN_OR_RETURN(const Shape shape, engine.getTensorShape(input));
    KILN_ASSIGN_OR_RETURN(const DataType dtype, engine.getTensorDataType(input));
    KILN_ASSIGN_OR_RETURN(const ImageLayout layout, imageLayoutOf(shape, input, p.layout));
    const Shape& planned = plan.shapes.at(input);  // --shapes, static dims or the profile's opt shape
    const int height = p.height > 0 ? p.height : static_cast<int>(layout.nhwc ? planned[1] : planned[2]);
    const int width = p.width > 0 ? p.width : static_cast<int>(layout.nhwc ? planned[2] : planned[3]);
    const auto [minBatch, maxBatch] = range;
    std::printf("%zu image%s -> input '%s' (%dx%d, %s, %s)", items.size(), items.size() == 1 ? "" : "s", input.c_str(),
                width, height, layout.nhwc ? "NHWC" : "NCHW", p.bgr ? "BGR" : "RGB");
    const auto count = static_cast<int64_t>(items.size());
    if (count > maxBatch) {
        std::printf(", %lld runs of batch %lld", static_cast<long long>((count + maxBatch - 1) / maxBatch),
                    static_cast<long long>(maxBatch));
    }
    // A batch smaller than the engine takes is filled by repeating the images; only the real rows are reported.
    if (count % maxBatch != 0 && count % maxBatch < minBatch) {
        std::printf(", batch filled to %lld by repeating the images (only their own results are reported)",
                    static_cast<long long>(minBatch));
    }
    std::printf("\n");
    for (size_t first = 0; first < items.size(); first += static_cast<size_t>(maxBatch)) {
        const size_t real = std::min(items.size() - first, static_cast<size_t>(maxBatch));
        const size_t batch = std::max(real, static_cast<size_t>(minBatch));
        std::vector<const examples::Image*> rows;
        for (size_t r = 0; r < batch; ++r) rows.push_back(items[first + r % real].photo);
        std::map<std::string, Tensor> feeds = given;
        KILN_ASSIGN_OR_RETURN(feeds[input], imagesToTensor(rows, dtype, layout, width, height, p));
        const std::vector<Item> chunk(items.begin() + static_cast<std::ptrdiff_t>(first),
                                      items.begin() + static_cast<std::ptrdiff_t>(first + real));
        KILN_RETURN_IF_ERROR(reportBatch(engine, feeds, chunk, out));
    }
    return Status::ok();
}

int runInfer(InferArgs& a) {
    Preprocess p;
    if (Status s = resolvePreprocess(a, p); !s) {
        return s.code() == ErrorCode::kInvalidArgument ? usage(s.message()) : fail(s);
    }
    std::vector<InputFile> files;
    for (const std::string& text : a.inputs) {
        auto f = parseInputFlag(text, "--input");
        if (!f) return usage(f.status().message());
        files.push_back(*f);
    }
    if (a.images.empty() && files.empty()) return usage("give images (kiln infer model.engine a.jpg ...) or --input");
    if (Status s = checkBuildFlagSyntax(a.flags); !s) return usage(s.message());
    auto shapes = parseShapeMap(a.flags.shapes, "--shapes");
    if (!shapes) return usage(shapes.status().message());
    for (const std::string& dir : {a.out.maskDir, a.out.saveDir}) {
        std::error_code ec;
        if (!dir.empty() && !fs::create_directories(dir, ec) && ec) {
            return fail(ioError("cannot create folder '" + dir + "': " + ec.message()));
        }
    }
    std::vector<examples::Image> photos;
    for (const std::string& path : a.images) {
        auto img = examples::readRgbImage(path);
        if (!img) return fail(img.status());
        photos.push_back(std::move(img).value());
    }
    if (!p.labels.empty()) {
        auto labels = examples::readLabels(p.labels);
        if (!labels) return fail(labels.status());
        a.out.labels = std::move(labels).value();
    }
    a.out.topK = p.topK;
    a.out.kinds = p.outputs;

    auto src = loadOrBuildEngine(a.engine, a.flags);
    if (!src) return fail(src.status());
    auto given = loadInputFiles(*src->engine, files, *shapes);
    if (!given) return fail(given.status());
    if (photos.empty()) {
        const Status s = reportBatch(*src->engine, *given, {}, a.out);
        return s ? kExitOk : fail(s);
    }
    auto plan = planInputs(*src->engine, *shapes);
    if (!plan) return fail(plan.status());
    std::vector<Item> items;
    std::set<std::string> stems;
    for (size_t i = 0; i < a.images.size(); ++i) {
        std::string stem = fs::path(a.images[i]).stem().string();
        if (!stems.insert(stem).second) stem += "_" + std::to_string(i);
        items.push_back({a.images[i], stem, &photos[i]});
    }
    const Status s = runImages(*src->engine, p, items, *given, *plan, a.out);
    return s ? kExitOk : fail(s);
}

}  // namespace

Handler addInferCommand(CLI::App& app) {
    auto a = std::make_shared<InferArgs>();
    CLI::App* cmd = app.add_subcommand("infer", "Run an engine on images (one batch) or .npy/.bin inputs");
    cmd->add_option("engine", a->engine, "Engine file (or ONNX, built in memory), e.g. kiln infer r50.engine cat.jpg")
        ->required();
    cmd->add_option("images", a->images, "Images (JPEG, PNG, BMP, ...), e.g. a.jpg b.png");
    cmd->add_option("--input", a->inputs,
                    "A non-image input from a file, e.g. --input mask:m.npy (or m.bin + --shapes)");
    cmd->add_option("--config", a->config,
                    "Preprocessing JSON (default: <engine>.json if present), e.g. --config isnet.json");
    cmd->add_option("--mean", a->mean, "Per-channel mean after scaling, e.g. --mean 0.485,0.456,0.406 or --mean 128");
    cmd->add_option("--std", a->stdev, "Per-channel std, e.g. --std 0.229,0.224,0.225 or --std 256");
    cmd->add_option("--scale", a->scale,
                    "Pixels (0..255) are multiplied by this first, e.g. --scale 1 (default 1/255)");
    cmd->add_flag("--bgr", a->bgr, "Feed channels in BGR order (OpenCV-trained models)");
    cmd->add_flag("--rgb", a->rgb, "Feed channels in RGB order (the default; overrides a config's BGR)");
    cmd->add_option("--layout", a->layout, "NCHW or NHWC (default from the input's shape), e.g. --layout NHWC")
        ->check(CLI::IsMember({"NCHW", "NHWC", "nchw", "nhwc"}));
    cmd->add_option("--size", a->size, "WxH for inputs with dynamic height/width, e.g. --size 640x480");
    cmd->add_option("--labels", a->labels, "Class names, one per line, e.g. --labels imagenet.txt");
    cmd->add_option("--top-k", a->topK, "Classes to print per image, e.g. --top-k 3")->check(CLI::PositiveNumber);
    cmd->add_option("--outputs", a->outputs,
                    "Report only these outputs, optionally with a kind, e.g. --outputs output:mask,logits");
    cmd->add_option("--mask-dir", a->out.maskDir, "Write mask / class-map PNGs here, e.g. --mask-dir masks/");
    cmd->add_flag("--cutout", a->out.cutout, "Also write each photo with its mask as alpha (RGBA PNG) to --mask-dir");
    cmd->add_option("--save-outputs", a->out.saveDir,
                    "Save every reported output as .npy here, e.g. --save-outputs out/");
    addBuildFlags(*cmd, a->flags);
    cmd->footer(
        "Preprocessing: value = (pixel * scale - mean) / std per channel after a bilinear resize to the input's size\n"
        "(defaults: ImageNet). A JSON file next to the model (<engine>.json) can hold the settings; docs/cli.md\n"
        "lists its keys. Examples:\n"
        "  kiln infer resnet50.engine cat.jpg dog.png --labels imagenet.txt --top-k 3\n"
        "  kiln infer isnet.engine a.jpg b.jpg --scale 1 --mean 128 --std 256 --outputs output --mask-dir masks "
        "--cutout");
    return [a] { return runInfer(*a); };
}

}  // namespace kiln::cli
