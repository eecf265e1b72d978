#include "image.h"

// Debian's libstb-dev ships the implementations in libstb; these are declarations only.
#include <stb_image.h>
#include <stb_image_write.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <type_traits>

namespace kiln::examples {

namespace fs = std::filesystem;

Result<Image> readRgbImage(const std::string& path) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) return notFound("image '" + path + "' does not exist or is not a file");
    int width = 0;
    int height = 0;
    int fileChannels = 0;
    std::unique_ptr<stbi_uc, void (*)(void*)> data(stbi_load(path.c_str(), &width, &height, &fileChannels, 3),
                                                   stbi_image_free);
    if (!data) {
        return invalidArgument("cannot read image '" + path + "': " + stbi_failure_reason() +
                               " (JPEG, PNG, BMP, TGA, GIF, PSD, HDR, PIC and PNM are readable)");
    }
    Image image{width, height, 3, {}};
    image.pixels.assign(data.get(), data.get() + static_cast<size_t>(width) * height * 3);
    return image;
}

Status writePng(const std::string& path, const Image& image) {
    const fs::path parent = fs::path(path).parent_path();
    std::error_code ec;
    if (!parent.empty()) fs::create_directories(parent, ec);
    if (ec) return ioError("cannot create folder '" + parent.string() + "': " + ec.message());
    errno = 0;
    if (stbi_write_png(path.c_str(), image.width, image.height, image.channels, image.pixels.data(),
                       image.width * image.channels) == 0) {
        return ioError("cannot write '" + path + "'" + (errno != 0 ? std::string(": ") + std::strerror(errno) : ""));
    }
    return Status::ok();
}

namespace {

// Pillow's Resample.c, with its names: for each output pixel, the first source pixel, how many it reads, and the
// normalised triangle-filter weights (`taps` slots per output pixel, zero beyond `count`).
struct Axis {
    int taps = 0;
    std::vector<int> first;
    std::vector<int> count;
    std::vector<double> weights;
};

Axis precomputeCoefficients(int inSize, int outSize) {
    constexpr double kSupport = 1.0;  // the bilinear (triangle) filter reaches one source pixel each way
    const double scale = static_cast<double>(inSize) / outSize;
    const double filterScale = std::max(scale, 1.0);
    const double support = kSupport * filterScale;
    const double invFilterScale = 1.0 / filterScale;  // Pillow multiplies by the reciprocal; so must we, to the bit
    Axis axis;
    axis.taps = static_cast<int>(std::ceil(support)) * 2 + 1;
    axis.first.resize(outSize);
    axis.count.resize(outSize);
    axis.weights.assign(static_cast<size_t>(outSize) * axis.taps, 0.0);
    for (int xx = 0; xx < outSize; ++xx) {
        const double center = (xx + 0.5) * scale;
        // Pillow rounds by truncating `x + 0.5` toward zero; the clamp makes negative values 0 either way.
        const int xmin = std::max(static_cast<int>(center - support + 0.5), 0);
        const int xmax = std::min(static_cast<int>(center + support + 0.5), inSize) - xmin;
        double* k = &axis.weights[static_cast<size_t>(xx) * axis.taps];
        double sum = 0.0;
        for (int x = 0; x < xmax; ++x) {
            const double w = std::max(0.0, 1.0 - std::abs((x + xmin - center + 0.5) * invFilterScale));
            k[x] = w;
            sum += w;
        }
        if (sum != 0.0) {
            for (int x = 0; x < xmax; ++x) k[x] /= sum;
        }
        axis.first[xx] = xmin;
        axis.count[xx] = std::max(xmax, 0);
    }
    return axis;
}

// 8-bit images use Pillow's fixed point: weights scaled by 2^22, rounding bias added up front, result clipped.
constexpr int kPrecisionBits = 32 - 8 - 2;

std::vector<int32_t> fixedPointWeights(const std::vector<double>& weights) {
    std::vector<int32_t> fixed(weights.size());
    for (size_t i = 0; i < weights.size(); ++i) {
        const double scaled = weights[i] * (1 << kPrecisionBits);
        fixed[i] = static_cast<int32_t>(scaled < 0 ? scaled - 0.5 : scaled + 0.5);
    }
    return fixed;
}

uint8_t clip8(int32_t v) {
    if (v >= (1 << kPrecisionBits) << 8) return 255;
    if (v <= 0) return 0;
    return static_cast<uint8_t>(v >> kPrecisionBits);
}

// One separable pass along an axis. The data is seen as `lines` lines; within a line, output position o and lane i
// (a channel, or a whole row for the vertical pass) is the weighted sum of input positions first[o]..+count[o].
template <typename T>
void resampleAxis(const T* in, T* out, const Axis& axis, int lines, int64_t inLine, int64_t outLine, int64_t inStep,
                  int64_t outStep, int64_t lanes) {
    using Weight = std::conditional_t<std::is_same_v<T, uint8_t>, int32_t, double>;
    std::vector<Weight> weights;
    if constexpr (std::is_same_v<T, uint8_t>) {
        weights = fixedPointWeights(axis.weights);
    } else {
        weights = axis.weights;
    }
    const int outSize = static_cast<int>(axis.first.size());
    for (int line = 0; line < lines; ++line) {
        const T* src = in + line * inLine;
        T* dst = out + line * outLine;
        for (int o = 0; o < outSize; ++o) {
            const Weight* k = &weights[static_cast<size_t>(o) * axis.taps];
            const T* base = src + axis.first[o] * inStep;
            for (int64_t lane = 0; lane < lanes; ++lane) {
                if constexpr (std::is_same_v<T, uint8_t>) {
                    int32_t acc = 1 << (kPrecisionBits - 1);
                    for (int x = 0; x < axis.count[o]; ++x) acc += base[x * inStep + lane] * k[x];
                    dst[o * outStep + lane] = clip8(acc);
                } else {
                    double acc = 0.0;
                    for (int x = 0; x < axis.count[o]; ++x) acc += base[x * inStep + lane] * k[x];
                    dst[o * outStep + lane] = static_cast<T>(acc);
                }
            }
        }
    }
}

// Data laid out as height x width x channels. Like Pillow, an axis whose size does not change is not resampled.
template <typename T>
std::vector<T> resample(const std::vector<T>& in, int inW, int inH, int channels, int outW, int outH) {
    std::vector<T> cur = in;
    if (outW != inW) {
        std::vector<T> next(static_cast<size_t>(outW) * inH * channels);
        resampleAxis(cur.data(), next.data(), precomputeCoefficients(inW, outW), inH, int64_t{inW} * channels,
                     int64_t{outW} * channels, channels, channels, channels);
        cur = std::move(next);
    }
    if (outH != inH) {
        const int64_t row = int64_t{outW} * channels;
        std::vector<T> next(static_cast<size_t>(row) * outH);
        resampleAxis(cur.data(), next.data(), precomputeCoefficients(inH, outH), 1, 0, 0, row, row, row);
        cur = std::move(next);
    }
    return cur;
}

}  // namespace

Image resizeBilinear(const Image& src, int width, int height) {
    return {width, height, src.channels, resample(src.pixels, src.width, src.height, src.channels, width, height)};
}

Plane resizeBilinear(const Plane& src, int width, int height) {
    return {width, height, resample(src.values, src.width, src.height, 1, width, height)};
}

Image cutout(const Image& photo, const Image& alpha) {
    Image rgba{photo.width, photo.height, 4, std::vector<uint8_t>(static_cast<size_t>(photo.width) * photo.height * 4)};
    for (size_t p = 0; p < alpha.pixels.size(); ++p) {
        std::copy_n(&photo.pixels[p * 3], 3, &rgba.pixels[p * 4]);
        rgba.pixels[p * 4 + 3] = alpha.pixels[p];
    }
    return rgba;
}

Image toGray(const Image& rgb) {
    Image gray{rgb.width, rgb.height, 1, std::vector<uint8_t>(static_cast<size_t>(rgb.width) * rgb.height)};
    for (size_t i = 0; i < gray.pixels.size(); ++i) {
        const uint8_t* p = &rgb.pixels[i * 3];
        gray.pixels[i] = static_cast<uint8_t>((p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16);
    }
    return gray;
}

}  // namespace kiln::examples
