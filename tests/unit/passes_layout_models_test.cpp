// The nhwc-layout pass on the real models of .cache/models (tests/models/prepare_models.sh): the default pipeline
// with the layout pass forced on (FP32, CPU reference) gives the outputs of the default pipeline without it within
// 1e-5 relative, and leaves the Transposes counted below.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "frontend/onnx/importer.h"
#include "frontend/onnx/tensor_proto.h"
#include "ir/graph_edit.h"
#include "passes_layout_test_util.h"

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;

struct ModelCase {
    std::string name;
    size_t transposes;     //!< Transposes expected after the pass.
    const char* why;       //!< Where they are.
    size_t nchwConvs = 0;  //!< Convolutions left NCHW: those whose input rank stays unknown.
};

void PrintTo(const ModelCase& c, std::ostream* os) { *os << c.name; }

class NhwcOnModels : public ::testing::TestWithParam<ModelCase> {};

TEST_P(NhwcOnModels, MatchesNchwAndLeavesTransposesOnlyAtTheEdges) {
    const ModelCase& param = GetParam();
    const char* env = std::getenv("KILN_MODELS_DIR");
    const fs::path dir = fs::path(env ? env : KILN_MODELS_DIR) / param.name;
    if (!fs::exists(dir / "model.onnx")) {
        GTEST_SKIP() << "no " << dir / "model.onnx"
                     << ": run tests/models/prepare_models.sh (or set KILN_MODELS_DIR to a folder holding it)";
    }
    auto nchw = onnx_frontend::importOnnxFile((dir / "model.onnx").string());
    ASSERT_TRUE(nchw.isOk()) << nchw.status().message();
    auto nhwc = onnx_frontend::importOnnxFile((dir / "model.onnx").string());
    ASSERT_TRUE(nhwc.isOk());
    optimizeGraph(*nchw->graph, false);
    std::vector<std::string> log;
    optimizeGraph(*nhwc->graph, true, &log);
    const ir::Graph& g = *nhwc->graph;
    for (const auto& line : log) {
        if (line.find("nhwc-layout: ") == 0 && line.find(" runs channels-last") == std::string::npos) {
            std::cout << "  [" << param.name << "] " << line << "\n";
        }
    }
    std::cout << "  [" << param.name << "] FusedConvNhwc " << countOps(g, ir::OpKind::kFusedConvNhwc)
              << ", ConvTransposeNhwc " << countOps(g, ir::OpKind::kConvTransposeNhwc) << " ("
              << std::count_if(g.nodes().begin(), g.nodes().end(),
                               [](const auto& n) { return n->attrs().has("kiln_concat_slot"); })
              << " writing into their Concat), pools "
              << countOps(g, ir::OpKind::kMaxPoolNhwc) + countOps(g, ir::OpKind::kAveragePoolNhwc) +
                     countOps(g, ir::OpKind::kGlobalAveragePoolNhwc)
              << ", Transposes " << countOps(g, ir::OpKind::kTranspose) << " (" << param.why << ")\n";
    EXPECT_EQ(countOps(g, ir::OpKind::kConv) + countOps(g, ir::OpKind::kFusedConv), param.nchwConvs);
    EXPECT_EQ(countOps(g, ir::OpKind::kTranspose), param.transposes);
    for (const auto& n : g.nodes()) {
        if (n->op() != ir::OpKind::kTranspose) continue;
        const ir::Value* in = n->input(0);
        const ir::Value* out = n->output(0);
        std::cout << "  [" << param.name << "] Transpose " << in->name() << " -> " << out->name()
                  << (ir::isGraphInput(in) ? " (graph input)" : "") << (ir::isGraphOutput(out) ? " (graph output)" : "")
                  << "\n";
    }

    std::vector<Tensor> inputs;
    for (int i = 0;; ++i) {
        const fs::path f = dir / "test_data_set_0" / ("input_" + std::to_string(i) + ".pb");
        if (!fs::exists(f)) break;
        auto t = onnx_frontend::readTensorProtoFile(f.string());
        ASSERT_TRUE(t.isOk()) << f << ": " << t.status().message();
        inputs.push_back(std::move(t).value());
    }
    const auto want = runGraph(*nchw->graph, inputs);
    const auto got = runGraph(g, inputs);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
        const double err = maxRelError(got[i], want[i]);
        std::cout << "  [" << param.name << "] output " << i << " max rel error NHWC vs NCHW " << err << "\n";
        EXPECT_LE(err, 1e-5) << "output " << i;
    }
}

INSTANTIATE_TEST_SUITE_P(
    Pass, NhwcOnModels,
    ::testing::Values(ModelCase{"resnet50", 1, "the input"}, ModelCase{"unet_small", 2, "the input and the logits"},
                      ModelCase{"ppocrv4_det", 4,
                                "the input, the probability map, and around the head's BatchNormalization "
                                "(after a ConvTranspose it is not folded, and has no channels-last form)"},
                      ModelCase{"ppocr_cls", 1, "the input (the head reads the pooled [N, 1, 1, C] as a view)"},
                      // Its last convolutions read a Reshape of the sequence model whose target is computed:
                      // shape-inference gives them their rank, so they too run channels-last and the model's own
                      // NHWC -> NCHW Transpose before them cancels.
                      ModelCase{"ppocrv4_rec", 7,
                                "its own 9 less the 4 that its 2 Attention nodes absorb and the 1 before its last "
                                "convolutions, the input, and where the convolutional stages hand over to the "
                                "sequence model and to the head (Reshape, MatMul, Slice readers)"},
                      ModelCase{"isnet_fp32", 7,
                                "the input and the 6 side outputs: Resize with run-time sizes and the exporter's "
                                "Casts stay channels-last"}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace kiln::testing
