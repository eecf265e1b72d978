// "shape-inference" against the shapes the CPU reference executor produces: every shape the importer gave an
// intermediate value is erased first, so the pass infers all of them from the graph inputs alone; then every value
// becomes a graph output and each inferred dim must be the executed one (a symbol the same size wherever it
// appears). On the real models of .cache/models (tests/models/prepare_models.sh; ISNet is left out: its shapes are
// all static already, and keeping its every activation alive takes 13 s here) and on every ONNX backend test that
// Kiln runs (Debian's libonnx-testdata: single ops at their edge cases, and the function-expanded tests' shape
// arithmetic).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>

#include "frontend/onnx/importer.h"
#include "frontend/onnx/tensor_proto.h"
#include "ir/graph_edit.h"
#include "passes_test_util.h"

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;

struct Agreement {
    size_t values = 0, importerRanks = 0, ranks = 0, dims = 0, knownDims = 0;
    std::vector<std::string> mismatches;
};

//! input_0.pb, input_1.pb, ... of a test data folder; nullopt when one cannot be read.
std::optional<std::vector<Tensor>> readInputs(const fs::path& set) {
    std::vector<Tensor> inputs;
    for (int i = 0;; ++i) {
        const fs::path f = set / ("input_" + std::to_string(i) + ".pb");
        if (!fs::exists(f)) break;
        auto t = onnx_frontend::readTensorProtoFile(f.string());
        if (!t) return std::nullopt;
        inputs.push_back(std::move(t).value());
    }
    return inputs;
}

//! Erases the importer's shapes of node outputs, infers them, runs the graph with every value as an output and
//! compares. `ran` is false when the executor refuses the graph or its inputs (nothing compared then).
Agreement inferAndRun(ir::Graph& g, const std::vector<Tensor>& inputs, bool& ran) {
    Agreement a;
    for (const auto& node : g.nodes()) {
        for (ir::Value* v : node->outputs()) {
            if (!v) continue;
            ++a.values;
            a.importerRanks += v->shape().has_value() ? 1 : 0;
            v->setShape(std::nullopt);
        }
    }
    runPasses(g, one(passes::createShapeInference()));
    for (const auto& node : g.nodes()) {
        for (ir::Value* v : node->outputs()) {
            if (v && !ir::isGraphOutput(v)) g.addOutput(v);
        }
    }
    auto got = cpu::Executor().run(g, inputs);
    ran = got.isOk() && got->size() == g.outputs().size();
    if (!ran) return a;
    std::map<std::string, int64_t> symbols;
    for (size_t i = 0; i < g.inputs().size() && i < inputs.size(); ++i) {
        const auto& dims = g.inputs()[i]->shape();
        for (size_t d = 0; dims && d < dims->size() && d < inputs[i].shape().size(); ++d) {
            if (!(*dims)[d].symbol.empty()) symbols.emplace((*dims)[d].symbol, inputs[i].shape()[d]);
        }
    }
    for (size_t i = 0; i < got->size(); ++i) {
        const ir::Value* v = g.outputs()[i];
        if (!v->shape() || !(*got)[i].defined()) continue;
        ++a.ranks;
        const Shape& actual = (*got)[i].shape();
        const std::string what =
            v->name() + ": inferred " + ir::symbolicShapeToString(v->shape()) + ", ran " + shapeToString(actual);
        if (v->shape()->size() != actual.size()) {
            a.mismatches.push_back(what);
            continue;
        }
        for (size_t d = 0; d < actual.size(); ++d) {
            const ir::Dim& dim = (*v->shape())[d];
            ++a.dims;
            if (dim.isStatic() || !dim.symbol.empty()) ++a.knownDims;
            const int64_t want = dim.isStatic() ? dim.size : symbols.emplace(dim.symbol, actual[d]).first->second;
            if ((dim.isStatic() || !dim.symbol.empty()) && want != actual[d]) {
                a.mismatches.push_back(what);
                break;
            }
        }
    }
    return a;
}

std::string listed(const std::vector<std::string>& lines) {
    std::string s;
    for (size_t i = 0; i < lines.size() && i < 20; ++i) s += "\n  " + lines[i];
    return s;
}

class ShapeInferenceOnModels : public ::testing::TestWithParam<std::string> {};

TEST_P(ShapeInferenceOnModels, AgreesWithExecutedShapes) {
    const char* env = std::getenv("KILN_MODELS_DIR");
    const fs::path dir = fs::path(env ? env : KILN_MODELS_DIR) / GetParam();
    if (!fs::exists(dir / "model.onnx")) {
        GTEST_SKIP() << "no " << dir / "model.onnx"
                     << ": run tests/models/prepare_models.sh (or set KILN_MODELS_DIR to a folder holding it)";
    }
    auto model = onnx_frontend::importOnnxFile((dir / "model.onnx").string());
    ASSERT_TRUE(model.isOk()) << model.status().message();
    const auto inputs = readInputs(dir / "test_data_set_0");
    ASSERT_TRUE(inputs.has_value());
    bool ran = false;
    const Agreement a = inferAndRun(*model->graph, *inputs, ran);
    ASSERT_TRUE(ran);
    std::cout << "  [" << GetParam() << "] ranks: importer " << a.importerRanks << ", inferred " << a.ranks << " of "
              << a.values << " values; dims known " << a.knownDims << " of " << a.dims << "\n";
    EXPECT_TRUE(a.mismatches.empty()) << a.mismatches.size() << " mismatches:" << listed(a.mismatches);
    // From the graph inputs alone the pass finds every rank that ONNX's inference found with the model's value_info.
    EXPECT_GE(a.ranks, a.importerRanks);
}

INSTANTIATE_TEST_SUITE_P(Pass, ShapeInferenceOnModels,
                         ::testing::Values("resnet50", "bert_tiny", "ppocr_cls", "ppocrv4_det", "ppocrv4_rec",
                                           "unet_small"));

TEST(ShapeInferenceOnConformance, AgreesWithExecutedShapes) {
    const fs::path root = KILN_ONNX_TESTDATA;
    if (!fs::exists(root / "node")) GTEST_SKIP() << "no ONNX backend test data at " << root;
    Agreement total;
    size_t tests = 0;
    for (const char* suite : {"node", "pytorch-converted", "pytorch-operator", "simple"}) {
        std::vector<fs::path> dirs;
        for (const auto& e : fs::directory_iterator(root / suite)) dirs.push_back(e.path());
        std::sort(dirs.begin(), dirs.end());
        for (const fs::path& dir : dirs) {
            auto model = onnx_frontend::importOnnxFile((dir / "model.onnx").string());
            const auto inputs = model ? readInputs(dir / "test_data_set_0") : std::nullopt;
            if (!inputs) continue;  // unsupported here (the conformance runs list why)
            bool ran = false;
            const Agreement a = inferAndRun(*model->graph, *inputs, ran);
            if (!ran) continue;
            ++tests;
            total.values += a.values;
            total.importerRanks += a.importerRanks;
            total.ranks += a.ranks;
            total.dims += a.dims;
            total.knownDims += a.knownDims;
            for (const auto& m : a.mismatches) total.mismatches.push_back(dir.filename().string() + ": " + m);
        }
    }
    std::cout << "  " << tests << " tests: ranks: importer " << total.importerRanks << ", inferred " << total.ranks
              << " of " << total.values << " values; dims known " << total.knownDims << " of " << total.dims << "\n";
    EXPECT_GT(tests, 500u);
    EXPECT_TRUE(total.mismatches.empty()) << total.mismatches.size() << " mismatches:" << listed(total.mismatches);
}

}  // namespace
}  // namespace kiln::testing
