// ONNX → IR: what the importer builds from valid models (constants, external data, ordering, subgraphs with
// outer-scope captures, opset adapters), checked on the IR and by running the result.
#include <gtest/gtest.h>

#include <cstring>
#include <unordered_map>

#include "backends/cpu/executor.h"
#include "frontend/onnx/importer.h"
#include "ops/op_tester.h"
#include "unit/bad_models.h"

namespace kiln::testing {
namespace {

using onnx_frontend::ImportedModel;
using onnx_frontend::importModel;
using onnx_frontend::importOnnxFile;

std::string floatBytes(const std::vector<float>& v) {
    return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

Result<std::unordered_map<std::string, Tensor>> run(const ImportedModel& model,
                                                    const std::unordered_map<std::string, Tensor>& inputs) {
    return cpu::Executor().runNamed(*model.graph, inputs);
}

const ir::Node* onlyNode(const ir::Graph& g) { return g.nodes().size() == 1 ? g.nodes()[0].get() : nullptr; }

TEST(Importer, ReadsExternalDataAtOffsetAndLength) {
    TempDir dir;
    // 8 bytes of junk, the four floats, 12 more bytes of junk.
    dir.writeBytes("data/weights.bin", std::string(8, 'J') + floatBytes({1, 2, 3, 4}) + std::string(12, 'K'));
    const std::string path = dir.write("model.onnx", bad_models::externalWeightModel("data/weights.bin", 8, 16));
    auto model = importOnnxFile(path);
    ASSERT_TRUE(model.isOk()) << model.status().message();
    const ir::Value* w = model->graph->findValue("weights");
    ASSERT_NE(w, nullptr);
    ASSERT_TRUE(w->isConstant());
    expectTensorEq(w->constant(), Tensor::fromVector<float>({1, 2, 3, 4}));
    EXPECT_EQ(model->path, path);
    EXPECT_EQ(model->irVersion, 8);
    EXPECT_EQ(model->producer, "kiln-tests");

    auto out = run(*model, {{"x", Tensor::fromVector<float>({10, 20, 30, 40})}});
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorEq(out->at("y"), Tensor::fromVector<float>({11, 22, 33, 44}));
}

TEST(Importer, ExternalDataWithoutLengthReadsWhatTheShapeNeeds) {
    TempDir dir;
    dir.writeBytes("w.bin", std::string(4, '\0') + floatBytes({5, 6, 7, 8}));
    auto model = importOnnxFile(dir.write("m.onnx", bad_models::externalWeightModel("w.bin", 4)));
    ASSERT_TRUE(model.isOk()) << model.status().message();
    expectTensorEq(model->graph->findValue("weights")->constant(), Tensor::fromVector<float>({5, 6, 7, 8}));
}

TEST(Importer, ConstantValueFormsBecomeConstants) {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    auto& tensorNode = addNode(g, "Constant", {}, {"c_tensor"});
    *addAttr(tensorNode, "value", onnx::AttributeProto::TENSOR).mutable_t() = floatTensor("", {2}, {1.5f, -2.5f});
    addFloatAttr(addNode(g, "Constant", {}, {"c_float"}), "value_float", 0.25f);
    auto& floats = addAttr(addNode(g, "Constant", {}, {"c_floats"}), "value_floats", onnx::AttributeProto::FLOATS);
    floats.add_floats(1);
    floats.add_floats(2);
    floats.add_floats(3);
    addIntAttr(addNode(g, "Constant", {}, {"c_int"}), "value_int", -7);
    addIntsAttr(addNode(g, "Constant", {}, {"c_ints"}), "value_ints", {4, 5});
    addAttr(addNode(g, "Constant", {}, {"c_string"}), "value_string", onnx::AttributeProto::STRING).set_s("hi");
    auto& strings = addAttr(addNode(g, "Constant", {}, {"c_strings"}), "value_strings", onnx::AttributeProto::STRINGS);
    strings.add_strings("a");
    strings.add_strings("bc");
    for (const char* name : {"c_tensor", "c_float", "c_floats", "c_int", "c_ints", "c_string", "c_strings"}) {
        addUntypedOutput(g, name);
    }

    auto model = importModel(m, ".");
    ASSERT_TRUE(model.isOk()) << model.status().message();
    const ir::Graph& graph = *model->graph;
    EXPECT_TRUE(graph.nodes().empty()) << "Constant nodes fold into constant values";
    auto constant = [&](const std::string& name) -> const Tensor& {
        const ir::Value* v = graph.findValue(name);
        EXPECT_NE(v, nullptr) << name;
        EXPECT_TRUE(v->isConstant()) << name;
        return v->constant();
    };
    expectTensorEq(constant("c_tensor"), Tensor::fromVector<float>({1.5f, -2.5f}));
    expectTensorEq(constant("c_float"), Tensor::scalar<float>(0.25f));
    expectTensorEq(constant("c_floats"), Tensor::fromVector<float>({1, 2, 3}));
    expectTensorEq(constant("c_int"), Tensor::scalar<int64_t>(-7));
    expectTensorEq(constant("c_ints"), Tensor::fromVector<int64_t>({4, 5}));
    const Tensor& s = constant("c_string");
    ASSERT_EQ(s.dtype(), DataType::kString);
    EXPECT_EQ(s.shape(), Shape{});
    EXPECT_EQ(s.strings()[0], "hi");
    const Tensor& ss = constant("c_strings");
    ASSERT_EQ(ss.shape(), Shape{2});
    EXPECT_EQ(ss.strings()[0], "a");
    EXPECT_EQ(ss.strings()[1], "bc");
    // A one-element value_ints stays 1-d (fromVector alone would not know).
    onnx::ModelProto one = makeModel();
    addIntsAttr(addNode(*one.mutable_graph(), "Constant", {}, {"c"}), "value_ints", {9});
    addUntypedOutput(*one.mutable_graph(), "c");
    auto oneModel = importModel(one, ".");
    ASSERT_TRUE(oneModel.isOk()) << oneModel.status().message();
    EXPECT_EQ(oneModel->graph->findValue("c")->constant().shape(), Shape{1});

    auto out = run(*model, {});
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorEq(out->at("c_ints"), Tensor::fromVector<int64_t>({4, 5}));
}

TEST(Importer, InitializerThatIsAlsoAnInputIsAConstant) {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    addInput(g, "x", onnx::TensorProto::FLOAT, {3});
    addInput(g, "w", onnx::TensorProto::FLOAT, {3});
    addInitializer(g, floatTensor("w", {3}, {1, 2, 3}));
    addNode(g, "Add", {"x", "w"}, {"y"}, "add");
    addOutput(g, "y", onnx::TensorProto::FLOAT, {3});
    auto model = importModel(m, ".");
    ASSERT_TRUE(model.isOk()) << model.status().message();
    ASSERT_EQ(model->graph->inputs().size(), 1u);
    EXPECT_EQ(model->graph->inputs()[0]->name(), "x");
    ASSERT_TRUE(model->graph->findValue("w")->isConstant());
    auto out = run(*model, {{"x", Tensor::fromVector<float>({1, 1, 1})}});
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorEq(out->at("y"), Tensor::fromVector<float>({2, 3, 4}));
}

TEST(Importer, SortsNodesGivenOutOfOrder) {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    addInput(g, "x", onnx::TensorProto::FLOAT, {2});
    addNode(g, "Add", {"b", "a"}, {"y"}, "last");    // needs b and a
    addNode(g, "Add", {"a", "a"}, {"b"}, "middle");  // needs a
    addNode(g, "Identity", {"x"}, {"a"}, "first");
    addOutput(g, "y", onnx::TensorProto::FLOAT, {2});
    auto model = importModel(m, ".");
    ASSERT_TRUE(model.isOk()) << model.status().message();
    const auto& nodes = model->graph->nodes();
    ASSERT_EQ(nodes.size(), 3u);
    EXPECT_EQ(nodes[0]->name(), "first");
    EXPECT_EQ(nodes[1]->name(), "middle");
    EXPECT_EQ(nodes[2]->name(), "last");
    EXPECT_EQ(nodes[0]->sourceIndex(), 2);
    EXPECT_EQ(nodes[2]->sourceIndex(), 0);
    EXPECT_EQ(nodes[2]->describe(), "node 0 (Add 'last')");
    auto out = run(*model, {{"x", Tensor::fromVector<float>({1, 5})}});
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorEq(out->at("y"), Tensor::fromVector<float>({3, 15}));  // b + a = 2x + x
}

TEST(Importer, IndependentNodesKeepTheirOrder) {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    addInput(g, "x", onnx::TensorProto::FLOAT, {1});
    for (int i = 0; i < 5; ++i) addNode(g, "Identity", {"x"}, {"y" + std::to_string(i)}, "n" + std::to_string(i));
    for (int i = 0; i < 5; ++i) addOutput(g, "y" + std::to_string(i));
    auto model = importModel(m, ".");
    ASSERT_TRUE(model.isOk()) << model.status().message();
    for (int i = 0; i < 5; ++i) EXPECT_EQ(model->graph->nodes()[static_cast<size_t>(i)]->sourceIndex(), i);
}

//! a = x + x; y = If(c) then {a + x} else {Identity(a)}: both branches capture values of the main graph.
onnx::ModelProto ifCapturingModel() {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    addInput(g, "c", onnx::TensorProto::BOOL, {});
    addInput(g, "x", onnx::TensorProto::FLOAT, {3});
    auto& ifNode = addNode(g, "If", {"c"}, {"y"}, "if");
    addNode(g, "Add", {"x", "x"}, {"a"}, "double");  // after its consumer: the If's captures order it
    auto& thenG = addGraphAttr(ifNode, "then_branch");
    addNode(thenG, "Add", {"a", "x"}, {"t"}, "then_add");
    addUntypedOutput(thenG, "t");
    auto& elseG = addGraphAttr(ifNode, "else_branch");
    addNode(elseG, "Identity", {"a"}, {"e"}, "else_id");
    addUntypedOutput(elseG, "e");
    addOutput(g, "y", onnx::TensorProto::FLOAT, {3});
    return m;
}

TEST(Importer, IfBranchesCaptureOuterValues) {
    auto model = importModel(ifCapturingModel(), ".");
    ASSERT_TRUE(model.isOk()) << model.status().message();
    const ir::Graph& g = *model->graph;
    ASSERT_EQ(g.nodes().size(), 2u);
    EXPECT_EQ(g.nodes()[0]->name(), "double");
    const ir::Node& ifNode = *g.nodes()[1];
    auto thenG = ifNode.attrs().getGraph("then_branch");
    ASSERT_NE(thenG, nullptr);
    EXPECT_EQ(thenG->parent(), &g);
    const ir::Node* thenAdd = onlyNode(*thenG);
    ASSERT_NE(thenAdd, nullptr);
    EXPECT_EQ(thenAdd->input(0), g.findValue("a")) << "the capture is the outer Value itself";
    EXPECT_EQ(thenAdd->input(1), g.findValue("x"));

    const Tensor x = Tensor::fromVector<float>({1, 2, 3});
    auto yes = run(*model, {{"c", Tensor::scalar<bool>(true)}, {"x", x}});
    ASSERT_TRUE(yes.isOk()) << yes.status().message();
    expectTensorEq(yes->at("y"), Tensor::fromVector<float>({3, 6, 9}));
    auto no = run(*model, {{"c", Tensor::scalar<bool>(false)}, {"x", x}});
    ASSERT_TRUE(no.isOk()) << no.status().message();
    expectTensorEq(no->at("y"), Tensor::fromVector<float>({2, 4, 6}));
}

TEST(Importer, LoopBodyCapturesOuterValues) {
    // v = v0; for i in 0..2: v = v + step (step from the main graph); scan output collects each v.
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    addInput(g, "v0", onnx::TensorProto::FLOAT, {2});
    addInput(g, "step", onnx::TensorProto::FLOAT, {2});
    onnx::TensorProto trips;
    trips.set_name("trips");
    trips.set_data_type(onnx::TensorProto::INT64);
    trips.add_int64_data(3);
    addInitializer(g, trips);
    auto& loop = addNode(g, "Loop", {"trips", "", "v0"}, {"v_final", "v_all"}, "loop");
    auto& body = addGraphAttr(loop, "body");
    addInput(body, "i", onnx::TensorProto::INT64, {});
    addInput(body, "cond_in", onnx::TensorProto::BOOL, {});
    addInput(body, "v_in", onnx::TensorProto::FLOAT, {2});
    addNode(body, "Identity", {"cond_in"}, {"cond_out"}, "keep_going");
    addNode(body, "Add", {"v_in", "step"}, {"v_out"}, "accumulate");
    addNode(body, "Identity", {"v_out"}, {"v_scan"}, "collect");
    addOutput(body, "cond_out", onnx::TensorProto::BOOL, {});
    addOutput(body, "v_out", onnx::TensorProto::FLOAT, {2});
    addOutput(body, "v_scan", onnx::TensorProto::FLOAT, {2});
    addOutput(g, "v_final", onnx::TensorProto::FLOAT, {2});
    addOutput(g, "v_all", onnx::TensorProto::FLOAT, {3, 2});

    auto model = importModel(m, ".");
    ASSERT_TRUE(model.isOk()) << model.status().message();
    auto out = run(*model, {{"v0", Tensor::fromVector<float>({1, 10})}, {"step", Tensor::fromVector<float>({2, 5})}});
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorEq(out->at("v_final"), Tensor::fromVector<float>({7, 25}));
    expectTensorEq(out->at("v_all"), Tensor::fromVector<float>({3, 15, 5, 20, 7, 25}, {3, 2}));
}

TEST(Importer, SubgraphCapturesFromTwoLevelsUp) {
    // If inside If: the inner then-branch reads x from the main graph.
    onnx::ModelProto m = bad_models::nestedIfModel(2);
    auto model = importModel(m, ".");
    ASSERT_TRUE(model.isOk()) << model.status().message();
    auto out = run(*model, {{"c", Tensor::scalar<bool>(true)}, {"x", Tensor::fromVector<float>({1, 2, 3, 4})}});
    ASSERT_TRUE(out.isOk()) << out.status().message();
    expectTensorEq(out->at("y"), Tensor::fromVector<float>({1, 2, 3, 4}));
}

// ---- opset adapters: legacy attribute forms become the inputs of the newest form.

struct AdapterCase {
    std::string op;
    int64_t opset;
    void (*addAttrs)(onnx::NodeProto&);
    size_t numDataInputs;
    std::vector<std::pair<size_t, Tensor>> wantInputs;  //!< (input index, constant it must hold)
    std::vector<size_t> wantAbsent;                     //!< input indices that must be omitted
};

void PrintTo(const AdapterCase& c, std::ostream* os) { *os << c.op << "-" << c.opset; }

//! Imports a one-node model `op`(x, ...) at `opset`; the node's data inputs are graph inputs x0, x1, ...
Result<ImportedModel> importOneNode(const std::string& op, int64_t opset, void (*addAttrs)(onnx::NodeProto&),
                                    size_t numDataInputs, int32_t elemType = onnx::TensorProto::FLOAT) {
    onnx::ModelProto m = makeModel(opset);
    auto& g = *m.mutable_graph();
    std::vector<std::string> ins;
    for (size_t i = 0; i < numDataInputs; ++i) {
        ins.push_back("x" + std::to_string(i));
        addInput(g, ins.back(), elemType, {1, 4});
    }
    // TopK has two outputs (values, indices); every other adapted op has one.
    const std::vector<std::string> outs =
        op == "TopK" ? std::vector<std::string>{"y", "indices"} : std::vector<std::string>{"y"};
    auto& n = addNode(g, op, ins, outs, "n");
    addAttrs(n);
    for (const auto& o : outs) addUntypedOutput(g, o);
    return importModel(m, ".");
}

void noAttrs(onnx::NodeProto&) {}

void clipMaxHalf(onnx::NodeProto& n) { addFloatAttr(n, "max", 0.5f); }

class OpsetAdapters : public ::testing::TestWithParam<AdapterCase> {};

TEST_P(OpsetAdapters, AttributesBecomeInputs) {
    const AdapterCase& c = GetParam();
    if (!ir::findOp("", c.op)) GTEST_SKIP() << c.op << " is not in this build's op table";
    auto model = importOneNode(c.op, c.opset, c.addAttrs, c.numDataInputs);
    ASSERT_TRUE(model.isOk()) << model.status().message();
    const ir::Node* node = onlyNode(*model->graph);
    ASSERT_NE(node, nullptr);
    EXPECT_EQ(node->opset(), c.opset) << "the node keeps its opset; only its form changes";
    for (const auto& [index, want] : c.wantInputs) {
        const ir::Value* v = node->input(index);
        ASSERT_NE(v, nullptr) << "input " << index;
        ASSERT_TRUE(v->isConstant()) << "input " << index;
        expectTensorEq(v->constant(), want);
    }
    for (size_t index : c.wantAbsent) EXPECT_EQ(node->input(index), nullptr) << "input " << index;
    for (const auto& [name, value] : node->attrs().all()) {
        for (const char* moved :
             {"axes", "ratio", "split", "starts", "ends", "pads", "paddings", "value", "min", "max", "k"}) {
            EXPECT_NE(name, moved) << "attribute '" << name << "' should have become an input";
        }
    }
}

INSTANTIATE_TEST_SUITE_P(
    Importer, OpsetAdapters,
    ::testing::Values(
        AdapterCase{"Squeeze", 11, [](onnx::NodeProto& n) { addIntsAttr(n, "axes", {0}); }, 1,
                    {{1, Tensor::fromVector<int64_t>({0}, {1})}}, {}},
        AdapterCase{"Unsqueeze", 11, [](onnx::NodeProto& n) { addIntsAttr(n, "axes", {0, 3}); }, 1,
                    {{1, Tensor::fromVector<int64_t>({0, 3})}}, {}},
        AdapterCase{"ReduceSum", 11, [](onnx::NodeProto& n) { addIntsAttr(n, "axes", {-1}); }, 1,
                    {{1, Tensor::fromVector<int64_t>({-1}, {1})}}, {}},
        AdapterCase{"Split", 11, [](onnx::NodeProto& n) { addIntsAttr(n, "split", {1, 3}); }, 1,
                    {{1, Tensor::fromVector<int64_t>({1, 3})}}, {}},
        AdapterCase{"Dropout", 7, [](onnx::NodeProto& n) { addFloatAttr(n, "ratio", 0.25f); }, 1,
                    {{1, Tensor::scalar<float>(0.25f)}}, {}},
        AdapterCase{"Clip", 6,
                    [](onnx::NodeProto& n) {
                        addFloatAttr(n, "min", -1.0f);
                        addFloatAttr(n, "max", 2.0f);
                    },
                    1, {{1, Tensor::scalar<float>(-1.0f)}, {2, Tensor::scalar<float>(2.0f)}}, {}},
        AdapterCase{"Slice", 1,
                    [](onnx::NodeProto& n) {
                        addIntsAttr(n, "starts", {1});
                        addIntsAttr(n, "ends", {3});
                        addIntsAttr(n, "axes", {1});
                    },
                    1,
                    {{1, Tensor::fromVector<int64_t>({1}, {1})},
                     {2, Tensor::fromVector<int64_t>({3}, {1})},
                     {3, Tensor::fromVector<int64_t>({1}, {1})}},
                    {}},
        AdapterCase{"Pad", 2,
                    [](onnx::NodeProto& n) {
                        addIntsAttr(n, "pads", {0, 1, 0, 2});
                        addFloatAttr(n, "value", 1.5f);
                    },
                    1, {{1, Tensor::fromVector<int64_t>({0, 1, 0, 2})}, {2, Tensor::scalar<float>(1.5f)}}, {}},
        AdapterCase{"Pad", 1,  // Pad-1 spelled pads "paddings"
                    [](onnx::NodeProto& n) { addIntsAttr(n, "paddings", {0, 1, 0, 0}); }, 1,
                    {{1, Tensor::fromVector<int64_t>({0, 1, 0, 0})}}, {2}},
        AdapterCase{"TopK", 1, [](onnx::NodeProto& n) { addIntAttr(n, "k", 2); }, 1,
                    {{1, Tensor::fromVector<int64_t>({2}, {1})}}, {}},
        AdapterCase{"Resize", 10, noAttrs, 2, {}, {1}}),
    [](const auto& info) { return info.param.op + std::to_string(info.param.opset); });

TEST(Importer, AdapterConstantsFollowTheInputDtype) {
    if (!ir::findOp("", "Clip")) GTEST_SKIP() << "Clip is not in this build's op table";
    auto model = importOneNode("Clip", 6, clipMaxHalf, 1, onnx::TensorProto::FLOAT16);
    ASSERT_TRUE(model.isOk()) << model.status().message();
    const ir::Node* node = onlyNode(*model->graph);
    ASSERT_NE(node, nullptr);
    EXPECT_EQ(node->input(1), nullptr) << "no min attribute: input 1 stays omitted";
    ASSERT_NE(node->input(2), nullptr);
    EXPECT_EQ(node->input(2)->constant().dtype(), DataType::kFloat16);
    EXPECT_EQ(static_cast<float>(node->input(2)->constant().data<Half>()[0]), 0.5f);
}

TEST(Importer, ResizeTenMovesScalesToInputTwo) {
    if (!ir::findOp("", "Resize")) GTEST_SKIP() << "Resize is not in this build's op table";
    auto model = importOneNode("Resize", 10, noAttrs, 2);
    ASSERT_TRUE(model.isOk()) << model.status().message();
    const ir::Node* node = onlyNode(*model->graph);
    ASSERT_NE(node, nullptr);
    EXPECT_EQ(node->input(0), model->graph->findValue("x0"));
    EXPECT_EQ(node->input(1), nullptr);
    EXPECT_EQ(node->input(2), model->graph->findValue("x1"));
}

TEST(Importer, NewestFormsAreLeftAlone) {
    if (!ir::findOp("", "Squeeze")) GTEST_SKIP() << "Squeeze is not in this build's op table";
    auto model = importOneNode("Squeeze", 13, noAttrs, 2);
    ASSERT_TRUE(model.isOk()) << model.status().message();
    const ir::Node* node = onlyNode(*model->graph);
    ASSERT_NE(node, nullptr);
    EXPECT_EQ(node->input(1), model->graph->findValue("x1"));
}

}  // namespace
}  // namespace kiln::testing
