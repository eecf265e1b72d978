// Running the `kiln` executable from tests, small models for its subcommands, and .npy/.png files to feed it.
//
//   TempDir dir;
//   const std::string model = dir.write("conv.onnx", cli_models::convRelu());
//   CliResult r = runKiln(dir, "build '" + model + "' -o '" + dir.file("conv.engine") + "'");
//   EXPECT_EQ(r.exitCode, 0) << r.err;
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "image.h"
#include "kiln/tensor.h"
#include "unit/model_builder.h"

#ifndef KILN_CLI_PATH
#error "tests/CMakeLists.txt defines KILN_CLI_PATH as the path of the kiln executable"
#endif

namespace kiln::testing {

struct CliResult {
    int exitCode = -1;
    std::string out;
    std::string err;
};

inline std::string readFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

//! `s` in single quotes, for the shell.
inline std::string shq(const std::string& s) { return "'" + s + "'"; }

//! The kiln executable: $KILN_CLI_PATH when set (the GPU machine runs a bundled copy, scripts/gpu_check.sh), else
//! the one this build made.
inline std::string kilnPath() {
    const char* env = std::getenv("KILN_CLI_PATH");
    return env != nullptr && *env != '\0' ? env : KILN_CLI_PATH;
}

//! Runs `kiln <args>` with stdout and stderr captured to files in `dir`; in folder `cwd` when given (for command
//! lines that name files relative to it).
inline CliResult runKiln(const TempDir& dir, const std::string& args, const std::string& cwd = "") {
    const std::string out = dir.file("cli.stdout");
    const std::string err = dir.file("cli.stderr");
    const std::string cmd = (cwd.empty() ? "" : "cd " + shq(cwd) + " && ") + shq(kilnPath()) + " " + args + " >" +
                            shq(out) + " 2>" + shq(err);
    const int status = std::system(cmd.c_str());
    CliResult r;
    r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = readFile(out);
    r.err = readFile(err);
    return r;
}

//! A failure: exit code `code` (0 = any non-zero), exactly one stderr line "kiln: error: ...", containing every one
//! of `mentions`.
inline void expectOneErrorLine(const CliResult& r, const std::vector<std::string>& mentions, const std::string& what,
                               int code = 0) {
    if (code != 0) {
        EXPECT_EQ(r.exitCode, code) << what << ": " << r.err;
    } else {
        EXPECT_NE(r.exitCode, 0) << what;
    }
    EXPECT_LT(r.exitCode, 128) << what << " died from a signal";
    ASSERT_FALSE(r.err.empty()) << what;
    EXPECT_EQ(r.err.rfind("kiln: error: ", 0), 0u) << what << ": " << r.err;
    EXPECT_EQ(r.err.back(), '\n') << what;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << what << " printed more than one line:\n" << r.err;
    for (const std::string& m : mentions)
        EXPECT_NE(r.err.find(m), std::string::npos) << what << ": no '" << m << "' in " << r.err;
}

inline std::filesystem::path modelsDir() {
    if (const char* env = std::getenv("KILN_MODELS_DIR")) return env;
    return KILN_MODELS_DIR;
}

//! A real model's file, or "" when absent (the caller skips).
inline std::string realModel(const std::string& name) {
    const auto p = modelsDir() / name / "model.onnx";
    return std::filesystem::exists(p) ? p.string() : std::string();
}

//! A .npy (format 1.0) of NumPy dtype `descr` ("<f4", "<i8", ...) holding `data`, written the way NumPy does.
inline std::string npyBytes(const std::string& descr, const std::string& data, const Shape& shape) {
    std::string dims;
    for (size_t i = 0; i < shape.size(); ++i) dims += (i ? ", " : "") + std::to_string(shape[i]);
    if (shape.size() == 1) dims += ",";
    std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + dims + "), }";
    header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
    header += '\n';
    std::string bytes("\x93NUMPY\x01\x00", 8);
    bytes += static_cast<char>(header.size() & 0xff);
    bytes += static_cast<char>(header.size() >> 8);
    return bytes + header + data;
}

//! A float32 .npy.
inline std::string npyBytes(const std::vector<float>& values, const Shape& shape) {
    return npyBytes("<f4", std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)),
                    shape);
}

//! The float32 values of a .npy file (format 1.0, '<f4'); empty when it is not one.
inline std::vector<float> readNpyFloats(const std::string& path, Shape* shape = nullptr) {
    const std::string bytes = readFile(path);
    if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) return {};
    const size_t headerLen = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    const std::string header = bytes.substr(10, headerLen);
    if (header.find("'<f4'") == std::string::npos) return {};
    if (shape) {
        shape->clear();
        const size_t open = header.find('(');
        std::stringstream ss(header.substr(open + 1, header.find(')') - open - 1));
        for (std::string item; std::getline(ss, item, ',');) {
            if (item.find_first_not_of(' ') != std::string::npos) shape->push_back(std::stoll(item));
        }
    }
    std::vector<float> values((bytes.size() - 10 - headerLen) / sizeof(float));
    std::memcpy(values.data(), bytes.data() + 10 + headerLen, values.size() * sizeof(float));
    return values;
}

//! An RGB PNG of `width` x `height` filled by f(x, y) -> {r, g, b}.
template <typename F>
std::string writeRgbPng(const TempDir& dir, const std::string& name, int width, int height, F f) {
    examples::Image img{width, height, 3, std::vector<uint8_t>(static_cast<size_t>(width) * height * 3)};
    for (int y = 0; y < height; ++y) {
        for (int x = 0; x < width; ++x) {
            const auto rgb = f(x, y);
            for (int c = 0; c < 3; ++c)
                img.pixels[(static_cast<size_t>(y) * width + x) * 3 + c] = rgb[static_cast<size_t>(c)];
        }
    }
    const std::string path = dir.file(name);
    EXPECT_TRUE(examples::writePng(path, img).isOk()) << path;
    return path;
}

//! Width, height and channels of a PNG (from its IHDR chunk); {0, 0, 0} when it is not one.
inline std::array<int, 3> pngSize(const std::string& path) {
    const std::string b = readFile(path);
    if (b.size() < 26 || b.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0) return {0, 0, 0};
    auto be32 = [&](size_t at) {
        return (static_cast<unsigned char>(b[at]) << 24) | (static_cast<unsigned char>(b[at + 1]) << 16) |
               (static_cast<unsigned char>(b[at + 2]) << 8) | static_cast<unsigned char>(b[at + 3]);
    };
    static const int kChannels[] = {1, 0, 3, 0, 2, 0, 4};  // by PNG colour type
    const int type = static_cast<unsigned char>(b[25]);
    return {static_cast<int>(be32(16)), static_cast<int>(be32(20)), type < 7 ? kChannels[type] : 0};
}

namespace cli_models {

//! y = Relu(Conv(x, W) + b): x float32[N, 3, 8, 8] (N dynamic when `dynamicBatch`), 4 output channels, 3x3 pad 1.
inline onnx::ModelProto convRelu(bool dynamicBatch = false) {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    auto& x = addInput(g, "x", onnx::TensorProto::FLOAT, {1, 3, 8, 8});
    std::vector<float> w(4 * 3 * 3 * 3);
    for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>((i * 7) % 11) / 11.0f - 0.4f;
    addInitializer(g, floatTensor("W", {4, 3, 3, 3}, w));
    addInitializer(g, floatTensor("B", {4}, {0.1f, -0.2f, 0.3f, 0.0f}));
    auto& conv = addNode(g, "Conv", {"x", "W", "B"}, {"c"}, "conv0");
    addIntsAttr(conv, "pads", {1, 1, 1, 1});
    addNode(g, "Relu", {"c"}, {"y"}, "relu0");
    auto& y = addOutput(g, "y", onnx::TensorProto::FLOAT, {1, 4, 8, 8});
    if (dynamicBatch) {
        x.mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_param("N");
        y.mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_param("N");
    }
    return m;
}

//! A classifier: x float32[B, 3, 8, 8] → GlobalAveragePool → Flatten → Gemm → logits [B, 4]. Class k's logit is
//! 10 * (mean of channel k) for k < 3 and 0 for class 3, so a red image is class 0, a green one class 1.
inline onnx::ModelProto classifier(int64_t batch) {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    auto& x = addInput(g, "x", onnx::TensorProto::FLOAT, {batch < 0 ? 1 : batch, 3, 8, 8});
    addInitializer(g, floatTensor("W", {3, 4}, {10, 0, 0, 0, 0, 10, 0, 0, 0, 0, 10, 0}));
    addNode(g, "GlobalAveragePool", {"x"}, {"p"}, "gap");
    addNode(g, "Flatten", {"p"}, {"f"}, "flat");
    addNode(g, "Gemm", {"f", "W"}, {"logits"}, "fc");
    auto& y = addOutput(g, "logits", onnx::TensorProto::FLOAT, {batch < 0 ? 1 : batch, 4});
    if (batch < 0) {
        x.mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_param("N");
        y.mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_param("N");
    }
    return m;
}

//! A "segmenter": x float32[1, 3, 16, 16] → mask [1, 1, 16, 16] = Sigmoid(8 * (mean over channels - 0.5)), so a
//! bright region is foreground.
inline onnx::ModelProto segmenter() {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    addInput(g, "image", onnx::TensorProto::FLOAT, {1, 3, 16, 16});
    addInitializer(g, floatTensor("half", {1}, {0.5f}));
    addInitializer(g, floatTensor("gain", {1}, {8.0f}));
    auto& mean = addNode(g, "ReduceMean", {"image"}, {"m"}, "mean");
    addIntsAttr(mean, "axes", {1});
    addNode(g, "Sub", {"m", "half"}, {"c"}, "center");
    addNode(g, "Mul", {"c", "gain"}, {"s"}, "scale");
    addNode(g, "Sigmoid", {"s"}, {"mask"}, "sigmoid");
    addOutput(g, "mask", onnx::TensorProto::FLOAT, {1, 1, 16, 16});
    return m;
}

//! y = x * 3 on float32[2, 3]: same I/O as addModel() (y = x + x), different results.
inline onnx::ModelProto tripleModel() {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    addInput(g, "x", onnx::TensorProto::FLOAT, {2, 3});
    addInitializer(g, floatTensor("three", {1}, {3.0f}));
    addNode(g, "Mul", {"x", "three"}, {"y"}, "mul0");
    addOutput(g, "y", onnx::TensorProto::FLOAT, {2, 3});
    return m;
}

}  // namespace cli_models

}  // namespace kiln::testing
