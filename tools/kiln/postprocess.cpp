#include "postprocess.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

namespace kiln::cli {

Result<OutputKind> outputKindOf(const Shape& s, DataType dtype, const std::string& forced) {
    if (forced == "classes") return OutputKind::kClasses;
    if (forced == "mask") return OutputKind::kMask;
    if (forced == "classmap") return OutputKind::kClassMap;
    if (forced == "tensor") return OutputKind::kTensor;
    if (!forced.empty()) {
        return invalidArgument("output kind '" + forced + "' is not one of classes, mask, classmap, tensor");
    }
    if (!isFloatingPoint(dtype)) return OutputKind::kTensor;
    const bool trailingOnes = s.size() == 4 && s[2] == 1 && s[3] == 1;
    if ((s.size() == 2 || trailingOnes) && s[1] >= 2) return OutputKind::kClasses;
    if ((s.size() == 4 && s[1] == 1) || s.size() == 3) return OutputKind::kMask;
    if (s.size() == 4 && s[1] >= 2 && s[1] <= 32 && s[2] >= 8 && s[3] >= 8) return OutputKind::kClassMap;
    return OutputKind::kTensor;
}

const char* outputKindName(OutputKind kind) {
    switch (kind) {
        case OutputKind::kClasses: return "classes";
        case OutputKind::kMask: return "mask";
        case OutputKind::kClassMap: return "classmap";
        case OutputKind::kTensor: return "tensor";
    }
    return "tensor";
}

std::string describeTopK(const Tensor& scores, int64_t row, int k, const std::vector<std::string>& labels) {
    const int64_t classes = scores.dim(1);
    std::vector<double> p(static_cast<size_t>(classes));
    double sum = 0;
    bool probabilities = true;
    for (int64_t c = 0; c < classes; ++c) {
        p[static_cast<size_t>(c)] = scores.getDouble(row * classes + c);
        probabilities = probabilities && p[static_cast<size_t>(c)] >= 0 && p[static_cast<size_t>(c)] <= 1;
        sum += p[static_cast<size_t>(c)];
    }
    if (!probabilities || std::abs(sum - 1) > 1e-3) {
        const double top = *std::max_element(p.begin(), p.end());
        double total = 0;
        for (double& v : p) total += (v = std::exp(v - top));
        for (double& v : p) v /= total;
    }
    std::vector<int64_t> order(static_cast<size_t>(classes));
    std::iota(order.begin(), order.end(), 0);
    const auto n = static_cast<size_t>(std::clamp<int64_t>(k, 1, classes));
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n), order.end(),
                      [&](int64_t a, int64_t b) { return p[static_cast<size_t>(a)] > p[static_cast<size_t>(b)]; });
    std::string out;
    char buf[64];
    for (size_t i = 0; i < n; ++i) {
        const int64_t c = order[i];
        std::snprintf(buf, sizeof buf, "  %zu. %.4f  ", i + 1, p[static_cast<size_t>(c)]);
        out += buf;
        const bool named = c < static_cast<int64_t>(labels.size()) && !labels[static_cast<size_t>(c)].empty();
        out += named ? labels[static_cast<size_t>(c)] + " (class " + std::to_string(c) + ")"
                     : "class " + std::to_string(c);
        out += "\n";
    }
    return out;
}

std::string describeTensor(const Tensor& t) {
    std::string s = t.describe();
    if (t.numel() == 0 || t.dtype() == DataType::kString) return s;
    double lo = t.getDouble(0);
    double hi = lo;
    double sum = 0;
    for (int64_t i = 0; i < t.numel(); ++i) {
        const double v = t.getDouble(i);
        lo = std::min(lo, v);
        hi = std::max(hi, v);
        sum += v;
    }
    char buf[96];
    std::snprintf(buf, sizeof buf, " min %.6g max %.6g mean %.6g", lo, hi, sum / static_cast<double>(t.numel()));
    return s + buf;
}

Result<examples::Image> maskImage(const Tensor& mask, int64_t row, int width, int height) {
    const Shape& s = mask.shape();
    const int64_t h = s[s.size() - 2];
    const int64_t w = s[s.size() - 1];
    if (s.size() == 4 && s[1] != 1) {
        return invalidArgument("mask output " + mask.describe() + " has " + std::to_string(s[1]) + " channels, not 1");
    }
    examples::Plane plane{static_cast<int>(w), static_cast<int>(h), std::vector<float>(static_cast<size_t>(w * h))};
    double lo = INFINITY;
    double hi = -INFINITY;
    for (int64_t i = 0; i < w * h; ++i) {
        const double v = mask.getDouble(row * w * h + i);
        plane.values[static_cast<size_t>(i)] = static_cast<float>(v);
        lo = std::min(lo, v);
        hi = std::max(hi, v);
    }
    if (lo < 0 || hi > 1) {  // logits or unnormalized scores: stretch to [0, 1]
        const double range = hi > lo ? hi - lo : 1.0;
        for (float& v : plane.values) v = static_cast<float>((v - lo) / range);
    }
    if (plane.width != width || plane.height != height) plane = examples::resizeBilinear(plane, width, height);
    examples::Image img{width, height, 1, std::vector<uint8_t>(plane.values.size())};
    for (size_t i = 0; i < plane.values.size(); ++i) {
        img.pixels[i] = static_cast<uint8_t>(std::lround(std::clamp(plane.values[i], 0.0F, 1.0F) * 255.0F));
    }
    return img;
}

Result<examples::Image> classMapImage(const Tensor& logits, int64_t row, int width, int height) {
    const Shape& s = logits.shape();
    const int64_t c = s[1];
    const int64_t h = s[2];
    const int64_t w = s[3];
    // A fixed palette: background black, then well-separated colours.
    static const uint8_t kPalette[][3] = {{0, 0, 0},      {230, 25, 75},  {60, 180, 75},   {255, 225, 25},
                                          {0, 130, 200},  {245, 130, 48}, {145, 30, 180},  {70, 240, 240},
                                          {240, 50, 230}, {210, 245, 60}, {250, 190, 212}, {0, 128, 128}};
    examples::Image img{width, height, 3, std::vector<uint8_t>(static_cast<size_t>(width) * height * 3)};
    for (int y = 0; y < height; ++y) {
        const int64_t sy = std::min<int64_t>(h - 1, static_cast<int64_t>(y) * h / height);
        for (int x = 0; x < width; ++x) {
            const int64_t sx = std::min<int64_t>(w - 1, static_cast<int64_t>(x) * w / width);
            int64_t best = 0;
            for (int64_t k = 1; k < c; ++k) {
                if (logits.getDouble(((row * c + k) * h + sy) * w + sx) >
                    logits.getDouble(((row * c + best) * h + sy) * w + sx))
                    best = k;
            }
            const uint8_t* colour = kPalette[best % static_cast<int64_t>(std::size(kPalette))];
            std::copy(colour, colour + 3, &img.pixels[(static_cast<size_t>(y) * width + x) * 3]);
        }
    }
    return img;
}

}  // namespace kiln::cli
