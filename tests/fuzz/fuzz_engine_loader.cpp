// libFuzzer target: bytes → engine file → loadEngineFromMemory, with the body checksum verified and (so the graph
// decoder sees damaged bytes too) skipped. Built with ASan and UBSan when KILN_FUZZ=ON (tests/fuzz/run_fuzz.sh
// engine). Any crash, sanitizer report or broken invariant is a bug: every input must end in a Status.
//
// Seeds: with KILN_ENGINE_SEEDS=<dir>, start-up writes engines converted from a few ONNX node test models there.
// With KILN_ENGINE_MUTATIONS=<n>, start-up instead runs the unit test's mutation test (n copies of an engine with
// random byte flips, truncations and insertions) under the sanitizers and exits.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "frontend/onnx/importer.h"
#include "plan/engine_file.h"
#include "plan/graph_diff.h"

namespace {

namespace fs = std::filesystem;
using namespace kiln;  // NOLINT(google-build-using-namespace)

[[noreturn]] void fail(const char* what, const std::string& detail) {
    std::fprintf(stderr, "invariant broken: %s: %s\n", what, detail.c_str());
    std::abort();
}

void loadBothWays(const uint8_t* data, size_t size) {
    for (bool verify : {true, false}) {
        plan::EngineExpectation expect;
        expect.verifyBodyChecksum = verify;
        plan::EngineLoadFailure why;
        auto engine = plan::loadEngineFromMemory(data, size, nullptr, expect, &why);
        if (!engine) {
            if (why.fault == plan::EngineFault::kNone) fail("failed without a fault", engine.status().message());
            continue;
        }
        // Whatever loads must verify and survive another round trip unchanged.
        Status ok = engine->graph->verify();
        if (!ok) fail("loaded graph does not verify", ok.message());
        auto again = plan::serializeEngine(*engine->graph, engine->metadata);
        if (!again) fail("loaded graph does not serialize", again.status().message());
        auto reloaded = plan::loadEngineFromMemory(again->data(), again->size(), nullptr, expect);
        if (!reloaded) fail("re-serialized engine does not load", reloaded.status().message());
        const std::string diff = plan::diffGraphs(*engine->graph, *reloaded->graph);
        if (!diff.empty()) fail("round trip changed the graph", diff);
    }
}

const char* kSeedModels[] = {"test_add",
                             "test_if",
                             "test_loop11",
                             "test_scan9_sum",
                             "test_conv_with_strides_padding",
                             "test_gather_0",
                             "test_lstm_defaults",
                             "test_cast_FLOAT_to_STRING",
                             "test_constant"};

std::string seedEngine(const char* model) {
    const std::string path = std::string("/usr/share/libonnx-testdata/data/node/") + model + "/model.onnx";
    auto imported = onnx_frontend::importOnnxFile(path);
    if (!imported) return {};
    plan::EngineMetadata meta = plan::EngineMetadata::current("cpu");
    meta.modelPath = path;
    auto bytes = plan::serializeEngine(*imported->graph, meta);
    return bytes ? *bytes : std::string();
}

void mutationTest(int copies) {
    std::vector<std::string> originals;
    for (const char* m : kSeedModels) {
        std::string e = seedEngine(m);
        if (!e.empty()) originals.push_back(std::move(e));
    }
    if (originals.empty()) fail("mutation test", "no seed engine (libonnx-testdata missing?)");
    std::mt19937_64 rng(12345);
    int loaded = 0;
    for (int i = 0; i < copies; ++i) {
        std::string bytes = originals[static_cast<size_t>(i) % originals.size()];
        const int edits = 1 + static_cast<int>(rng() % 4);
        for (int e = 0; e < edits && !bytes.empty(); ++e) {
            const size_t at = rng() % bytes.size();
            switch (rng() % 4) {
                case 0:
                case 1: bytes[at] = static_cast<char>(bytes[at] ^ (1 << (rng() % 8))); break;
                case 2: bytes.resize(at); break;
                default: bytes.insert(at, std::string(1 + rng() % 16, static_cast<char>(rng()))); break;
            }
        }
        plan::EngineLoadFailure why;
        loaded += static_cast<bool>(plan::loadEngineFromMemory(bytes.data(), bytes.size(), nullptr, {}, &why));
        loadBothWays(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    }
    std::printf("mutation test: %d mutated copies of %zu engines, %d loaded, no crash or sanitizer report\n", copies,
                originals.size(), loaded);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
    if (const char* n = std::getenv("KILN_ENGINE_MUTATIONS")) {
        mutationTest(std::atoi(n));
        std::exit(0);
    }
    if (const char* dir = std::getenv("KILN_ENGINE_SEEDS")) {
        fs::create_directories(dir);
        for (const char* m : kSeedModels) {
            const std::string bytes = seedEngine(m);
            if (bytes.empty()) continue;
            std::ofstream out(fs::path(dir) / (std::string(m) + ".engine"), std::ios::binary);
            out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        }
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    loadBothWays(data, size);
    return 0;
}
