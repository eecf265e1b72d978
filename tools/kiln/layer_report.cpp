#include "layer_report.h"

#include <cstdio>
#include <unordered_map>

#include "backends/cpu/executor.h"
#include "shapes.h"
#include "stats.h"

namespace kiln::cli {

double LayerTiming::totalMs() const {
    double sum = 0;
    for (double v : perRunMs) sum += v;
    return sum;
}

double LayerTiming::medianMs() const { return Stats(perRunMs).median(); }

Result<std::vector<LayerTiming>> profileLayers(const ir::Graph& graph, const std::map<std::string, Tensor>& inputs,
                                               int iterations) {
    std::unordered_map<const ir::Node*, size_t> index;
    for (size_t i = 0; i < graph.nodes().size(); ++i) index[graph.nodes()[i].get()] = i;
    std::vector<LayerTiming> timings(graph.nodes().size());
    const std::unordered_map<std::string, Tensor> named(inputs.begin(), inputs.end());
    cpu::Executor executor;
    KILN_RETURN_IF_ERROR(executor.runNamed(graph, named).status());  // warm-up: caches, allocator, lazy packing
    std::vector<double> run(graph.nodes().size());
    // Nodes inside If/Loop/Scan bodies are not layers of the engine: their time is in their parent's.
    executor.setNodeObserver([&](const ir::Node& node, double seconds) {
        if (auto it = index.find(&node); it != index.end()) run[it->second] += seconds * 1000.0;
    });
    for (int r = 0; r < iterations; ++r) {
        std::fill(run.begin(), run.end(), 0.0);
        KILN_RETURN_IF_ERROR(executor.runNamed(graph, named).status());
        for (size_t i = 0; i < run.size(); ++i) timings[i].perRunMs.push_back(run[i]);
    }
    return timings;
}

namespace {

double grandTotal(const std::vector<LayerTiming>& timings) {
    double total = 0;
    for (const LayerTiming& t : timings) total += t.totalMs();
    return total;
}

std::string fusedText(const LayerInfo& l) {
    std::string s;
    for (const std::string& op : l.fused) s += (s.empty() ? "" : " + ") + op;
    return s;
}

}  // namespace

void printLayers(const std::vector<LayerInfo>& layers, const std::vector<LayerTiming>* timings, int iterations) {
    const double total = timings ? grandTotal(*timings) : 0;
    // Fixed-width columns first; the output shape and the fused ops (long, variable) last.
    std::printf("%4s  %-32s %-18s %-5s %10s %10s", "#", "name", "op", "prec", "memory", "weights");
    if (timings) std::printf(" %10s %6s", "ms/run", "%");
    std::printf("  %-24s %s\n", "output shape", "fused");
    for (const LayerInfo& l : layers) {
        std::string name = l.name.empty() ? "(unnamed)" : l.name;
        if (name.size() > 32) name = name.substr(0, 29) + "...";
        const std::string memory = l.outputBytes < 0 ? "?" : formatBytes(static_cast<size_t>(l.outputBytes));
        const std::string weights = l.weightBytes == 0 ? "-" : formatBytes(static_cast<size_t>(l.weightBytes));
        const std::string precision = l.precision + (l.pinned.empty() ? "" : "*");
        std::printf("%4zu  %-32s %-18s %-5s %10s %10s", l.index, name.c_str(), l.op.c_str(), precision.c_str(),
                    memory.c_str(), weights.c_str());
        if (timings) {
            const double ms = (*timings)[l.index].totalMs();
            std::printf(" %10.4f %6.2f", ms / iterations, total > 0 ? 100.0 * ms / total : 0.0);
        }
        std::printf("  %-24s %s\n", l.outputShape.c_str(), fusedText(l).c_str());
    }
    if (timings) std::printf("total %.4f ms per run over %d runs\n", total / iterations, iterations);
    std::map<std::string, int> pinned;
    for (const LayerInfo& l : layers) {
        if (!l.pinned.empty()) ++pinned[l.pinned + (l.pinned == l.precision ? "" : " (computes " + l.precision + ")")];
    }
    if (pinned.empty()) return;
    std::string counts;
    for (const auto& [p, n] : pinned) counts += (counts.empty() ? "" : ", ") + std::to_string(n) + " pinned to " + p;
    std::printf("* pinned by a layer precision override: %s\n", counts.c_str());
}

nlohmann::json layersJson(const std::vector<LayerInfo>& layers, const std::vector<LayerTiming>* timings,
                          int iterations) {
    const double total = timings ? grandTotal(*timings) : 0;
    nlohmann::json list = nlohmann::json::array();
    for (const LayerInfo& l : layers) {
        nlohmann::json j = {{"index", l.index},
                            {"name", l.name},
                            {"op", l.op},
                            {"fused", l.fused},
                            {"kernel", l.kernel},
                            {"precision", l.precision},
                            {"pinnedPrecision", l.pinned.empty() ? nlohmann::json() : nlohmann::json(l.pinned)},
                            {"outputs", l.outputs},
                            {"outputShape", l.outputShape},
                            {"weightBytes", l.weightBytes}};
        j["outputBytes"] = l.outputBytes < 0 ? nlohmann::json() : nlohmann::json(l.outputBytes);
        if (timings) {
            const LayerTiming& t = (*timings)[l.index];
            j["averageMs"] = t.totalMs() / iterations;
            j["medianMs"] = t.medianMs();
            j["percentage"] = total > 0 ? 100.0 * t.totalMs() / total : 0.0;
        }
        list.push_back(std::move(j));
    }
    return list;
}

Status exportProfile(const std::string& path, const std::vector<LayerInfo>& layers,
                     const std::vector<LayerTiming>& timings, int iterations) {
    const double total = grandTotal(timings);
    nlohmann::json list = nlohmann::json::array();
    list.push_back({{"count", iterations}});
    for (const LayerInfo& l : layers) {
        const LayerTiming& t = timings[l.index];
        list.push_back({{"name", l.name},
                        {"op", l.op},
                        {"timeMs", t.totalMs()},
                        {"averageMs", t.totalMs() / iterations},
                        {"medianMs", t.medianMs()},
                        {"percentage", total > 0 ? 100.0 * t.totalMs() / total : 0.0}});
    }
    return writeJson(path, list);
}

}  // namespace kiln::cli
