#include "preprocess.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "common/dispatch.h"

namespace kiln::cli {

namespace fs = std::filesystem;

namespace {

//! One number or one per channel.
std::vector<float> perChannel(const nlohmann::json& v) {
    if (v.is_number()) return {v.get<float>()};
    return v.get<std::vector<float>>();
}

}  // namespace

Status loadPreprocessConfig(const std::string& path, Preprocess& p) {
    std::ifstream in(path);
    if (!in) return notFound("preprocessing config '" + path + "' cannot be read");
    static const std::set<std::string> kKeys{"input",         "size",   "scale",  "mean",  "std",
                                             "channel_order", "layout", "labels", "top_k", "outputs"};
    try {
        const nlohmann::json j = nlohmann::json::parse(in);
        if (!j.is_object()) return invalidArgument("preprocessing config '" + path + "' is not a JSON object");
        for (const auto& [key, value] : j.items()) {
            if (!kKeys.count(key))
                return invalidArgument("preprocessing config '" + path + "': unknown key '" + key + "'");
        }
        if (j.contains("input")) p.input = j["input"].get<std::string>();
        if (j.contains("size")) {
            const auto size = j["size"].get<std::vector<int>>();
            if (size.size() != 2 || size[0] <= 0 || size[1] <= 0) {
                return invalidArgument("preprocessing config '" + path + "': \"size\" must be [width, height]");
            }
            p.width = size[0];
            p.height = size[1];
        }
        if (j.contains("scale")) p.scale = j["scale"].get<float>();
        if (j.contains("mean")) p.mean = perChannel(j["mean"]);
        if (j.contains("std")) p.stdev = perChannel(j["std"]);
        if (j.contains("channel_order")) {
            const std::string order = j["channel_order"].get<std::string>();
            if (order != "RGB" && order != "BGR") {
                return invalidArgument("preprocessing config '" + path + "': \"channel_order\" must be RGB or BGR");
            }
            p.bgr = order == "BGR";
        }
        if (j.contains("layout")) p.layout = j["layout"].get<std::string>();
        if (j.contains("labels")) {
            const fs::path labels = j["labels"].get<std::string>();
            p.labels = labels.is_absolute() ? labels.string() : (fs::path(path).parent_path() / labels).string();
        }
        if (j.contains("top_k")) p.topK = j["top_k"].get<int>();
        if (j.contains("outputs")) p.outputs = j["outputs"].get<std::map<std::string, std::string>>();
    } catch (const nlohmann::json::exception& e) {
        return invalidArgument("preprocessing config '" + path + "': " + e.what());
    }
    return Status::ok();
}

Result<ImageLayout> imageLayoutOf(const Shape& shape, const std::string& input, const std::string& layoutFlag) {
    if (shape.size() != 4) {
        return invalidArgument("input '" + input + "' has shape " + shapeToString(shape) +
                               ": images need a 4-D input (NCHW or NHWC); use --input " + input + ":file.npy");
    }
    ImageLayout l;
    if (layoutFlag == "NHWC" || layoutFlag == "nhwc") {
        l.nhwc = true;
    } else if (layoutFlag.empty()) {
        l.nhwc = (shape[3] == 1 || shape[3] == 3) && !(shape[1] == 1 || shape[1] == 3);
    } else if (layoutFlag != "NCHW" && layoutFlag != "nchw") {
        return invalidArgument("layout '" + layoutFlag + "' is not NCHW or NHWC");
    }
    const int64_t c = l.nhwc ? shape[3] : shape[1];
    if (c != 1 && c != 3 && c != -1) {
        return invalidArgument("input '" + input + "' has " + std::to_string(c) + " channels in " +
                               (l.nhwc ? "NHWC" : "NCHW") + " shape " + shapeToString(shape) +
                               "; images give 1 (gray) or 3 (RGB/BGR)");
    }
    l.channels = c == 1 ? 1 : 3;
    return l;
}

Result<Tensor> imagesToTensor(const std::vector<const examples::Image*>& images, DataType dtype,
                              const ImageLayout& layout, int width, int height, const Preprocess& p) {
    const int c = layout.channels;
    auto channelValue = [](const std::vector<float>& v, int ch) {
        return v.size() == 1 ? v[0] : v.at(static_cast<size_t>(ch));
    };
    if ((p.mean.size() != 1 && p.mean.size() != static_cast<size_t>(c)) ||
        (p.stdev.size() != 1 && p.stdev.size() != static_cast<size_t>(c))) {
        return invalidArgument("mean/std need 1 or " + std::to_string(c) + " values for a " + std::to_string(c) +
                               "-channel input");
    }
    const Shape shape = layout.nhwc ? Shape{static_cast<int64_t>(images.size()), height, width, c}
                                    : Shape{static_cast<int64_t>(images.size()), c, height, width};
    KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dtype, shape));
    const size_t plane = static_cast<size_t>(width) * height;
    std::vector<float> values(images.size() * plane * c);
    for (size_t n = 0; n < images.size(); ++n) {
        examples::Image img = examples::resizeBilinear(*images[n], width, height);
        if (c == 1) img = examples::toGray(img);
        for (size_t i = 0; i < plane; ++i) {
            for (int ch = 0; ch < c; ++ch) {
                const int src = p.bgr && c == 3 ? 2 - ch : ch;
                const float pixel = img.pixels[i * c + static_cast<size_t>(src)];
                const float v = (pixel * p.scale - channelValue(p.mean, ch)) / channelValue(p.stdev, ch);
                const size_t at = layout.nhwc ? (n * plane + i) * c + ch : (n * c + ch) * plane + i;
                values[at] = v;
            }
        }
    }
    KILN_RETURN_IF_ERROR(dispatchFloat(
        dtype,
        [&]<typename T>() {
            for (size_t i = 0; i < values.size(); ++i) t.data<T>()[i] = fromDouble<T>(values[i]);
            return Status::ok();
        },
        "image inputs"));
    return t;
}

}  // namespace kiln::cli
