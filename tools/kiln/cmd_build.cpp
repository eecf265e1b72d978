// kiln build: ONNX model → engine file, through Builder::buildEngineFile (build-or-load: a matching engine is
// loaded, a stale one rebuilt), with a progress display and a summary.
#include <cstdio>
#include <filesystem>

#include "build_flags.h"
#include "cli.h"
#include "engine_info.h"
#include "progress.h"

namespace kiln::cli {

namespace {

struct BuildArgs {
    std::string model;
    std::string output;
    BuildFlags flags;
    bool force = false;
    bool noRebuild = false;
    bool quiet = false;
};

const char* actionName(EngineFileAction a) {
    switch (a) {
        case EngineFileAction::kLoaded: return "loaded";
        case EngineFileAction::kBuilt: return "built";
        case EngineFileAction::kRebuilt: return "rebuilt";
    }
    return "built";
}

std::string seconds(double s) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f s", s);
    return buf;
}

//! The summary after a build: what the engine file holds (read back from it) and where the time went.
void printSummary(const BuildArgs& a, const EngineFileResult& r, const BuildProgress& progress) {
    auto file = readEngineFile(a.output, false);
    if (!file) {
        warn("cannot read back '" + a.output + "' for the summary: " + file.status().message());
        return;
    }
    const auto layers = describeLayers(*file->graph, file->metadata.backend);
    std::printf("engine       %s: %s, format %u, Kiln %s, backend %s\n", a.output.c_str(),
                formatBytes(file->fileBytes).c_str(), file->formatVersion, file->metadata.kilnVersion.c_str(),
                file->metadata.backend.c_str());
    if (progress.nodesBefore() >= 0) {
        std::printf("layers       %ld imported nodes -> %zu layers after the passes\n", progress.nodesBefore(),
                    layers.size());
    } else {
        std::printf("layers       %zu (loaded, not optimized again)\n", layers.size());
    }
    std::string ops;
    for (const auto& [op, n] : countOps(layers)) ops += (ops.empty() ? "" : ", ") + op + " x" + std::to_string(n);
    std::printf("             %s\n", ops.c_str());
    std::map<std::string, int> byPrecision;
    for (const LayerInfo& l : layers) ++byPrecision[l.precision];
    std::string precision;
    for (const auto& [p, n] : byPrecision) precision += (precision.empty() ? "" : ", ") + p + " x" + std::to_string(n);
    std::printf("precision    %s (allowed: %s)\n", precision.c_str(),
                precisionText(precisionFlagsOf(file->metadata)).c_str());
    if (const auto pins = layerPrecisionsOf(file->metadata); !pins.empty()) {
        std::map<std::string, int> pinned;
        for (const LayerInfo& l : layers) {
            if (!l.pinned.empty()) ++pinned[l.pinned];
        }
        std::string counts;
        for (const auto& [p, n] : pinned) counts += (counts.empty() ? "" : ", ") + p + " x" + std::to_string(n);
        const auto& options = file->metadata.buildOptions;
        const auto constraints = options.find("precision_constraints");
        std::printf("             pinned %s by '%s' (%s)\n", counts.empty() ? "none" : counts.c_str(),
                    layerPrecisionsText(pins).c_str(),
                    constraints == options.end() ? "obey" : constraints->second.c_str());
    }
    if (const auto& o = file->metadata.buildOptions; o.count("accuracy.met")) {
        // The accuracy guard's result (src/builder/accuracy_guard.cpp records it).
        std::printf("accuracy     kept %s of %s lowered layers in FP32; error %s %s %s (calibration: %s)\n",
                    o.at("accuracy.kept_fp32").c_str(), o.at("accuracy.lowered").c_str(),
                    o.at("accuracy.error").c_str(), o.at("accuracy.met") == "1" ? "<=" : "> (not met)",
                    o.at("accuracy_target").c_str(), o.at("accuracy.calibration").c_str());
    }
    const size_t activations = r.engine ? r.engine->getActivationMemorySize() : 0;
    std::printf("activations  %s\n", activations > 0 ? (formatBytes(activations) + " per context").c_str()
                                                     : "sized at run time (not every shape is static)");
    std::printf("weights      %s\n", formatBytes(file->weightBytes).c_str());
    std::string phases;
    for (const auto& [name, s] : progress.phaseTimes())
        phases += (phases.empty() ? "" : ", ") + name + " " + seconds(s);
    std::printf("time         %s (%s)\n", seconds(progress.elapsedSeconds()).c_str(), phases.c_str());
}

int runBuild(BuildArgs& a) {
    if (Status s = checkBuildFlagSyntax(a.flags); !s) return usage(s.message());
    if (Status s = checkReadable(a.model, "model"); !s) return fail(s);
    if (Status s = checkWritable(a.output, "engine"); !s) return fail(s);
    Builder builder(logger());
    auto config = makeConfig(builder, a.flags);
    if (!config) return fail(config.status());
    EngineFileOptions options;
    options.force = a.force;
    options.rebuildStale = !a.noRebuild;

    BuildProgress progress(a.quiet ? nullptr : stdout, isTerminal(1));
    logger().setObserver([&progress](ILogger::Severity s, const std::string& line) { progress.onLog(s, line); });
    progress.phase("prepare", a.force ? "parse " + a.model : "look at " + a.output + ", parse " + a.model);
    auto result = builder.buildEngineFile(a.model, **config, a.output, options);
    progress.finish();
    logger().setObserver(nullptr);
    if (!result) return fail(result.status());
    std::printf("%s %s: %s\n", actionName(result->action), a.output.c_str(), result->reason.c_str());
    if (!a.quiet) printSummary(a, *result, progress);
    return kExitOk;
}

}  // namespace

Handler addBuildCommand(CLI::App& app) {
    auto a = std::make_shared<BuildArgs>();
    CLI::App* cmd = app.add_subcommand("build", "Build an engine file from an ONNX model (or reuse a matching one)");
    cmd->add_option("model", a->model, "ONNX model, e.g. kiln build resnet50.onnx -o resnet50.engine")->required();
    cmd->add_option("-o,--output", a->output, "Engine file to write (or reuse), e.g. -o resnet50.engine")->required();
    addBuildFlags(*cmd, a->flags, false);
    cmd->add_flag("--force", a->force, "Build and overwrite even when the file holds a matching engine");
    cmd->add_flag("--no-rebuild", a->noRebuild,
                  "Fail (naming both sides) instead of rebuilding an engine built by another Kiln, for another "
                  "device, with other options or from a changed model");
    cmd->add_flag("-q,--quiet", a->quiet, "Print only what happened (no progress, no summary)");
    cmd->footer(
        "Examples:\n"
        "  kiln build resnet50.onnx -o resnet50.engine --fp16 --shapes input:8x3x224x224\n"
        "  kiln build det.onnx -o det.engine --min-shapes x:1x3x32x32 --opt-shapes x:1x3x640x640 \\\n"
        "      --max-shapes x:1x3x1280x1280 --profile x:4x3x640x640 --workspace 1GiB");
    return [a] { return runBuild(*a); };
}

}  // namespace kiln::cli
