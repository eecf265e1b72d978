// kiln exec: build (or load), benchmark, and the exports trtexec offers, in trtexec's order and log style.
#include <chrono>
#include <cstdio>

#include "cli.h"
#include "exec.h"
#include "layer_report.h"
#include "postprocess.h"
#include "tensor_io.h"

namespace kiln::cli {

namespace {

//! The engine plus its optimized graph (for layer information and profiles): from --loadEngine, from
//! --saveEngine after building it there, or from the serialized bytes of an in-memory build.
struct ExecEngine {
    EngineSource source;
    plan::EngineFile file;
};

Result<ExecEngine> buildOrLoad(const ExecArgs& a) {
    ExecEngine e;
    const auto start = std::chrono::steady_clock::now();
    if (!a.loadEngine.empty()) {
        KILN_ASSIGN_OR_RETURN(e.source, loadOrBuildEngine(a.loadEngine, a.build, true));
        KILN_ASSIGN_OR_RETURN(e.file, readEngineFile(a.loadEngine, false));
        std::printf("[I] Engine loaded from %s in %.3f s\n", a.loadEngine.c_str(), e.source.buildSeconds);
        return e;
    }
    KILN_RETURN_IF_ERROR(checkReadable(a.onnx, "model"));
    Builder builder(logger());
    KILN_ASSIGN_OR_RETURN(auto config, makeConfig(builder, a.build));
    e.source.path = a.onnx;
    e.source.fromOnnx = true;
    e.source.precision = a.build.precisionFlags();
    if (!a.saveEngine.empty()) {
        // trtexec always builds: --force, so a file that happens to match is still rebuilt and timed.
        KILN_ASSIGN_OR_RETURN(EngineFileResult r, builder.buildEngineFile(a.onnx, *config, a.saveEngine, {true, true}));
        e.source.engine = std::move(r.engine);
        KILN_ASSIGN_OR_RETURN(e.file, readEngineFile(a.saveEngine, false));
    } else {
        auto network = builder.createNetwork();
        OnnxParser parser(*network, logger());
        KILN_RETURN_IF_ERROR(parser.parseFromFile(a.onnx));
        KILN_ASSIGN_OR_RETURN(auto blob, builder.buildSerializedNetwork(*network, *config));
        Runtime runtime(logger());
        KILN_ASSIGN_OR_RETURN(e.source.engine, runtime.deserializeEngine(blob->data(), blob->size()));
        plan::EngineExpectation any;  // the blob was just built, for whichever backend the config resolved to
        any.backend.clear();
        KILN_ASSIGN_OR_RETURN(e.file, plan::loadEngineFromMemory(blob->data(), blob->size(), nullptr, any));
    }
    e.source.backend = e.file.metadata.backend;
    e.source.buildSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("[I] Engine built in %.3f s (%s)%s\n", e.source.buildSeconds, precisionText(e.source.precision).c_str(),
                a.saveEngine.empty() ? "" : (", saved to " + a.saveEngine).c_str());
    return e;
}

//! The inputs the benchmark ran with (same plan and seed), for --exportOutput/--dumpOutput and the profile.
Result<std::map<std::string, Tensor>> benchInputs(const Engine& engine, const BenchOptions& o) {
    std::map<std::string, Shape> requested = o.shapes;
    for (const auto& [name, t] : o.givenInputs) requested[name] = t.shape();
    KILN_ASSIGN_OR_RETURN(InputPlan plan, planInputs(engine, requested));
    return makeInputs(engine, plan, o.givenInputs, o.seed);
}

Status outputs(const ExecArgs& a, const Engine& engine) {
    KILN_ASSIGN_OR_RETURN(auto inputs, benchInputs(engine, a.bench));
    KILN_ASSIGN_OR_RETURN(auto context, engine.createExecutionContext());
    KILN_ASSIGN_OR_RETURN(auto results, context->infer(inputs));
    nlohmann::json list = nlohmann::json::array();
    for (const auto& [name, t] : results) {
        if (a.dumpOutput) std::printf("[I] Output %s: %s\n", name.c_str(), describeTensor(t).c_str());
        std::vector<double> values;
        for (int64_t i = 0; i < t.numel(); ++i) values.push_back(t.getDouble(i));
        list.push_back({{"name", name}, {"dimensions", shapeToString(t.shape())}, {"values", values}});
    }
    if (!a.exportOutput.empty()) KILN_RETURN_IF_ERROR(writeJson(a.exportOutput, list));
    return Status::ok();
}

Status layers(const ExecArgs& a, const ExecEngine& e) {
    const auto list = describeLayers(*e.file.graph, e.file.metadata.backend);
    if (a.dumpLayerInfo) printLayers(list, nullptr, 1);
    if (!a.exportLayerInfo.empty()) KILN_RETURN_IF_ERROR(writeJson(a.exportLayerInfo, layersJson(list, nullptr, 1)));
    if (!a.dumpProfile && a.exportProfile.empty()) return Status::ok();
    KILN_ASSIGN_OR_RETURN(auto inputs, benchInputs(*e.source.engine, a.bench));
    const int runs = static_cast<int>(std::max<int64_t>(a.bench.iterations, 1));
    KILN_ASSIGN_OR_RETURN(auto timings, profileLayers(*e.source.engine, *e.file.graph, inputs, runs));
    if (a.dumpProfile) printLayers(list, &timings, runs);
    if (!a.exportProfile.empty()) KILN_RETURN_IF_ERROR(exportProfile(a.exportProfile, list, timings, runs));
    return Status::ok();
}

int finish(const ExecArgs& a, int rc) {
    std::printf("&&&& %s Kiln.exec [Kiln v%s] # %s\n", rc == kExitOk ? "PASSED" : "FAILED", KILN_VERSION,
                a.commandLine.c_str());
    return rc;
}

}  // namespace

int runExec(ExecArgs& a) {
    if (a.onnx.empty() && a.loadEngine.empty()) return usage("kiln exec needs --onnx=model.onnx or --loadEngine=file");
    if (!a.onnx.empty() && !a.loadEngine.empty()) return usage("give --onnx= or --loadEngine=, not both");
    std::vector<InputFile> files;
    std::vector<std::string> inputFlags;
    for (const std::string& text : a.loadInputs) inputFlags.push_back(text);
    const int prepared =
        prepareBench(a.percentiles, a.build, inputFlags,
                     {a.exportTimes, a.exportProfile, a.exportLayerInfo, a.exportOutput, a.saveEngine}, a.bench, files);
    if (prepared != kExitOk) return prepared;
    std::printf("&&&& RUNNING Kiln.exec [Kiln v%s] # %s\n", KILN_VERSION, a.commandLine.c_str());
    auto e = buildOrLoad(a);
    if (!e) return finish(a, fail(e.status()));
    if (!a.skipInference) {
        const int rc = runBenchOn(e->source, a.bench, files, a.exportTimes, "", true);
        if (rc != kExitOk) return finish(a, rc);
        if (a.dumpOutput || !a.exportOutput.empty()) {
            if (Status s = outputs(a, *e->source.engine); !s) return finish(a, fail(s));
        }
    }
    if (Status s = layers(a, *e); !s) return finish(a, fail(s));
    return finish(a, kExitOk);
}

}  // namespace kiln::cli
