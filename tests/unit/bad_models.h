// Malformed and hostile model files, shared by the importer and CLI error tests. Each case writes its file(s) into
// a scratch folder and names what a good error message must mention.
#pragma once

#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "unit/model_builder.h"

namespace kiln::testing {

struct BadModelCase {
    std::string name;
    //! Writes the model (and any side files) into `dir`; returns the path to pass to the importer.
    std::string (*make)(const TempDir& dir);
    //! Substrings the error message must contain, besides the file name.
    std::vector<std::string> mentions;
    //! True when the model is well formed but uses something Kiln does not support: `kiln check` then succeeds
    //! in checking and lists it (exit 1) instead of failing to read the model.
    bool unsupportedOnly = false;
};

//! gtest prints parameters with this (instead of a hex dump).
inline void PrintTo(const BadModelCase& c, std::ostream* os) { *os << c.name; }

namespace bad_models {

inline std::string truncated(const TempDir& dir) {
    onnx::ModelProto m = addModel();
    addInitializer(*m.mutable_graph(), floatTensor("w", {16}, std::vector<float>(16, 1.0f)));
    const std::string bytes = m.SerializeAsString();
    return dir.writeBytes("truncated.onnx", bytes.substr(0, bytes.size() / 2));
}

inline std::string text(const TempDir& dir) {
    return dir.writeBytes("notes.onnx", "This is a text file, not a model.\nSecond line.\n");
}

inline std::string randomBytes(const TempDir& dir) {
    std::mt19937 rng(1234);
    std::string bytes(4096, '\0');
    for (char& c : bytes) c = static_cast<char>(rng() & 0xff);
    return dir.writeBytes("random.onnx", bytes);
}

inline std::string png(const TempDir& dir) {
    // The PNG signature and the start of an IHDR chunk (16x16 RGBA).
    const std::string signature("\x89PNG\r\n\x1a\n", 8);
    const std::string ihdr("\0\0\0\x0dIHDR\0\0\0\x10\0\0\0\x10\x08\x06\0\0\0", 21);
    return dir.writeBytes("picture.onnx", signature + ihdr);
}

inline std::string empty(const TempDir& dir) { return dir.writeBytes("empty.onnx", ""); }

inline std::string missing(const TempDir& dir) { return dir.file("no_such_model.onnx"); }

inline std::string directory(const TempDir& dir) {
    std::filesystem::create_directories(dir.path() / "folder.onnx");
    return dir.file("folder.onnx");
}

inline std::string unknownOp(const TempDir& dir) {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    addInput(g, "x", onnx::TensorProto::FLOAT, {2, 3});
    addNode(g, "Add", {"x", "x"}, {"a"}, "add0");
    addNode(g, "FrobnicateTensor", {"a"}, {"y"}, "frob1");
    addOutput(g, "y");
    return dir.write("unknown_op.onnx", m);
}

//! Unknown ops in the main graph and in both branches of an If.
inline onnx::ModelProto severalUnknownOpsModel() {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    addInput(g, "c", onnx::TensorProto::BOOL, {});
    addInput(g, "x", onnx::TensorProto::FLOAT, {4});
    addNode(g, "Mystery", {"x"}, {"m"}, "mystery0");
    auto& ifNode = addNode(g, "If", {"c"}, {"y"}, "if1");
    auto& thenG = addGraphAttr(ifNode, "then_branch");
    addNode(thenG, "Enigma", {"m"}, {"t"}, "enigma_then");
    addUntypedOutput(thenG, "t");
    auto& elseG = addGraphAttr(ifNode, "else_branch");
    addNode(elseG, "Add", {"m", "x"}, {"e0"}, "add_else");
    addNode(elseG, "Riddle", {"e0"}, {"e"}, "riddle_else");
    addUntypedOutput(elseG, "e");
    addNode(g, "Conundrum", {"y"}, {"z"}, "conundrum2", "com.example");
    auto* op = m.add_opset_import();
    op->set_domain("com.example");
    op->set_version(1);
    addOutput(g, "z");
    return m;
}

inline std::string severalUnknownOps(const TempDir& dir) { return dir.write("several.onnx", severalUnknownOpsModel()); }

//! y = x + w with w an initializer whose data lives in `location`.
inline onnx::ModelProto externalWeightModel(const std::string& location, int64_t offset = -1, int64_t length = -1) {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    addInput(g, "x", onnx::TensorProto::FLOAT, {4});
    auto& w = addInitializer(g, floatTensor("weights", {4}, {}));
    setExternal(w, location, offset, length);
    addNode(g, "Add", {"x", "weights"}, {"y"}, "add0");
    addOutput(g, "y", onnx::TensorProto::FLOAT, {4});
    return m;
}

inline std::string externalMissing(const TempDir& dir) {
    return dir.write("ext_missing.onnx", externalWeightModel("weights.bin"));
}

inline std::string externalEscapes(const TempDir& dir) {
    dir.writeBytes("outside.bin", std::string(16, '\0'));
    return dir.write("sub/ext_escape.onnx", externalWeightModel("../outside.bin"));
}

inline std::string externalShort(const TempDir& dir) {
    dir.writeBytes("short.bin", std::string(10, '\0'));
    return dir.write("ext_short.onnx", externalWeightModel("short.bin"));
}

inline std::string cycle(const TempDir& dir) {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    addInput(g, "x", onnx::TensorProto::FLOAT, {4});
    addNode(g, "Add", {"x", "b"}, {"a"}, "add_a");
    addNode(g, "Add", {"a", "x"}, {"b"}, "add_b");
    addNode(g, "Identity", {"b"}, {"y"}, "id");
    addOutput(g, "y", onnx::TensorProto::FLOAT, {4});
    return dir.write("cycle.onnx", m);
}

inline std::string undefinedInput(const TempDir& dir) {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    addInput(g, "x", onnx::TensorProto::FLOAT, {4});
    addNode(g, "Identity", {"x"}, {"a"}, "id0");
    addNode(g, "Add", {"a", "ghost"}, {"y"}, "add1");
    addOutput(g, "y", onnx::TensorProto::FLOAT, {4});
    return dir.write("undefined_input.onnx", m);
}

inline std::string duplicateOutput(const TempDir& dir) {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    addInput(g, "x", onnx::TensorProto::FLOAT, {4});
    addNode(g, "Identity", {"x"}, {"y"}, "first");
    addNode(g, "Add", {"x", "x"}, {"y"}, "second");
    addOutput(g, "y", onnx::TensorProto::FLOAT, {4});
    return dir.write("duplicate_output.onnx", m);
}

//! A float32[2^31, 4] initializer (32 GiB claimed) in a file of well under 1 KB.
inline onnx::ModelProto hugeTensorModel(bool withRawData) {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    addInput(g, "x", onnx::TensorProto::FLOAT, {4});
    onnx::TensorProto w;
    w.set_name("huge");
    w.set_data_type(onnx::TensorProto::FLOAT);
    w.add_dims(int64_t{1} << 31);
    w.add_dims(4);
    if (withRawData) w.set_raw_data(std::string(16, '\0'));
    addInitializer(g, w);
    addNode(g, "Add", {"x", "huge"}, {"y"}, "add0");
    addOutput(g, "y");
    return m;
}

inline std::string hugeTensorRaw(const TempDir& dir) { return dir.write("huge_raw.onnx", hugeTensorModel(true)); }
inline std::string hugeTensorNoData(const TempDir& dir) {
    return dir.write("huge_nodata.onnx", hugeTensorModel(false));
}

inline std::string futureOpset(const TempDir& dir) {
    onnx::ModelProto m = addModel();
    m.mutable_opset_import(0)->set_version(99);
    return dir.write("opset99.onnx", m);
}

//! `levels` Ifs, each inside the then_branch of the one before; the innermost branches return x.
inline onnx::ModelProto nestedIfModel(int levels) {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    addInput(g, "c", onnx::TensorProto::BOOL, {});
    addInput(g, "x", onnx::TensorProto::FLOAT, {4});
    onnx::GraphProto* current = &g;
    std::string out = "y";
    for (int level = 0; level < levels; ++level) {
        auto& ifNode = addNode(*current, "If", {"c"}, {out}, "if" + std::to_string(level));
        auto& elseG = addGraphAttr(ifNode, "else_branch");
        elseG.set_name("else" + std::to_string(level));
        addNode(elseG, "Identity", {"x"}, {"e" + std::to_string(level)});
        addUntypedOutput(elseG, "e" + std::to_string(level));
        auto& thenG = addGraphAttr(ifNode, "then_branch");
        thenG.set_name("then" + std::to_string(level));
        out = "t" + std::to_string(level);
        addUntypedOutput(thenG, out);
        current = &thenG;
    }
    addNode(*current, "Identity", {"x"}, {out});
    addOutput(g, "y", onnx::TensorProto::FLOAT, {4});
    return m;
}

inline std::string deepNesting(const TempDir& dir) { return dir.write("deep.onnx", nestedIfModel(30)); }

inline std::string outputNeverProduced(const TempDir& dir) {
    onnx::ModelProto m = addModel();
    addOutput(*m.mutable_graph(), "phantom", onnx::TensorProto::FLOAT, {2, 3});
    return dir.write("phantom_output.onnx", m);
}

//! Found by fuzzing: Scan-9 without its required num_scan_inputs crashed ONNX's shape inference (null dereference).
inline std::string scanMissingAttribute(const TempDir& dir) {
    onnx::ModelProto m = makeModel(9);
    auto& g = *m.mutable_graph();
    addInput(g, "init", onnx::TensorProto::FLOAT, {2});
    addInput(g, "xs", onnx::TensorProto::FLOAT, {3, 2});
    auto& scan = addNode(g, "Scan", {"init", "xs"}, {"sum", "partials"}, "scan0");
    auto& body = addGraphAttr(scan, "body");
    addInput(body, "acc", onnx::TensorProto::FLOAT, {2});
    addInput(body, "x", onnx::TensorProto::FLOAT, {2});
    addNode(body, "Add", {"acc", "x"}, {"acc_out"});
    addNode(body, "Identity", {"acc_out"}, {"partial"});
    addOutput(body, "acc_out", onnx::TensorProto::FLOAT, {2});
    addOutput(body, "partial", onnx::TensorProto::FLOAT, {2});
    addIntAttr(scan, "num_aci_snnputs", 1);  // the fuzzer's mangled spelling
    addOutput(g, "sum", onnx::TensorProto::FLOAT, {2});
    addOutput(g, "partials", onnx::TensorProto::FLOAT, {3, 2});
    return dir.write("scan_no_num_scan_inputs.onnx", m);
}

inline std::string unknownAttribute(const TempDir& dir) {
    onnx::ModelProto m = addModel();
    addIntAttr(*m.mutable_graph()->mutable_node(0), "bogus", 3);
    return dir.write("bogus_attribute.onnx", m);
}

//! Names with newlines must not break the one-line rule.
inline std::string newlineInNames(const TempDir& dir) {
    onnx::ModelProto m = makeModel();
    auto& g = *m.mutable_graph();
    addInput(g, "x", onnx::TensorProto::FLOAT, {4});
    addNode(g, "Add", {"x", "ghost\nline"}, {"y"}, "evil\nname");
    addOutput(g, "y", onnx::TensorProto::FLOAT, {4});
    return dir.write("newline_names.onnx", m);
}

}  // namespace bad_models

inline std::vector<BadModelCase> badModelCases() {
    using namespace bad_models;  // NOLINT(google-build-using-namespace)
    return {
        {"Truncated", truncated, {"not a valid ONNX model"}},
        {"TextFile", text, {"not"}},
        {"RandomBytes", randomBytes, {"not"}},
        {"PngHeader", png, {"not a valid ONNX model"}},
        {"EmptyFile", empty, {"is empty"}},
        {"MissingFile", missing, {"does not exist"}},
        {"Directory", directory, {"is a directory"}},
        {"UnknownOp", unknownOp, {"node 1", "FrobnicateTensor", "frob1", "not supported"}, true},
        {"SeveralUnknownOps",
         severalUnknownOps,
         {"4 unsupported nodes", "Mystery", "Enigma", "Riddle", "Conundrum", "then_branch", "else_branch"},
         true},
        {"ExternalDataMissing", externalMissing, {"tensor 'weights'", "weights.bin", "not found"}},
        {"ExternalDataEscapes", externalEscapes, {"tensor 'weights'", "../outside.bin", "inside the model's folder"}},
        {"ExternalDataShort", externalShort, {"tensor 'weights'", "short.bin", "past the end", "10 bytes"}},
        {"Cycle", cycle, {"cycle", "add_a"}},
        {"UndefinedInput", undefinedInput, {"node 1", "add1", "'ghost'", "not defined"}},
        {"DuplicateOutput", duplicateOutput, {"node 1", "second", "output 'y'", "already defined"}},
        {"HugeTensorTinyRawData", hugeTensorRaw, {"tensor 'huge'", "2147483648x4", "raw_data holds 16"}},
        {"HugeTensorNoData", hugeTensorNoData, {"tensor 'huge'", "2147483648x4", "holds 0"}},
        {"FutureOpset", futureOpset, {"opset 99", "17"}},
        {"DeepNesting", deepNesting, {"deeper than 24", "'if24'", "graph 'then23'"}},
        {"OutputNeverProduced", outputNeverProduced, {"output 'phantom'", "never produced"}},
        {"ScanMissingAttribute", scanMissingAttribute, {"node 0 (Scan 'scan0')", "num_aci_snnputs"}},
        {"UnknownAttribute", unknownAttribute, {"node 0 (Add 'add0')", "bogus"}},
        {"NewlineInNames", newlineInNames, {"evil\\nname", "ghost\\nline"}},
    };
}

}  // namespace kiln::testing
