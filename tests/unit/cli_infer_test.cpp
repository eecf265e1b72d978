// `kiln infer` through the executable: images as one batch (filled by repetition for a larger fixed batch), top-k
// with labels, masks and cut-outs as PNG, .npy/.bin inputs and outputs, the JSON config, and bad arguments.
#include <gtest/gtest.h>

#include "frontend/onnx/tensor_proto.h"
#include "unit/cli_test_util.h"

namespace kiln::testing {
namespace {

using Rgb = std::array<uint8_t, 3>;

std::string solid(const TempDir& dir, const std::string& name, Rgb colour, int w = 12, int h = 10) {
    return writeRgbPng(dir, name, w, h, [&](int, int) { return colour; });
}

//! The lines of `out` between the line naming `image` and the next image's line.
std::string sectionOf(const std::string& out, const std::string& image) {
    const size_t start = out.find(image + "\n");
    if (start == std::string::npos) return {};
    const size_t end = out.find("\n/", start + image.size());
    return out.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

TEST(CliInfer, ImagesBecomeOneBatchWithLabels) {
    TempDir dir;
    const std::string model = dir.write("cls.onnx", cli_models::classifier(-1));
    const std::string engine = dir.file("cls.engine");
    ASSERT_EQ(runKiln(dir, "build -q " + shq(model) + " -o " + shq(engine) +
                               " --min-shapes x:1x3x8x8 --opt-shapes x:2x3x8x8 --max-shapes x:4x3x8x8")
                  .exitCode,
              0);
    const std::string red = solid(dir, "red.png", {255, 0, 0});
    const std::string green = solid(dir, "green.png", {0, 255, 0});
    const std::string labels = dir.writeBytes("labels.txt", "red\ngreen\nblue\nnothing\n");
    // Plain [0, 1] scaling: the logits are 10 x the channel means.
    const CliResult r = runKiln(dir, "infer " + shq(engine) + " " + shq(red) + " " + shq(green) + " --labels " +
                                         shq(labels) + " --top-k 2 --mean 0 --std 1");
    ASSERT_EQ(r.exitCode, 0) << r.err;
    EXPECT_NE(r.out.find("2 images -> input 'x' (8x8, NCHW, RGB)"), std::string::npos) << r.out;
    EXPECT_NE(sectionOf(r.out, red).find("1. 0.99"), std::string::npos) << r.out;
    EXPECT_NE(sectionOf(r.out, red).find("red (class 0)"), std::string::npos) << r.out;
    EXPECT_NE(sectionOf(r.out, green).find("green (class 1)"), std::string::npos) << r.out;
    // BGR swaps the channels: the red image reads as blue.
    const CliResult bgr = runKiln(dir, "infer " + shq(engine) + " " + shq(red) + " --labels " + shq(labels) +
                                           " --top-k 1 --mean 0 --std 1 --bgr");
    ASSERT_EQ(bgr.exitCode, 0) << bgr.err;
    EXPECT_NE(bgr.out.find("blue (class 2)"), std::string::npos) << bgr.out;
}

TEST(CliInfer, FixedBatchIsFilledByRepetitionAndOnlyRealResultsReported) {
    TempDir dir;
    const std::string model = dir.write("cls4.onnx", cli_models::classifier(4));
    const std::string red = solid(dir, "red.png", {255, 0, 0});
    const std::string green = solid(dir, "green.png", {0, 255, 0});
    const CliResult r = runKiln(dir, "infer " + shq(model) + " " + shq(red) + " " + shq(green) +
                                         " --top-k 1 --save-outputs " + shq(dir.file("out")));
    ASSERT_EQ(r.exitCode, 0) << r.err;
    EXPECT_NE(r.out.find("batch filled to 4 by repeating"), std::string::npos) << r.out;
    size_t reported = 0;
    for (size_t at = r.out.find("logits: top 1"); at != std::string::npos; at = r.out.find("logits: top 1", at + 1)) {
        ++reported;
    }
    EXPECT_EQ(reported, 2u) << r.out;
    Shape shape;
    const auto logits = readNpyFloats(dir.file("out/green.logits.npy"), &shape);
    EXPECT_EQ(shape, (Shape{1, 4}));
    ASSERT_EQ(logits.size(), 4u);
    EXPECT_GT(logits[1], logits[0]);
    EXPECT_FALSE(std::filesystem::exists(dir.file("out/red_2.logits.npy")));
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.file("out")), {}), 2);
}

TEST(CliInfer, MasksAndCutouts) {
    TempDir dir;
    const std::string model = dir.write("seg.onnx", cli_models::segmenter());
    // A white square on black, 40x30: the mask is the square, at the photo's size.
    const std::string photo = writeRgbPng(dir, "photo.png", 40, 30, [](int x, int y) {
        const uint8_t v = (x >= 10 && x < 30 && y >= 5 && y < 25) ? 255 : 0;
        return Rgb{v, v, v};
    });
    const CliResult r = runKiln(dir, "infer " + shq(model) + " " + shq(photo) + " --scale 0.00392157 --mean 0 " +
                                         "--std 1 --mask-dir " + shq(dir.file("masks")) + " --cutout");
    ASSERT_EQ(r.exitCode, 0) << r.err;
    EXPECT_NE(r.out.find("mask: mask float32[1x1x16x16]"), std::string::npos) << r.out;
    EXPECT_EQ(pngSize(dir.file("masks/photo_mask.png")), (std::array<int, 3>{40, 30, 1}));
    EXPECT_EQ(pngSize(dir.file("masks/photo_cutout.png")), (std::array<int, 3>{40, 30, 4}));
}

TEST(CliInfer, NpyAndBinInputsAndConfigFile) {
    TempDir dir;
    const std::string model = dir.write("add.onnx", addModel());
    const std::string x = dir.writeBytes("x.npy", npyBytes({1, 2, 3, 4, 5, 6}, {2, 3}));
    const CliResult r =
        runKiln(dir, "infer " + shq(model) + " --input x:" + shq(x) + " --save-outputs " + shq(dir.file("out")));
    ASSERT_EQ(r.exitCode, 0) << r.err;
    EXPECT_EQ(readNpyFloats(dir.file("out/output.y.npy")), (std::vector<float>{2, 4, 6, 8, 10, 12}));
    std::vector<float> raw{1, 1, 1, 2, 2, 2};
    const std::string bin = dir.writeBytes("x.bin", std::string(reinterpret_cast<const char*>(raw.data()), 24));
    const CliResult b =
        runKiln(dir, "infer " + shq(model) + " --input x:" + shq(bin) + " --shapes x:2x3 --outputs y:tensor");
    ASSERT_EQ(b.exitCode, 0) << b.err;
    EXPECT_NE(b.out.find("y: float32[2x3] min 2 max 4 mean 3"), std::string::npos) << b.out;

    // <model>.json next to the model: "outputs" picks what is reported; an unknown key is refused by name.
    const std::string seg = dir.write("seg.onnx", cli_models::segmenter());
    const std::string photo = solid(dir, "p.png", {200, 200, 200}, 16, 16);
    dir.writeBytes("seg.onnx.json", R"({"scale": 1, "mean": [0, 0, 0], "std": 255, "outputs": {"mask": "tensor"}})");
    const CliResult c = runKiln(dir, "infer " + shq(seg) + " " + shq(photo));
    ASSERT_EQ(c.exitCode, 0) << c.err;
    EXPECT_NE(c.out.find("mask: float32[1x1x16x16]"), std::string::npos) << c.out;
    dir.writeBytes("seg.onnx.json", R"({"scael": 1})");
    expectOneErrorLine(runKiln(dir, "infer " + shq(seg) + " " + shq(photo)), {"seg.onnx.json", "'scael'"},
                       "unknown config key", 2);
}

TEST(CliInfer, BadArgumentsGiveOneLine) {
    TempDir dir;
    const std::string model = dir.write("cls.onnx", cli_models::classifier(1));
    const std::string red = solid(dir, "red.png", {255, 0, 0});
    const std::string notImage = dir.writeBytes("notes.png", "not an image");
    const std::string base = "infer " + shq(model);
    const std::string ints = dir.writeBytes("i.npy", npyBytes("<i8", std::string(8, '\0'), {1}));
    expectOneErrorLine(runKiln(dir, base + " " + shq(dir.file("gone.jpg"))), {"gone.jpg"}, "missing image", 3);
    expectOneErrorLine(runKiln(dir, base + " " + shq(notImage)), {"notes.png"}, "not an image", 3);
    expectOneErrorLine(runKiln(dir, base), {"images", "--input"}, "nothing to run", 2);
    expectOneErrorLine(runKiln(dir, base + " --input y:" + shq(ints)), {"'y'"}, "unknown input", 3);
    expectOneErrorLine(runKiln(dir, base + " --input x:" + shq(ints)), {"int64", "float32"}, "dtype mismatch", 3);
    expectOneErrorLine(runKiln(dir, base + " --input x" + shq(ints)), {"--input", "name:file.npy"}, "syntax", 2);
    expectOneErrorLine(runKiln(dir, base + " " + shq(red) + " --outputs nope"), {"'nope'"}, "unknown output", 3);
    expectOneErrorLine(runKiln(dir, base + " " + shq(red) + " --outputs logits:histogram"), {"histogram"},
                       "unknown output kind", 2);
    expectOneErrorLine(runKiln(dir, base + " " + shq(red) + " --mean 0.5,x"), {"--mean", "'x'"}, "bad mean", 2);
    expectOneErrorLine(runKiln(dir, base + " " + shq(red) + " --labels " + shq(dir.file("l.txt"))), {"l.txt"},
                       "missing labels", 3);
}

TEST(CliInfer, RealModelMatchesTheReference) {
    const std::string model = realModel("resnet50");
    const std::string chelsea = "/usr/lib/python3/dist-packages/skimage/data/chelsea.png";
    if (model.empty() || !std::filesystem::exists(chelsea)) GTEST_SKIP() << "resnet50 or skimage's chelsea.png absent";
    TempDir dir;
    // tests/models/images.py made the reference input the same way: Pillow bilinear to 224x224, ImageNet mean/std.
    const CliResult r = runKiln(dir, "infer " + shq(model) + " " + shq(chelsea) +
                                         " --shapes input:1x3x224x224 --top-k 1 --save-outputs " + shq(dir.path()));
    ASSERT_EQ(r.exitCode, 0) << r.err;
    auto ref = onnx_frontend::readTensorProtoFile((modelsDir() / "resnet50/test_data_set_0/output_0.pb").string());
    ASSERT_TRUE(ref.isOk());
    const auto got = readNpyFloats(dir.file("chelsea.logits.npy"));
    ASSERT_EQ(got.size(), 1000u);
    double maxAbs = 0, maxRef = 0;
    for (size_t i = 0; i < 1000; ++i) {
        maxAbs = std::max(maxAbs, static_cast<double>(std::abs(got[i] - ref->data<float>()[i])));
        maxRef = std::max(maxRef, static_cast<double>(std::abs(ref->data<float>()[i])));
    }
    EXPECT_LT(maxAbs / maxRef, 1e-4);
}

}  // namespace
}  // namespace kiln::testing
