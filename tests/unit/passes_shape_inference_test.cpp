// The "shape-inference" pass on small graphs: the shape chains of dynamic-batch exports (Reshape targets and Slice
// ends computed from Shape), what each rule knows, what it must leave unknown, and that it never replaces a shape
// the model gives.
#include <gtest/gtest.h>

#include <sstream>

#include "passes/shape_rules.h"
#include "passes_test_util.h"

namespace kiln::testing {
namespace {

using ir::OpKind;

//! "batchx16x?" → [batch, 16, unknown]; "scalar" → []; each part a number, "?" or a symbol.
ir::SymbolicShape sym(const std::string& s) {
    std::vector<ir::Dim> dims;
    if (s == "scalar") return dims;
    std::stringstream in(s);
    for (std::string part; std::getline(in, part, 'x');) {
        if (part == "?") dims.push_back({});
        else if (std::isdigit(static_cast<unsigned char>(part[0]))) dims.push_back(ir::Dim::known(std::stoll(part)));
        else dims.push_back(ir::Dim::symbolic(part));
    }
    return dims;
}

std::string shapeOf(const ir::Graph& g, const std::string& name) {
    const ir::Value* v = g.findValue(name);
    return v ? ir::symbolicShapeToString(v->shape()) : "<no value " + name + ">";
}

bool hasRank(const ir::Graph& g, const std::string& name) { return g.findValue(name)->shape().has_value(); }

ir::Value* symbolicInput(GraphBuilder& b, const std::string& name, DataType t, const std::string& shape) {
    ir::Value* v = b.input(name, t, {});
    v->setShape(sym(shape));
    return v;
}

Tensor ints(const std::vector<int64_t>& v) {
    const auto n = static_cast<int64_t>(v.size());
    return Tensor::fromVector<int64_t>(v, {n});
}

passes::PipelineReport infer(ir::Graph& g, std::vector<std::string>* log = nullptr) {
    return runPasses(g, one(passes::createShapeInference()), log);
}

//! dim `i` of `x` as a 1-element int64 tensor: Unsqueeze(Gather(Shape(x), i)), as torch exports `x.shape[i]`.
std::string dimOf(GraphBuilder& b, const std::string& x, int64_t i) {
    const std::string tag = x + std::to_string(i);
    if (!b.value(x + "_shape")->producer()) b.node(OpKind::kShape, {x}, {x + "_shape"}, DataType::kInt64);
    b.constant("idx" + tag, Tensor::scalar<int64_t>(i));
    b.constant("zero" + tag, ints({0}));
    b.node(OpKind::kGather, {x + "_shape", "idx" + tag}, {"g" + tag}, DataType::kInt64);
    b.node(OpKind::kUnsqueeze, {"g" + tag, "zero" + tag}, {"u" + tag}, DataType::kInt64);
    return "u" + tag;
}

TEST(PassShapeInference, DynamicBatchReshapeFromShapeChain) {
    // BERT's t.reshape(b, s, heads, dh).transpose(1, 2) with b, s and h read from Shape (dh = h / heads computed).
    ir::Graph g;
    GraphBuilder b(g);
    symbolicInput(b, "x", DataType::kFloat32, "batchx16x64");
    b.constant("W", randomTensor({64, 64}, 1));
    b.constant("bias", randomTensor({64}, 2));
    b.node(OpKind::kMatMul, {"x", "W"}, {"mm"});
    b.node(OpKind::kAdd, {"bias", "mm"}, {"q"});
    const std::string bDim = dimOf(b, "x", 0), sDim = dimOf(b, "x", 1);
    b.constant("idx2", Tensor::scalar<int64_t>(2));
    b.constant("heads", Tensor::scalar<int64_t>(4));
    b.constant("zero", ints({0}));
    b.constant("headsVec", ints({4}));
    b.node(OpKind::kGather, {"x_shape", "idx2"}, {"h"}, DataType::kInt64);
    b.node(OpKind::kDiv, {"h", "heads"}, {"dh"}, DataType::kInt64);
    b.node(OpKind::kCast, {"dh"}, {"dhCast"}, DataType::kInt64)->attrs().set("to", int64_t{7});
    b.node(OpKind::kUnsqueeze, {"dhCast", "zero"}, {"dhVec"}, DataType::kInt64);
    b.node(OpKind::kConcat, {bDim, sDim, "headsVec", "dhVec"}, {"target"}, DataType::kInt64)
        ->attrs()
        .set("axis", int64_t{0});
    b.node(OpKind::kReshape, {"q", "target"}, {"heads4"});
    b.node(OpKind::kTranspose, {"heads4"}, {"qt"})->attrs().set("perm", std::vector<int64_t>{0, 2, 1, 3});
    b.output("qt");
    // q.reshape(b, -1): the -1 is 16 · 64 once batch cancels against the input's.
    b.constant("minusOne", ints({-1}));
    b.node(OpKind::kConcat, {bDim, "minusOne"}, {"flatTarget"}, DataType::kInt64)->attrs().set("axis", int64_t{0});
    b.node(OpKind::kReshape, {"q", "flatTarget"}, {"flat"});
    b.output("flat");

    std::vector<std::string> log;
    const auto report = infer(g, &log);
    EXPECT_EQ(shapeOf(g, "q"), "batchx16x64");
    EXPECT_EQ(shapeOf(g, "target"), "4");
    EXPECT_EQ(shapeOf(g, "heads4"), "batchx16x4x16");
    EXPECT_EQ(shapeOf(g, "qt"), "batchx4x16x16");
    EXPECT_EQ(shapeOf(g, "flat"), "batchx1024");
    EXPECT_EQ(report.changesByPass.at("shape-inference"), 16);
    ASSERT_FALSE(log.empty());
    EXPECT_EQ(log.front(), "shape-inference: completed the shapes of 16 values (16 had no rank)");
    // A second run finds nothing more: the pipeline reaches its fixed point.
    EXPECT_EQ(infer(g).changesByPass.count("shape-inference"), 0u);
}

TEST(PassShapeInference, PositionSliceWithEndsFromShape) {
    // positions(positionIds[:, :s]) + words(ids): the Slice's ends come from Shape(ids).
    auto build = [](GraphBuilder& b, const std::string& ids) {
        symbolicInput(b, "ids", DataType::kInt64, ids);
        b.constant("positionIds", ints({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}).reshaped({1, 10}).value());
        b.constant("table", randomTensor({10, 8}, 3));
        b.constant("starts", ints({0}));
        b.constant("axes", ints({1}));
        b.constant("steps", ints({1}));
        const std::string s = dimOf(b, "ids", 1);
        b.node(OpKind::kSlice, {"positionIds", "starts", s, "axes", "steps"}, {"pos"}, DataType::kInt64);
        b.node(OpKind::kGather, {"table", "pos"}, {"posEmb"});
        b.node(OpKind::kGather, {"table", "ids"}, {"wordEmb"});
        b.node(OpKind::kAdd, {"wordEmb", "posEmb"}, {"sum"});
        b.output("sum");
    };
    auto check = [&](const std::string& ids, const std::string& pos, const std::string& sum) {
        ir::Graph g;
        GraphBuilder b(g);
        build(b, ids);
        infer(g);
        EXPECT_EQ(shapeOf(g, "pos"), pos) << ids;
        EXPECT_EQ(shapeOf(g, "sum"), sum) << ids;
    };
    check("batchx6", "1x6", "batchx6x8");
    // A symbolic sequence: min(seq, 10) is not a dim Kiln can name, but the ranks survive.
    check("batchxseq", "1x?", "batchx?x8");
}

TEST(PassShapeInference, UnknownStaysUnknown) {
    ir::Graph g;
    GraphBuilder b(g);
    symbolicInput(b, "x", DataType::kFloat32, "batchx16x64");
    symbolicInput(b, "target", DataType::kInt64, "n");  // a shape input of unknown length
    symbolicInput(b, "y", DataType::kFloat32, "batchx1x?");
    b.node(OpKind::kReshape, {"x", "target"}, {"r"});
    b.node(OpKind::kRelu, {"r"}, {"relu"});
    b.node(OpKind::kSqueeze, {"y"}, {"squeezed"});  // which dims are 1 is not known: neither is the rank
    b.node(OpKind::kMatMul, {"relu", "x"}, {"product"});
    b.node(OpKind::kNonZero, {"x"}, {"nz"}, DataType::kInt64);
    b.node(OpKind::kReshape, {"x", "nz"}, {"rnz"});  // [3, ?]: not a 1-D shape of known length
    for (const char* out : {"r", "relu", "squeezed", "product", "rnz"}) b.output(out);
    infer(g);
    for (const char* v : {"r", "relu", "squeezed", "product", "rnz"}) EXPECT_FALSE(hasRank(g, v)) << v;
    EXPECT_EQ(shapeOf(g, "nz"), "3x?");
}

TEST(PassShapeInference, CompletesButNeverReplacesModelShapes) {
    ir::Graph g;
    GraphBuilder b(g);
    symbolicInput(b, "x", DataType::kFloat32, "batchx16x64");
    b.node(OpKind::kRelu, {"x"}, {"partial"})->output(0)->setShape(sym("?x16x?"));
    b.node(OpKind::kRelu, {"x"}, {"named"})->output(0)->setShape(sym("rowsx16x64"));
    b.node(OpKind::kRelu, {"x"}, {"wrong"})->output(0)->setShape(sym("?x17x64"));
    b.node(OpKind::kRelu, {"x"}, {"rank"})->output(0)->setShape(sym("?x?"));
    for (const char* out : {"partial", "named", "wrong", "rank"}) b.output(out);
    infer(g);
    EXPECT_EQ(shapeOf(g, "partial"), "batchx16x64");  // unknown dims are filled in
    EXPECT_EQ(shapeOf(g, "named"), "rowsx16x64");     // a symbol stays
    EXPECT_EQ(shapeOf(g, "wrong"), "?x17x64");        // a disagreement keeps the model's shape
    EXPECT_EQ(shapeOf(g, "rank"), "?x?");
}

// ---- the rules one op at a time

struct RuleCase {
    OpKind op;
    std::vector<std::string> inputShapes;         //!< "" = omitted input, "none" = unknown rank
    std::vector<std::vector<int64_t>> inputData;  //!< per input, its elements (empty: none known)
    std::vector<std::pair<std::string, ir::AttributeValue>> attrs;
};

std::string runRule(const RuleCase& c, size_t outputs = 1) {
    ir::Graph g;
    ir::Node* n = g.addNode(c.op, "n", 17);
    std::vector<passes::shapes::Facts> facts(c.inputShapes.size());
    std::vector<const passes::shapes::Facts*> ptrs;
    for (size_t i = 0; i < c.inputShapes.size(); ++i) {
        if (c.inputShapes[i].empty()) {
            ptrs.push_back(nullptr);
            continue;
        }
        facts[i].shape = c.inputShapes[i] == "none" ? std::nullopt : sym(c.inputShapes[i]);
        if (i < c.inputData.size() && !c.inputData[i].empty()) {
            facts[i].data.emplace();
            for (int64_t v : c.inputData[i]) facts[i].data->push_back(passes::shapes::Elem::of(v));
        }
        ptrs.push_back(&facts[i]);
    }
    for (size_t i = 0; i < outputs; ++i) n->addOutput(g.createValue("y" + std::to_string(i)).value());
    for (const auto& [name, value] : c.attrs) n->attrs().set(name, value);
    const auto out = passes::shapes::inferNode(*n, ptrs);
    return ir::symbolicShapeToString(out.at(0).shape);
}

TEST(ShapeRules, Reshape) {
    using V = std::vector<int64_t>;
    EXPECT_EQ(runRule({OpKind::kReshape, {"batchx16x64", "2"}, {{}, V{0, -1}}, {}}), "batchx1024");
    EXPECT_EQ(runRule({OpKind::kReshape, {"batchx16x64", "3"}, {{}, V{-1, 16, 4}}, {}}), "?x16x4");
    EXPECT_EQ(runRule({OpKind::kReshape, {"2x3x4", "2"}, {{}, V{-1, 4}}, {}}), "6x4");
    EXPECT_EQ(runRule({OpKind::kReshape, {"batchx2048x1x1", "2"}, {{}, V{-1, 2048}}, {}}), "batchx2048");
    EXPECT_EQ(runRule({OpKind::kReshape, {"batchx16x64", "3"}, {{}, V{-1, 16, 64}}, {}}), "batchx16x64");
    EXPECT_EQ(runRule({OpKind::kReshape, {"batchx128x768", "2"}, {{}, V{-1, 768}}, {}}), "?x768");  // batch · 128
    EXPECT_EQ(runRule({OpKind::kReshape, {"batchx0x8", "2"}, {{}, V{4, -1}}, {}}), "4x0");
    EXPECT_EQ(runRule({OpKind::kReshape, {"2x3x4", "3"}, {{}, V{0, 0, 0}}, {{"allowzero", int64_t{1}}}}), "0x0x0");
    EXPECT_EQ(runRule({OpKind::kReshape, {"none", "3"}, {{}, V{0, 5, -1}}, {}}), "?x5x?");
    EXPECT_EQ(runRule({OpKind::kReshape, {"none", "3"}, {}, {}}), "?x?x?");           // the target's length alone
    EXPECT_EQ(runRule({OpKind::kReshape, {"2x3", "2"}, {{}, V{-1, -1}}, {}}), "?");   // the kernel rejects it
    EXPECT_EQ(runRule({OpKind::kReshape, {"2x3", "3"}, {{}, V{1, 6, 0}}, {}}), "?");  // copies a missing dim
}

TEST(ShapeRules, SliceGatherConcatSqueeze) {
    using V = std::vector<int64_t>;
    constexpr int64_t kEnd = std::numeric_limits<int64_t>::max();
    EXPECT_EQ(runRule({OpKind::kSlice, {"batchx10x8", "1", "1", "1", "1"}, {{}, V{-1}, V{-kEnd}, V{1}, V{-2}}, {}}),
              "batchx5x8");
    EXPECT_EQ(runRule({OpKind::kSlice, {"batchx10", "1", "1", "1"}, {{}, V{0}, V{kEnd}, V{0}}, {}}), "batchx10");
    EXPECT_EQ(runRule({OpKind::kSlice, {"batchx10", "1", "1", "1"}, {{}, V{1}, V{kEnd}, V{0}}, {}}), "?x10");
    EXPECT_EQ(runRule({OpKind::kSlice, {"batchx10", "1", "1", "1"}, {{}, V{2}, V{-1}, V{1}}, {}}), "batchx7");
    EXPECT_EQ(runRule({OpKind::kSlice, {"4x10", "1", "1", "1"}, {}, {}}), "?x?");  // axes unknown: rank only
    EXPECT_EQ(runRule({OpKind::kGather, {"batchx7x8", "scalar"}, {}, {{"axis", int64_t{1}}}}), "batchx8");
    EXPECT_EQ(runRule({OpKind::kGather, {"5x8", "batchx16"}, {}, {}}), "batchx16x8");
    EXPECT_EQ(runRule({OpKind::kConcat, {"batchx3", "?x4", "none"}, {}, {{"axis", int64_t{-1}}}}), "batchx?");
    EXPECT_EQ(runRule({OpKind::kConcat, {"batchx3", "?x4"}, {}, {{"axis", int64_t{1}}}}), "batchx7");
    EXPECT_EQ(runRule({OpKind::kUnsqueeze, {"batchx3", "2"}, {{}, V{-1, 0}}, {}}), "1xbatchx3x1");
    EXPECT_EQ(runRule({OpKind::kSqueeze, {"batchx1x3", "1"}, {{}, V{1}}, {}}), "batchx3");
    EXPECT_EQ(runRule({OpKind::kSqueeze, {"batchx2x3", "1"}, {{}, V{1}}, {}}), "?");  // size 2 cannot go
    EXPECT_EQ(runRule({OpKind::kSqueeze, {"1x2x1"}, {}, {}}), "2");
}

TEST(ShapeRules, BroadcastMatMulAndMovement) {
    using V = std::vector<int64_t>;
    EXPECT_EQ(runRule({OpKind::kAdd, {"batchx1x8", "5x1"}, {}, {}}), "batchx5x8");
    EXPECT_EQ(runRule({OpKind::kAdd, {"batchx?", "seqx8"}, {}, {}}), "?x8");
    EXPECT_EQ(runRule({OpKind::kWhere, {"1x4", "batchx1", "scalar"}, {}, {}}), "batchx4");
    EXPECT_EQ(runRule({OpKind::kMatMul, {"batchx16x64", "64x192"}, {}, {}}), "batchx16x192");
    EXPECT_EQ(runRule({OpKind::kMatMul, {"64", "batchx64x3"}, {}, {}}), "batchx3");
    EXPECT_EQ(runRule({OpKind::kMatMul, {"bx4x16x8", "1x4x8x16"}, {}, {}}), "bx4x16x16");
    EXPECT_EQ(runRule({OpKind::kGemm, {"none", "10x20"}, {}, {{"transB", int64_t{1}}}}), "?x10");
    EXPECT_EQ(runRule({OpKind::kTranspose, {"bx16x4x8"}, {}, {{"perm", V{0, 2, 1, 3}}}}), "bx4x16x8");
    EXPECT_EQ(runRule({OpKind::kTranspose, {"bx16x4"}, {}, {}}), "4x16xb");
    EXPECT_EQ(runRule({OpKind::kFlatten, {"batchx2048x1x1"}, {}, {}}), "batchx2048");
    EXPECT_EQ(runRule({OpKind::kExpand, {"1x1x8", "3"}, {{}, V{4, 1, 1}}, {}}), "4x1x8");
    EXPECT_EQ(runRule({OpKind::kExpand, {"batchx1x8", "3"}, {}, {}}), "?x?x8");
    EXPECT_EQ(runRule({OpKind::kSplit, {"batchx12", "2"}, {{}, V{4, 8}}, {{"axis", int64_t{1}}}}, 2), "batchx4");
    EXPECT_EQ(runRule({OpKind::kTile, {"batchx3", "2"}, {{}, V{1, 2}}, {}}), "batchx6");
    EXPECT_EQ(runRule({OpKind::kPad, {"batchx3x5", "6"}, {{}, V{0, 0, 1, 0, 0, 2}}, {}}), "batchx3x8");
}

TEST(ShapeRules, WindowsReductionsAndNormalization) {
    using V = std::vector<int64_t>;
    EXPECT_EQ(
        runRule({OpKind::kConv, {"batchx3x224x224", "64x3x7x7"}, {}, {{"strides", V{2, 2}}, {"pads", V{3, 3, 3, 3}}}}),
        "batchx64x112x112");
    EXPECT_EQ(runRule({OpKind::kConv, {"batchx3x?x224", "64x3x3x3"}, {}, {}}), "batchx64x?x?");
    EXPECT_EQ(runRule({OpKind::kMaxPool,
                       {"batchx64x112x112"},
                       {},
                       {{"kernel_shape", V{3, 3}}, {"strides", V{2, 2}}, {"pads", V{1, 1, 1, 1}}}}),
              "batchx64x56x56");
    EXPECT_EQ(runRule({OpKind::kMaxPool,
                       {"1x1x5x5"},
                       {},
                       {{"kernel_shape", V{2, 2}}, {"strides", V{2, 2}}, {"ceil_mode", int64_t{1}}}}),
              "1x1x3x3");
    EXPECT_EQ(runRule({OpKind::kConvTranspose, {"batchx8x16x16", "8x4x2x2"}, {}, {{"strides", V{2, 2}}}}),
              "batchx4x32x32");
    EXPECT_EQ(runRule({OpKind::kGlobalAveragePool, {"batchx2048x7x7"}, {}, {}}), "batchx2048x1x1");
    EXPECT_EQ(runRule({OpKind::kReduceMean, {"batchx16x64"}, {}, {{"axes", V{-1}}}}), "batchx16x1");
    EXPECT_EQ(runRule({OpKind::kReduceSum, {"batchx16x64", "1"}, {{}, V{1}}, {{"keepdims", int64_t{0}}}}), "batchx64");
    EXPECT_EQ(runRule({OpKind::kArgMax, {"batchx10"}, {}, {{"axis", int64_t{1}}, {"keepdims", int64_t{0}}}}), "batch");
    EXPECT_EQ(runRule({OpKind::kLayerNormalization, {"batchx16x64", "64"}, {}, {}}), "batchx16x64");
    EXPECT_EQ(runRule({OpKind::kTopK, {"batchx100", "1"}, {{}, V{5}}, {}}, 2), "batchx5");
    EXPECT_EQ(runRule({OpKind::kResize, {"batchx3x8x8", "", "", "4"}, {{}, {}, {}, V{1, 3, 16, 16}}, {}}), "1x3x16x16");
    EXPECT_EQ(runRule({OpKind::kDepthToSpace, {"batchx16x4x4"}, {}, {{"blocksize", int64_t{2}}}}), "batchx4x8x8");
}

}  // namespace
}  // namespace kiln::testing
