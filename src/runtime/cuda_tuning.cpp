// Tactic timing of a CUDA build (backends/cuda/tactics.h): one run of the optimized graph at the opt shapes with a
// TacticTuner, the timing cache read before and written after, the choices written into the graph's nodes.
#include <cuda_runtime.h>

#include <chrono>
#include <cstdio>
#include <random>

#include "backends/cuda/resources.h"
#include "backends/cuda/tactics.h"
#include "common/dispatch.h"
#include "plan/timing_cache.h"
#include "runtime/engine_base.h"
#include "runtime/engine_impl.h"

namespace kiln::runtime {
namespace {

std::string option(const std::map<std::string, std::string>& o, const std::string& key, const std::string& fallback) {
    auto it = o.find(key);
    return it == o.end() ? fallback : it->second;
}

//! Random inputs at the opt shapes of profile 0 (the static shapes for inputs it does not name): floats uniform in
//! [-1, 1]; integers and bools zero, which is a valid index or mask wherever the model takes one.
Result<std::vector<Tensor>> optShapeInputs(const ir::Graph& graph, const std::vector<ProfileShapes>& profiles) {
    std::vector<Tensor> feeds;
    std::mt19937_64 rng(20261124);
    std::uniform_real_distribution<float> dist(-1.0F, 1.0F);
    for (const ir::Value* in : graph.inputs()) {
        Shape shape = symbolicToShape(in->shape());
        if (!profiles.empty()) {
            if (auto it = profiles[0].find(in->name()); it != profiles[0].end()) shape = it->second[1];
        }
        for (int64_t d : shape) {
            if (d < 0) return unsupported("input '" + in->name() + "' has no opt shape");
        }
        KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(in->dtype(), shape));
        if (isFloatingPoint(in->dtype())) {
            KILN_RETURN_IF_ERROR(dispatchFloat(in->dtype(), [&]<typename T>() {
                T* data = t.data<T>();
                for (int64_t i = 0; i < t.numel(); ++i) data[i] = fromDouble<T>(dist(rng));
                return Status::ok();
            }));
        }
        feeds.push_back(std::move(t));
    }
    return feeds;
}

Result<plan::TimingEnvironment> timingEnvironment(int32_t device) {
    cudaDeviceProp prop{};
    if (const cudaError_t err = cudaGetDeviceProperties(&prop, device); err != cudaSuccess) {
        return internalError(std::string("cudaGetDeviceProperties: ") + cudaGetErrorString(err));
    }
    return plan::TimingEnvironment{prop.name, prop.major, prop.minor, static_cast<int64_t>(cudnnGetVersion()),
                                   static_cast<int64_t>(cublasLtGetVersion())};
}

std::string seconds(double s) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.2f s", s);
    return buf;
}

}  // namespace

Status tuneCudaGraph(ir::Graph& graph, const std::vector<ProfileShapes>& profiles,
                     const std::map<std::string, std::string>& buildOptions, ILogger& logger) {
    const int level = std::stoi(option(buildOptions, "opt_level", "3"));
    const std::string cachePath = option(buildOptions, "timing_cache", "");
    if (level == 0) {
        logLine(logger, ILogger::Severity::kInfo,
                "tactics: optimization level 0 times nothing (cuDNN's and cuBLASLt's heuristic choices)" +
                    std::string(cachePath.empty() ? "" : "; the timing cache is not used"));
        return Status::ok();
    }
    const auto started = std::chrono::steady_clock::now();
    const int32_t device = std::stoi(option(buildOptions, "device", "0"));
    KILN_ASSIGN_OR_RETURN(plan::TimingEnvironment env, timingEnvironment(device));
    plan::LoadedTimingCache loaded{plan::TimingCache(env), {}, false};
    if (!cachePath.empty()) {
        loaded = plan::loadTimingCache(cachePath, env);
        if (!loaded.note.empty()) {
            logLine(logger, loaded.corrupt ? ILogger::Severity::kWarning : ILogger::Severity::kInfo, loaded.note);
        }
    }
    const size_t entriesBefore = loaded.cache.size();
    cuda::TacticTuner tuner(level, loaded.cache);
    auto run = [&]() -> Status {
        KILN_ASSIGN_OR_RETURN(std::vector<Tensor> feeds, optShapeInputs(graph, profiles));
        KILN_ASSIGN_OR_RETURN(auto plan, cuda::ExecutionPlan::create(graph));
        KILN_ASSIGN_OR_RETURN(auto resources, cuda::ContextResources::create(device, 0));
        cuda::RunOptions options;
        options.allowTf32 = option(buildOptions, "tf32", "1") != "0";
        options.workspaceLimit = static_cast<size_t>(std::stoull(option(buildOptions, "workspace", "0")));
        options.tuner = &tuner;
        return cuda::runOnHostTensors(*plan, *resources, feeds, options).status();
    };
    if (Status s = run(); !s) {
        // The engine still builds: its layers take the heuristics' choices, as at level 0.
        logLine(logger, ILogger::Severity::kWarning,
                "tactics: the timing run at the opt shapes failed (" + s.message() +
                    "); layers keep cuDNN's and cuBLASLt's heuristic choices");
        return Status::ok();
    }
    const auto assigned = tuner.assignments();
    for (const auto& node : graph.nodes()) {
        auto it = assigned.find(node.get());
        if (it == assigned.end()) continue;
        node->attrs().set(cuda::kTacticAttribute, std::vector<std::string>{it->second.first, it->second.second});
    }
    const cuda::TuningStats stats = tuner.stats();
    std::string cacheNote;
    if (!cachePath.empty()) {
        if (loaded.cache.size() != entriesBefore || !loaded.note.empty()) {
            KILN_RETURN_IF_ERROR(plan::saveTimingCache(cachePath, loaded.cache));
        }
        cacheNote = "; timing cache " + cachePath + ": " + std::to_string(loaded.cache.size()) + " entries (" +
                    std::to_string(loaded.cache.size() - entriesBefore) + " new)";
    }
    const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    logLine(logger, ILogger::Severity::kInfo,
            "tactics: " + std::to_string(stats.layers) + " layers tuned at level " + std::to_string(level) + ", " +
                std::to_string(stats.problemsTimed) + " problems timed (" + std::to_string(stats.candidatesTimed) +
                " candidates, " + seconds(stats.timingSeconds) + "), " + std::to_string(stats.cacheHits) +
                " cache hits, " + seconds(total) + " in all" + cacheNote);
    return Status::ok();
}

}  // namespace kiln::runtime
