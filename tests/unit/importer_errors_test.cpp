// Bad input through the importer: every malformed or hostile model gives a failed Status with one line that names
// the file and the problem, and nothing crashes or throws.
#include <gtest/gtest.h>

#include <algorithm>

#include "frontend/onnx/importer.h"
#include "unit/bad_models.h"

namespace kiln::testing {
namespace {

using onnx_frontend::checkModel;
using onnx_frontend::checkOnnxFile;
using onnx_frontend::importModel;
using onnx_frontend::importOnnxFile;

bool hasControlChars(const std::string& s) {
    return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; });
}

class ImporterErrors : public ::testing::TestWithParam<BadModelCase> {};

TEST_P(ImporterErrors, ImportFailsWithOneLineNamingFileAndProblem) {
    const BadModelCase& c = GetParam();
    TempDir dir;
    const std::string path = c.make(dir);
    auto result = importOnnxFile(path);
    ASSERT_FALSE(result.isOk()) << c.name << " imported";
    const std::string& msg = result.status().message();
    EXPECT_FALSE(hasControlChars(msg)) << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << "does not name the file: " << msg;
    for (const auto& m : c.mentions) EXPECT_NE(msg.find(m), std::string::npos) << "no '" << m << "' in: " << msg;
    if (c.unsupportedOnly) {
        EXPECT_EQ(result.status().code(), ErrorCode::kUnsupported) << msg;
    }
}

TEST_P(ImporterErrors, CheckFailsOrListsTheProblem) {
    const BadModelCase& c = GetParam();
    TempDir dir;
    const std::string path = c.make(dir);
    auto report = checkOnnxFile(path);
    if (c.unsupportedOnly) {
        ASSERT_TRUE(report.isOk()) << report.status().message();
        EXPECT_FALSE(report->empty());
        return;
    }
    ASSERT_FALSE(report.isOk()) << c.name << " passed the check";
    const std::string& msg = report.status().message();
    EXPECT_FALSE(hasControlChars(msg)) << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << "does not name the file: " << msg;
    for (const auto& m : c.mentions) EXPECT_NE(msg.find(m), std::string::npos) << "no '" << m << "' in: " << msg;
}

INSTANTIATE_TEST_SUITE_P(BadModels, ImporterErrors, ::testing::ValuesIn(badModelCases()),
                         [](const auto& info) { return info.param.name; });

TEST(ImporterErrors, CheckListsEveryUnsupportedNodeIncludingSubgraphs) {
    TempDir dir;
    auto report = checkModel(bad_models::severalUnknownOpsModel(), dir.path().string());
    ASSERT_TRUE(report.isOk()) << report.status().message();
    ASSERT_EQ(report->size(), 4u);
    std::vector<std::string> described;
    for (const auto& u : *report) described.push_back(u.describe());
    auto find = [&](const std::string& op) -> const onnx_frontend::UnsupportedNode* {
        for (const auto& u : *report) {
            if (u.opType == op) return &u;
        }
        return nullptr;
    };
    const auto* mystery = find("Mystery");
    ASSERT_NE(mystery, nullptr);
    EXPECT_EQ(mystery->graph, "main");
    EXPECT_EQ(mystery->index, 0);
    EXPECT_EQ(mystery->name, "mystery0");
    EXPECT_EQ(mystery->domain, "ai.onnx");
    EXPECT_EQ(mystery->opset, 17);
    EXPECT_EQ(mystery->describe(),
              "node 0 (Mystery 'mystery0'): op Mystery of domain 'ai.onnx' (opset 17) is not supported");
    const auto* enigma = find("Enigma");
    ASSERT_NE(enigma, nullptr);
    EXPECT_EQ(enigma->graph, "then_branch");
    EXPECT_EQ(enigma->index, 0);
    const auto* riddle = find("Riddle");
    ASSERT_NE(riddle, nullptr);
    EXPECT_EQ(riddle->graph, "else_branch");
    EXPECT_EQ(riddle->index, 1);
    EXPECT_EQ(riddle->describe(),
              "node 1 (Riddle 'riddle_else') in graph 'else_branch': op Riddle of domain 'ai.onnx' (opset 17) is not "
              "supported");
    const auto* conundrum = find("Conundrum");
    ASSERT_NE(conundrum, nullptr);
    EXPECT_EQ(conundrum->domain, "com.example");
    EXPECT_EQ(conundrum->opset, 1);
}

TEST(ImporterErrors, CheckReadsNoWeightsButVetsThem) {
    TempDir dir;
    // Present and the right size: check passes without reading it.
    dir.writeBytes("w.bin", std::string(16, '\0'));
    auto ok = checkModel(bad_models::externalWeightModel("w.bin"), dir.path().string());
    ASSERT_TRUE(ok.isOk()) << ok.status().message();
    EXPECT_TRUE(ok->empty());
    // The same model resolved against another folder: the file is missing.
    TempDir other;
    auto missing = checkModel(bad_models::externalWeightModel("w.bin"), other.path().string());
    ASSERT_FALSE(missing.isOk());
    EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
}

TEST(ImporterErrors, UnsupportedInputTypeIsListedNotFatal) {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    addInput(g, "z", onnx::TensorProto::COMPLEX64, {2});
    auto* seq = g.add_input();
    seq->set_name("s");
    seq->mutable_type()->mutable_sequence_type()->mutable_elem_type()->mutable_tensor_type()->set_elem_type(1);
    addNode(g, "Identity", {"z"}, {"y"}, "id");
    addNode(g, "Unknowable", {"y"}, {"u"}, "unk");
    addOutput(g, "u");
    TempDir dir;
    auto report = checkModel(m, dir.path().string());
    ASSERT_TRUE(report.isOk()) << report.status().message();
    std::string all;
    for (const auto& u : *report) all += u.describe() + "\n";
    EXPECT_NE(all.find("value 'z' has element type 14"), std::string::npos) << all;
    EXPECT_NE(all.find("graph input 's' is a sequence"), std::string::npos) << all;
    EXPECT_NE(all.find("node 0 (Identity 'id'): value 'y' has element type 14"), std::string::npos) << all;
    EXPECT_NE(all.find("Unknowable"), std::string::npos) << all;
    auto imported = importModel(m, dir.path().string());
    ASSERT_FALSE(imported.isOk());
    EXPECT_EQ(imported.status().code(), ErrorCode::kUnsupported);
    EXPECT_NE(imported.status().message().find("4 unsupported nodes"), std::string::npos)
        << imported.status().message();
}

TEST(ImporterErrors, DuplicateGraphInputIsRejected) {
    onnx::ModelProto m = addModel();
    addInput(*m.mutable_graph(), "x", onnx::TensorProto::FLOAT, {2, 3});
    auto result = importModel(m, ".");
    ASSERT_FALSE(result.isOk());
    EXPECT_NE(result.status().message().find("value 'x' is defined more than once"), std::string::npos)
        << result.status().message();
}

TEST(ImporterErrors, ExternalDataOffsetAndLengthAreValidated) {
    TempDir dir;
    dir.writeBytes("w.bin", std::string(64, '\0'));
    struct Case {
        int64_t offset;
        int64_t length;
        std::string mention;
    };
    const std::vector<Case> cases = {
        {60, 16, "past the end"},                   // range runs past the file
        {0, 12, "holds 12 bytes, shape needs 16"},  // length disagrees with the shape
    };
    for (const auto& c : cases) {
        auto result = importModel(bad_models::externalWeightModel("w.bin", c.offset, c.length), dir.path().string());
        ASSERT_FALSE(result.isOk());
        EXPECT_NE(result.status().message().find(c.mention), std::string::npos) << result.status().message();
    }
    onnx::ModelProto bad = bad_models::externalWeightModel("w.bin");
    auto* kv = bad.mutable_graph()->mutable_initializer(0)->add_external_data();
    kv->set_key("offset");
    kv->set_value("12abc");
    auto result = importModel(bad, dir.path().string());
    ASSERT_FALSE(result.isOk());
    EXPECT_NE(result.status().message().find("bad external_data offset '12abc'"), std::string::npos)
        << result.status().message();
    for (const std::string location : {"/etc/passwd", "a/../../w.bin", ""}) {
        auto r = importModel(bad_models::externalWeightModel(location), dir.path().string());
        ASSERT_FALSE(r.isOk()) << location;
        EXPECT_EQ(r.status().code(), ErrorCode::kInvalidModel) << r.status().message();
    }
    // ".." inside a file name is fine; only a ".." path component escapes.
    dir.writeBytes("w..v2.bin", std::string(16, '\0'));
    auto dots = importModel(bad_models::externalWeightModel("w..v2.bin"), dir.path().string());
    EXPECT_TRUE(dots.isOk()) << dots.status().message();
}

TEST(ImporterErrors, NestingAtTheLimitImports) {
    auto result = importModel(bad_models::nestedIfModel(kiln::onnx_frontend::kMaxSubgraphDepth), ".");
    EXPECT_TRUE(result.isOk()) << result.status().message();
    auto deeper = importModel(bad_models::nestedIfModel(kiln::onnx_frontend::kMaxSubgraphDepth + 1), ".");
    EXPECT_FALSE(deeper.isOk());
}

TEST(ImporterErrors, OpsetZeroIsInvalid) {
    onnx::ModelProto m = addModel();
    m.mutable_opset_import(0)->set_version(0);
    auto result = importModel(m, ".");
    ASSERT_FALSE(result.isOk());
    EXPECT_EQ(result.status().code(), ErrorCode::kInvalidModel);
}

TEST(ImporterErrors, DomainMissingFromOpsetImport) {
    onnx::ModelProto m = addModel();
    m.mutable_graph()->mutable_node(0)->set_domain("com.nowhere");
    auto result = importModel(m, ".");
    ASSERT_FALSE(result.isOk());
    EXPECT_NE(result.status().message().find("domain 'com.nowhere' is not in the model's opset_import"),
              std::string::npos)
        << result.status().message();
}

TEST(ImporterErrors, ConstantWithoutValue) {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    addNode(g, "Constant", {}, {"c"}, "const0");
    addOutput(g, "c");
    auto result = importModel(m, ".");
    ASSERT_FALSE(result.isOk());
    EXPECT_EQ(result.status().message(), "node 0 (Constant 'const0'): Constant has no value attribute");
}

}  // namespace
}  // namespace kiln::testing
