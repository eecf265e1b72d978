// kiln inspect: an engine file's header, I/O tensors, profiles and every layer; --profile adds per-layer timings.
// Reads engine internals (src/plan/engine_file.h, runtime/engine_impl.h) beyond the public API: see engine_info.h.
#include <cstdio>
#include <filesystem>

#include "cli.h"
#include "inputs.h"
#include "layer_report.h"
#include "runtime/engine_impl.h"
#include "shapes.h"
#include "tensor_io.h"

#if KILN_HAVE_CUDA
#include "backends/cuda/placement.h"
#endif

namespace kiln::cli {

namespace {

struct InspectArgs {
    std::string engine;
    bool json = false;
    bool profile = false;
    std::string exportProfilePath;
    int iterations = 10;
    std::string shapes;
    uint64_t seed = 1;
};

//! Whether the model the engine was built from is still there and unchanged.
std::string hex32(uint32_t v) {
    char buf[9];
    std::snprintf(buf, sizeof buf, "%08x", v);
    return buf;
}

std::string modelState(const plan::EngineMetadata& meta) {
    if (meta.modelPath.empty()) return "not recorded";
    std::error_code ec;
    if (!std::filesystem::exists(meta.modelPath, ec)) return "missing";
    auto sha = plan::sha256File(meta.modelPath);
    if (!sha) return "unreadable";
    return *sha == meta.modelSha256 ? "unchanged" : "changed since the build (sha256 " + sha->substr(0, 16) + "...)";
}

nlohmann::json ioJson(const std::vector<ir::Value*>& values) {
    nlohmann::json list = nlohmann::json::array();
    for (const ir::Value* v : values) {
        list.push_back({{"name", v->name()},
                        {"dtype", dataTypeName(v->dtype())},
                        {"shape", ir::symbolicShapeToString(v->shape())}});
    }
    return list;
}

nlohmann::json headerJson(const plan::EngineFile& f, const std::string& path) {
    const auto& m = f.metadata;
    return {{"path", path},
            {"formatVersion", f.formatVersion},
            {"kilnVersion", m.kilnVersion},
            {"backend", m.backend},
            {"device", m.deviceName},
            {"computeCapability", std::to_string(m.computeMajor) + "." + std::to_string(m.computeMinor)},
            {"buildOptions", m.buildOptions},
            {"model", {{"path", m.modelPath}, {"sha256", m.modelSha256}, {"state", modelState(m)}}},
            {"fileBytes", f.fileBytes},
            {"weightBytes", f.weightBytes},
            {"bodyCrc32c", hex32(f.bodyChecksum)}};
}

void printHeader(const plan::EngineFile& f, const std::string& path) {
    const auto& m = f.metadata;
    std::printf("engine %s\n", path.c_str());
    std::printf("  format      %u, built by Kiln %s\n", f.formatVersion, m.kilnVersion.c_str());
    std::printf("  backend     %s, device %s (compute capability %d.%d)\n", m.backend.c_str(),
                m.deviceName.empty() ? "host CPU" : m.deviceName.c_str(), m.computeMajor, m.computeMinor);
    std::printf("  model       %s (sha256 %s, %s)\n", m.modelPath.c_str(), m.modelSha256.c_str(),
                modelState(m).c_str());
    std::printf("  size        %s: weights %s, graph and header %s\n", formatBytes(f.fileBytes).c_str(),
                formatBytes(f.weightBytes).c_str(), formatBytes(f.fileBytes - f.weightBytes).c_str());
    std::string options;
    for (const auto& [k, v] : m.buildOptions) {
        if (k.rfind("profile.", 0) != 0) options += (options.empty() ? "" : " ") + k + "=" + v;
    }
    std::printf("  options     %s\n", options.c_str());
}

void printIo(const char* title, const std::vector<ir::Value*>& values) {
    std::printf("%s\n", title);
    for (const ir::Value* v : values) {
        std::printf("  %-24s %-8s %s\n", v->name().c_str(), dataTypeName(v->dtype()),
                    ir::symbolicShapeToString(v->shape()).c_str());
    }
}

//! Runs the engine's graph with per-layer timing on random (or --shapes sized) inputs.
Result<std::vector<LayerTiming>> profile(const InspectArgs& a, const plan::EngineFile& file) {
    Runtime runtime(logger());
    KILN_ASSIGN_OR_RETURN(auto engine, runtime.loadEngineFile(a.engine));
    KILN_ASSIGN_OR_RETURN(auto requested, parseShapeMap(a.shapes, "--shapes"));
    KILN_ASSIGN_OR_RETURN(InputPlan plan, planInputs(*engine, requested));
    KILN_ASSIGN_OR_RETURN(auto inputs, makeInputs(*engine, plan, {}, a.seed));
    return profileLayers(*engine, *file.graph, inputs, a.iterations);
}

//! CUDA engines: whether enqueue can run as a CUDA graph (docs/cuda.md), and the first node in the way when not.
//! Empty for other backends, and in a build without the CUDA backend.
std::string cudaGraphVerdict(const plan::EngineFile& file) {
#if KILN_HAVE_CUDA
    if (file.metadata.backend != "cuda") return {};
    const cuda::CaptureVerdict v = cuda::analyzeCapture(*file.graph);
    return v.capturable ? "capturable: enqueue replays a CUDA graph by default" : "not capturable: " + v.reason;
#else
    (void)file;
    return {};
#endif
}

int runInspect(const InspectArgs& a) {
    if (auto s = parseShapeMap(a.shapes, "--shapes"); !s) return usage(s.status().message());
    if (Status s = checkWritable(a.exportProfilePath, "profile"); !a.exportProfilePath.empty() && !s) return fail(s);
    if (Status s = checkReadable(a.engine, "engine"); !s) return fail(s);
    auto file = readEngineFile(a.engine, true);
    if (!file) return fail(file.status());
    auto profiles = runtime::decodeProfiles(file->metadata.buildOptions);
    if (!profiles) return fail(profiles.status().withContext(a.engine));
    // Layers with dynamic shapes: their memory at profile 0's opt shapes (where the dims trace back to inputs).
    const DimBindings bindings = profiles->empty() ? DimBindings{} : optBindings(*file->graph, (*profiles)[0]);
    const auto layers = describeLayers(*file->graph, file->metadata.backend, bindings);
    std::vector<LayerTiming> timings;
    const bool timed = a.profile || !a.exportProfilePath.empty();
    if (timed) {
        auto t = profile(a, *file);
        if (!t) return fail(t.status());
        timings = std::move(t).value();
    }
    if (a.json) {
        nlohmann::json j = headerJson(*file, a.engine);
        j["inputs"] = ioJson(file->graph->inputs());
        j["outputs"] = ioJson(file->graph->outputs());
        nlohmann::json ps = nlohmann::json::array();
        for (const auto& p : *profiles) {
            nlohmann::json entry = nlohmann::json::object();
            for (const auto& [name, s] : p) {
                entry[name] = {
                    {"min", shapeToString(s[0])}, {"opt", shapeToString(s[1])}, {"max", shapeToString(s[2])}};
            }
            ps.push_back(entry);
        }
        j["profiles"] = ps;
        j["layers"] = layersJson(layers, timed ? &timings : nullptr, a.iterations);
        if (const std::string g = cudaGraphVerdict(*file); !g.empty()) j["cudaGraph"] = g;
        if (timed) j["profileRuns"] = a.iterations;
        std::printf("%s\n", j.dump(2).c_str());
    } else {
        printHeader(*file, a.engine);
        if (const std::string g = cudaGraphVerdict(*file); !g.empty()) std::printf("  cuda graph  %s\n", g.c_str());
        printIo("inputs", file->graph->inputs());
        printIo("outputs", file->graph->outputs());
        std::printf("profiles%s\n", profiles->empty() ? " (none: every input is static)" : "");
        for (size_t i = 0; i < profiles->size(); ++i) {
            for (const auto& [name, s] : (*profiles)[i]) {
                std::printf("  %zu  %-24s min %s  opt %s  max %s\n", i, name.c_str(), shapeToString(s[0]).c_str(),
                            shapeToString(s[1]).c_str(), shapeToString(s[2]).c_str());
            }
        }
        std::printf("layers (%zu)%s\n", layers.size(),
                    bindings.empty() ? "" : "; memory of dynamic shapes at profile 0's opt shapes");
        printLayers(layers, timed ? &timings : nullptr, a.iterations);
    }
    if (!a.exportProfilePath.empty()) {
        if (Status s = exportProfile(a.exportProfilePath, layers, timings, a.iterations); !s) return fail(s);
        if (!a.json) std::printf("wrote the layer profile to %s\n", a.exportProfilePath.c_str());
    }
    return kExitOk;
}

}  // namespace

Handler addInspectCommand(CLI::App& app) {
    auto a = std::make_shared<InspectArgs>();
    CLI::App* cmd = app.add_subcommand("inspect", "Show an engine's header, I/O tensors, profiles and every layer");
    cmd->add_option("engine", a->engine, "Engine file, e.g. kiln inspect resnet50.engine")->required();
    cmd->add_flag("--json", a->json, "Print everything as one JSON document");
    cmd->add_flag("--profile", a->profile, "Time every layer on random inputs (CPU backend), e.g. --profile");
    cmd->add_option("--export-profile", a->exportProfilePath,
                    "Write the layer timings as JSON (implies --profile), e.g. --export-profile layers.json");
    cmd->add_option("--iterations", a->iterations, "Profiling runs, e.g. --iterations 20")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    cmd->add_option("--shapes", a->shapes, "Input shapes of the profiling run, e.g. --shapes input:8x3x224x224");
    cmd->add_option("--seed", a->seed, "Seed of the random inputs, e.g. --seed 7")->capture_default_str();
    return [a] { return runInspect(*a); };
}

}  // namespace kiln::cli
