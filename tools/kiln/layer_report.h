// Per-layer listing and profiling of an engine's optimized graph, for `kiln inspect` and `kiln exec
// --dumpLayerInfo/--dumpProfile`. The profile runs the engine itself (CPU or CUDA) in a context with a
// kiln::Profiler set: the engine's own kernels, each timed.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine_info.h"
#include "json_io.h"

namespace kiln::cli {

//! Time spent in one layer over a profiling run.
struct LayerTiming {
    std::vector<double> perRunMs;  //!< Its time in each run (calls in one run summed: If/Loop bodies run often).
    double totalMs() const;
    double medianMs() const;
};

//! Per-layer times of `engine` (whose optimized graph is `graph`; indexed like describeLayers) over `iterations`
//! runs of infer(), after one untimed warm-up run.
Result<std::vector<LayerTiming>> profileLayers(const Engine& engine, const ir::Graph& graph,
                                               const std::map<std::string, Tensor>& inputs, int iterations);

//! The layer table on stdout; with timings, mean ms per run and share of the total.
void printLayers(const std::vector<LayerInfo>& layers, const std::vector<LayerTiming>* timings, int iterations);

//! Layers as JSON objects (with "averageMs" and "percentage" when timed).
nlohmann::json layersJson(const std::vector<LayerInfo>& layers, const std::vector<LayerTiming>* timings,
                          int iterations);

//! trtexec's --exportProfile format: [{"count": N}, {"name", "timeMs", "averageMs", "medianMs", "percentage"}...].
Status exportProfile(const std::string& path, const std::vector<LayerInfo>& layers,
                     const std::vector<LayerTiming>& timings, int iterations);

}  // namespace kiln::cli
