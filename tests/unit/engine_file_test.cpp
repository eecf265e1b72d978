// Engine file: round trips (hand-built graphs, real models, ONNX node conformance models), every load error, the
// atomic write, zero-copy loading of a 100 MB engine and a mutation test.
#include "plan/engine_file.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "backends/cpu/executor.h"
#include "frontend/onnx/importer.h"
#include "plan/graph_diff.h"
#include "unit/model_builder.h"
#include "unit/plan_test_util.h"

namespace kiln::plan {
namespace {

namespace fs = std::filesystem;
using kiln::testing::TempDir;

std::string readFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void writeFile(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

ir::Value* value(ir::Graph& g, const std::string& name, DataType t, std::vector<ir::Dim> dims) {
    ir::Value* v = g.createValue(name).value();
    v->setDtype(t);
    v->setShape(std::move(dims));
    return v;
}

//! A graph that exercises every part of the format: symbolic and unknown dims, unknown rank, float/int/string
//! constants, an empty tensor, every attribute kind, nested subgraphs with outer-scope captures, opsets.
std::unique_ptr<ir::Graph> makeEverythingGraph() {
    auto g = std::make_unique<ir::Graph>("everything");
    g->setOpset("", 17);
    g->setOpset("com.microsoft", 1);
    ir::Value* x = value(*g, "x", DataType::kFloat32, {ir::Dim::symbolic("batch"), ir::Dim::known(3), ir::Dim{}});
    g->addInput(x);
    ir::Value* cond = value(*g, "cond", DataType::kBool, {});
    g->addInput(cond);
    ir::Value* w = g->createValue("w").value();
    w->setConstant(Tensor::fromVector<float>({1.5f, -2.f, 3.25f}));
    ir::Value* s = g->createValue("labels").value();
    Tensor strings(DataType::kString, {2});
    strings.strings()[0] = "cat";
    strings.strings()[1] = std::string("d\0g", 3);
    s->setConstant(strings);
    ir::Value* empty = g->createValue("empty").value();
    empty->setConstant(Tensor(DataType::kInt64, {0, 4}));
    ir::Value* y = value(*g, "y", DataType::kFloat32, {ir::Dim::symbolic("batch"), ir::Dim::known(3), ir::Dim{}});
    ir::Node* add = g->addNode(ir::OpKind::kAdd, "add0", 14);
    add->setSourceIndex(0);
    add->addInput(x);
    add->addInput(w);
    add->addOutput(y);
    ir::Attributes& a = add->attrs();
    a.set("i", int64_t{-7});
    a.set("f", 0.1f);
    a.set("s", std::string("text"));
    a.set("t", Tensor::fromVector<int32_t>({1, 2, 3, 4, 5}));
    a.set("ints", std::vector<int64_t>{1, -2, 3});
    a.set("floats", std::vector<float>{0.5f, -0.25f});
    a.set("strings", std::vector<std::string>{"a", "", "ccc"});
    a.set("tensors", std::vector<Tensor>{Tensor::fromVector<double>({2.0}), strings, Tensor()});

    // If with branches that capture `y` (depth 1) and a nested If that captures `x` (depth 2).
    auto makeBranch = [&](const std::string& name, bool nested) {
        auto b = std::make_shared<ir::Graph>(name, g.get());
        ir::Value* out = value(*b, name + "_out", DataType::kFloat32, {ir::Dim::symbolic("batch")});
        ir::Node* id = b->addNode(ir::OpKind::kIdentity, name + "_id", 17);
        id->addInput(y);
        id->addOutput(out);
        if (nested) {
            auto inner = std::make_shared<ir::Graph>(name + "_inner", b.get());
            ir::Value* io = value(*inner, name + "_inner_out", DataType::kFloat32, std::vector<ir::Dim>{});
            ir::Node* r = inner->addNode(ir::OpKind::kRelu, "", 14);
            r->addInput(x);
            r->addOutput(io);
            inner->addOutput(io);
            id->attrs().set("graphs", std::vector<std::shared_ptr<ir::Graph>>{inner, nullptr});
        }
        b->addOutput(out);
        return b;
    };
    ir::Value* z = g->createValue("z").value();  // unknown rank and dtype
    ir::Node* iff = g->addNode(ir::OpKind::kIf, "if0", 17);
    iff->setSourceIndex(1);
    iff->addInput(cond);
    iff->addOutput(z);
    iff->attrs().set("then_branch", makeBranch("then", true));
    iff->attrs().set("else_branch", makeBranch("else", false));
    ir::Node* opt = g->addNode(ir::OpKind::kIdentity, "withOmitted", 17);
    opt->addInput(nullptr);
    opt->addInput(s);
    opt->addOutput(value(*g, "o2", DataType::kString, {ir::Dim::known(2)}));
    g->addOutput(z);
    g->addOutput(y);
    g->addOutput(empty);
    return g;
}

EngineMetadata sampleMetadata() {
    EngineMetadata m = EngineMetadata::current("cpu");
    m.buildOptions = {{"fp16", "0"}, {"opt_level", "3"}, {"workspace", "1073741824"}};
    m.modelPath = "/models/everything.onnx";
    m.modelSha256 = sha256Hex("model", 5);
    return m;
}

TEST(EngineFile, Sha256KnownAnswer) {
    EXPECT_EQ(sha256Hex("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(sha256Hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(EngineFile, Crc32cKnownAnswerAndChaining) {
    EXPECT_EQ(crc32c(0, "123456789", 9), 0xE3069283u);  // the CRC-32C check value
    EXPECT_EQ(crc32c(0, "", 0), 0u);
    std::string bytes(100003, '\0');
    std::mt19937 rng(7);
    for (char& c : bytes) c = static_cast<char>(rng());
    const uint32_t whole = crc32c(0, bytes.data(), bytes.size());
    for (size_t split : {size_t{0}, size_t{1}, size_t{7}, size_t{4096}, size_t{100002}}) {
        EXPECT_EQ(crc32c(crc32c(0, bytes.data(), split), bytes.data() + split, bytes.size() - split), whole) << split;
    }
    bytes[5000] = static_cast<char>(bytes[5000] ^ 1);
    EXPECT_NE(crc32c(0, bytes.data(), bytes.size()), whole);
}

TEST(EngineFile, RoundTripsEveryPartOfTheGraph) {
    auto g = makeEverythingGraph();
    ASSERT_TRUE(g->verify()) << g->verify().message();
    TempDir dir;
    const std::string path = dir.file("everything.engine");
    ASSERT_TRUE(saveEngineFile(path, *g, sampleMetadata()));
    auto loaded = loadEngineFile(path);
    ASSERT_TRUE(loaded) << loaded.status().message();
    EXPECT_EQ(loaded->metadata, sampleMetadata());
    EXPECT_EQ(loaded->formatVersion, kEngineFormatVersion);
    EXPECT_EQ(diffGraphs(*g, *loaded->graph), "");
    // Subgraphs point at their parents, captures at the enclosing graph's values.
    const ir::Node& iff = *loaded->graph->nodes()[1];
    auto then = iff.attrs().getGraph("then_branch");
    ASSERT_NE(then, nullptr);
    EXPECT_EQ(then->parent(), loaded->graph.get());
    EXPECT_EQ(then->nodes()[0]->input(0), loaded->graph->findValue("y"));
    auto inner = then->nodes()[0]->attrs().get<std::vector<std::shared_ptr<ir::Graph>>>("graphs");
    ASSERT_TRUE(inner && inner->size() == 2 && (*inner)[0] && !(*inner)[1]);
    EXPECT_EQ((*inner)[0]->nodes()[0]->input(0), loaded->graph->findValue("x"));
    // The writer is deterministic: the same graph gives the same bytes.
    EXPECT_EQ(serializeEngine(*g, sampleMetadata()).value(), serializeEngine(*loaded->graph, sampleMetadata()).value());
    // A differing graph is reported.
    auto other = makeEverythingGraph();
    other->nodes()[0]->attrs().set("f", 0.2f);
    EXPECT_NE(diffGraphs(*g, *other), "");
}

TEST(EngineFile, ConstantsOutliveTheEngineObject) {
    auto g = makeEverythingGraph();
    auto bytes = serializeEngine(*g, sampleMetadata());
    ASSERT_TRUE(bytes);
    std::unique_ptr<ir::Graph> graph;
    {
        auto loaded = loadEngineFromMemory(bytes->data(), bytes->size(), nullptr);
        ASSERT_TRUE(loaded) << loaded.status().message();
        graph = std::move(loaded->graph);
    }
    EXPECT_FLOAT_EQ(graph->findValue("w")->constant().data<float>()[2], 3.25f);
}

// ---- load errors ------------------------------------------------------------------------------------------------

class EngineFileErrors : public ::testing::Test {
protected:
    void SetUp() override {
        mGraph = makeEverythingGraph();
        mPath = mDir.file("model.engine");
        ASSERT_TRUE(saveEngineFile(mPath, *mGraph, sampleMetadata()));
        mBytes = readFile(mPath);
    }
    Status load(const std::string& bytes, EngineFault expected, const EngineExpectation& expect = {}) {
        writeFile(mPath, bytes);
        EngineLoadFailure why;
        auto r = loadEngineFile(mPath, expect, &why);
        EXPECT_FALSE(r);
        EXPECT_EQ(why.fault, expected) << engineFaultName(why.fault) << ": " << r.status().message();
        const std::string& m = r.status().message();
        EXPECT_EQ(m.find('\n'), std::string::npos);
        EXPECT_NE(m.find(mPath), std::string::npos) << m;
        std::printf("  %-14s %s\n", engineFaultName(why.fault), m.c_str());
        mFailure = why;
        return r.status();
    }
    TempDir mDir;
    std::unique_ptr<ir::Graph> mGraph;
    std::string mPath;
    std::string mBytes;
    EngineLoadFailure mFailure;
};

TEST_F(EngineFileErrors, MissingFile) {
    EngineLoadFailure why;
    auto r = loadEngineFile(mDir.file("nope.engine"), {}, &why);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.status().code(), ErrorCode::kNotFound);
    EXPECT_EQ(why.fault, EngineFault::kIo);
}

TEST_F(EngineFileErrors, ZeroLength) {
    Status s = load("", EngineFault::kEmpty);
    EXPECT_NE(s.message().find("is empty (0 bytes)"), std::string::npos) << s.message();
}

TEST_F(EngineFileErrors, NotAnEngine) {
    Status s = load(readFile(mPath).replace(0, 4, "ONNX"), EngineFault::kNotAnEngine);
    EXPECT_NE(s.message().find("not a Kiln engine"), std::string::npos) << s.message();
    load("hello", EngineFault::kNotAnEngine).ignore();
}

TEST_F(EngineFileErrors, TruncatedTail) {
    Status s = load(mBytes.substr(0, mBytes.size() - 100), EngineFault::kTruncated);
    EXPECT_NE(s.message().find("is truncated: it has " + std::to_string(mBytes.size() - 100) + " bytes"),
              std::string::npos)
        << s.message();
    load(mBytes.substr(0, 60), EngineFault::kTruncated).ignore();
    load(mBytes.substr(0, 5), EngineFault::kTruncated).ignore();
}

TEST_F(EngineFileErrors, FlippedByteInBody) {
    std::string bytes = mBytes;
    bytes[bytes.size() - 70] ^= 0x10;  // inside the weight blob
    Status s = load(bytes, EngineFault::kCorrupt);
    EXPECT_NE(s.message().find("body checksum mismatch"), std::string::npos) << s.message();
    bytes = mBytes;
    bytes[200] ^= 1;  // inside the header record
    s = load(bytes, EngineFault::kCorrupt);
    EXPECT_NE(s.message().find("header checksum mismatch"), std::string::npos) << s.message();
}

TEST_F(EngineFileErrors, UnsupportedFormatVersion) {
    std::string bytes = mBytes;
    bytes[8] = 9;
    Status s = load(bytes, EngineFault::kFormatVersion);
    EXPECT_NE(s.message().find("has engine format version 9, this Kiln (" KILN_VERSION ") reads format version " +
                               std::to_string(kEngineFormatVersion)),
              std::string::npos)
        << s.message();
    EXPECT_TRUE(mFailure.needsRebuild());
    EXPECT_EQ(mFailure.found, "9");
}

TEST_F(EngineFileErrors, OtherKilnVersion) {
    EngineMetadata old = sampleMetadata();
    old.kilnVersion = "0.0.7";
    auto bytes = serializeEngine(*mGraph, old);
    ASSERT_TRUE(bytes);
    Status s = load(*bytes, EngineFault::kKilnVersion);
    EXPECT_NE(s.message().find("was built by Kiln 0.0.7, this is Kiln " KILN_VERSION ": rebuild with: kiln build "
                               "/models/everything.onnx -o " +
                               mPath),
              std::string::npos)
        << s.message();
    EXPECT_TRUE(mFailure.needsRebuild());
    EXPECT_EQ(mFailure.expected, KILN_VERSION);
    EXPECT_EQ(mFailure.found, "0.0.7");
    EXPECT_EQ(mFailure.modelPath, "/models/everything.onnx");
}

TEST_F(EngineFileErrors, OtherBackendOrDevice) {
    auto cuda = serializeEngine(*mGraph, EngineMetadata::current("cuda", "NVIDIA H100 80GB HBM3", 9, 0));
    ASSERT_TRUE(cuda);
    Status s = load(*cuda, EngineFault::kBackend);
    EXPECT_NE(s.message().find("was built for backend 'cuda', expected backend 'cpu'"), std::string::npos)
        << s.message();

    EngineExpectation a100;
    a100.backend = "cuda";
    a100.deviceName = "NVIDIA A100-SXM4-80GB";
    a100.computeMajor = 8;
    a100.rebuildCommand = "kiln build <model> -o <engine> --device 0";
    s = load(*cuda, EngineFault::kDevice, a100);
    EXPECT_NE(s.message().find("was built for device 'NVIDIA H100 80GB HBM3' (compute capability 9.0), this device "
                               "is 'NVIDIA A100-SXM4-80GB' (compute capability 8.0): rebuild with: kiln build <model> "
                               "-o " +
                               mPath + " --device 0"),
              std::string::npos)
        << s.message();
    EXPECT_EQ(mFailure.found, "'NVIDIA H100 80GB HBM3' (compute capability 9.0)");

    EngineExpectation h100 = a100;
    h100.deviceName = "NVIDIA H100 80GB HBM3";
    h100.computeMajor = 9;
    writeFile(mPath, *cuda);
    EXPECT_TRUE(loadEngineFile(mPath, h100));
}

TEST_F(EngineFileErrors, AtomicWriteLeavesOldFileOrNone) {
    // A writer killed mid-write leaves only its temp file: the engine path still holds the complete old engine.
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        EngineMetadata big = sampleMetadata();
        big.modelPath = "child";
        auto g = std::make_unique<ir::Graph>("big");
        ir::Value* w = g->createValue("w").value();
        w->setConstant(Tensor(DataType::kFloat32, {64 << 20}));  // 256 MB: long enough to be killed mid-write
        g->addOutput(w);
        Status s = saveEngineFile(mPath, *g, big);
        _exit(s ? 0 : 1);
    }
    usleep(150 * 1000);
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    auto loaded = loadEngineFile(mPath);
    ASSERT_TRUE(loaded) << loaded.status().message();
    // Either the kill came first (old engine) or the write completed (new engine): never a partial file.
    const bool old = loaded->metadata.modelPath == "/models/everything.onnx";
    std::printf("  writer %s before the kill\n", old ? "had not finished" : "finished");
    for (const auto& e : fs::directory_iterator(mDir.path())) fs::remove(e.path());
}

// ---- 100 MB engine, zero copy -----------------------------------------------------------------------------------

TEST(EngineFile, HundredMegabyteEngineLoadsByMapping) {
    auto g = std::make_unique<ir::Graph>("weights");
    std::vector<const ir::Value*> weights;
    std::mt19937 rng(1);
    for (int i = 0; i < 25; ++i) {
        ir::Value* w = g->createValue("w" + std::to_string(i)).value();
        Tensor t(DataType::kFloat32, {1 << 20});  // 4 MiB each, 100 MiB in all
        for (int k = 0; k < (1 << 20); k += 4099) t.data<float>()[k] = static_cast<float>(rng());
        w->setConstant(t);
        g->addOutput(w);
        weights.push_back(w);
    }
    TempDir dir;
    const std::string path = dir.file("big.engine");
    ASSERT_TRUE(saveEngineFile(path, *g, EngineMetadata::current("cpu")));
    const auto start = std::chrono::steady_clock::now();
    auto loaded = loadEngineFile(path);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    ASSERT_TRUE(loaded) << loaded.status().message();
    std::printf("  loaded a %.1f MB engine (checksum verified) in %.1f ms\n", loaded->fileBytes / 1e6, ms);
    EXPECT_GE(loaded->weightBytes, size_t{100} << 20);
    for (size_t i = 0; i < weights.size(); ++i) {
        const Tensor& c = loaded->graph->values()[i]->constant();
        EXPECT_TRUE(loaded->contains(c.raw())) << "constant " << i << " was copied";
        EXPECT_EQ(reinterpret_cast<uintptr_t>(c.raw()) % kWeightAlignment, 0u);
        EXPECT_EQ(std::memcmp(c.raw(), weights[i]->constant().raw(), c.byteSize()), 0);
    }
}

// ---- real models and conformance models -------------------------------------------------------------------------

//! import → save → load → run both: bit-identical outputs and equal graphs. Returns false (with a reason) when the
//! original does not import or run, which the callers count as "not applicable".
bool roundTrip(const fs::path& modelDir, const TempDir& tmp, std::string& why) {
    auto imported = onnx_frontend::importOnnxFile((modelDir / "model.onnx").string());
    if (!imported) {
        why = "import: " + imported.status().message();
        return false;
    }
    const ir::Graph& original = *imported->graph;
    const std::string enginePath = tmp.file(modelDir.filename().string() + ".engine");
    Status saved = saveEngineFile(enginePath, original, EngineMetadata::current("cpu"));
    EXPECT_TRUE(saved) << modelDir << ": " << saved.message();
    auto loaded = loadEngineFile(enginePath);
    EXPECT_TRUE(loaded) << modelDir << ": " << loaded.status().message();
    if (!saved || !loaded) return true;
    EXPECT_EQ(diffGraphs(original, *loaded->graph), "") << modelDir;
    auto inputs = kiln::testing::readTestInputs(modelDir / "test_data_set_0");
    if (inputs) {
        cpu::Executor exec;
        auto a = exec.run(original, *inputs);
        if (a) {
            auto b = exec.run(*loaded->graph, *inputs);
            EXPECT_TRUE(b) << modelDir << ": " << b.status().message();
            std::string diff = b ? kiln::testing::bitwiseDiff(*a, *b) : std::string();
            if (!diff.empty()) {
                // Unseeded random ops (Bernoulli, RandomUniform, ...) differ from run to run: compare graphs only.
                auto again = exec.run(original, *inputs);
                if (again && !kiln::testing::bitwiseDiff(*a, *again).empty()) {
                    why = "nondeterministic outputs";
                    diff.clear();
                }
            }
            EXPECT_EQ(diff, "") << modelDir;
        } else {
            why = "runs: " + a.status().message();
        }
    }
    fs::remove(enginePath);
    return true;
}

TEST(EngineFile, RealModelsRoundTripBitIdentical) {
    const fs::path root = KILN_MODELS_DIR;
    if (!fs::is_directory(root))
        GTEST_SKIP() << "no real models in " << root << " (run tests/models/prepare_models.sh)";
    TempDir tmp;
    int done = 0;
    std::vector<fs::path> dirs;
    for (const auto& e : fs::directory_iterator(root)) {
        if (fs::exists(e.path() / "model.onnx")) dirs.push_back(e.path());
    }
    std::sort(dirs.begin(), dirs.end());
    for (const fs::path& d : dirs) {
        const auto start = std::chrono::steady_clock::now();
        std::string why;
        const bool ok = roundTrip(d, tmp, why);
        EXPECT_TRUE(ok && why.empty()) << d << ": " << why;
        done += ok;
        std::printf("  %-14s round trip %s (%.1f s)\n", d.filename().c_str(), ok && why.empty() ? "ok" : why.c_str(),
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    std::printf("  %d of %zu real models round-tripped bit-identically\n", done, dirs.size());
}

TEST(EngineFile, ConformanceModelsRoundTrip) {
    const fs::path root = "/usr/share/libonnx-testdata/data/node";
    if (!fs::is_directory(root))
        GTEST_SKIP() << "no ONNX test data in " << root << " (apt-get install libonnx-testdata)";
    TempDir tmp;
    int total = 0, imported = 0, ran = 0, random = 0;
    std::vector<fs::path> dirs;
    for (const auto& e : fs::directory_iterator(root)) dirs.push_back(e.path());
    std::sort(dirs.begin(), dirs.end());
    for (const fs::path& d : dirs) {
        if (!fs::exists(d / "model.onnx")) continue;
        ++total;
        std::string why;
        if (!roundTrip(d, tmp, why)) continue;
        ++imported;
        ran += why.empty();
        random += why == "nondeterministic outputs";
    }
    std::printf(
        "  node conformance models: %d total, %d imported and round-tripped with equal graphs, %d of them "
        "also ran and gave bit-identical outputs (%d random-output models compared as graphs only)\n",
        total, imported, ran, random);
    EXPECT_GT(imported, total / 2);
}

// ---- mutation test ----------------------------------------------------------------------------------------------

TEST(EngineFile, MutatedFilesNeverCrash) {
    auto g = makeEverythingGraph();
    const std::string original = serializeEngine(*g, sampleMetadata()).value();
    std::mt19937_64 rng(12345);
    int loadedOk = 0;
    std::map<EngineFault, int> faults;
    for (int i = 0; i < 1000; ++i) {
        std::string bytes = original;
        testing::mutateBytes(bytes, rng, 4);
        // Half of the copies skip the body checksum so the graph reader itself sees damaged bytes.
        EngineExpectation expect;
        expect.verifyBodyChecksum = (i % 2) == 0;
        EngineLoadFailure why;
        auto r = loadEngineFromMemory(bytes.data(), bytes.size(), nullptr, expect, &why);
        if (r) {
            ++loadedOk;
            EXPECT_TRUE(r->graph->verify());
        } else {
            EXPECT_NE(why.fault, EngineFault::kNone) << r.status().message();
            ++faults[why.fault];
        }
    }
    std::printf("  1000 mutated engines: %d loaded;", loadedOk);
    for (const auto& [f, n] : faults) std::printf(" %s %d;", engineFaultName(f), n);
    std::printf("\n");
}

}  // namespace
}  // namespace kiln::plan
