#include "layer_report.h"

#include <cstdio>
#include <unordered_map>

#include "shapes.h"
#include "stats.h"

namespace kiln::cli {

double LayerTiming::totalMs() const {
    double sum = 0;
    for (double v : perRunMs) sum += v;
    return sum;
}

double LayerTiming::medianMs() const { return Stats(perRunMs).median(); }

namespace {

//! Collects one run's layer times into the slots of `graph`'s nodes. Layers come in execution order, which is the
//! graph's order, so each name is looked up from where the previous one was found (names may repeat).
class RunCollector final : public Profiler {
public:
    explicit RunCollector(const ir::Graph& graph) : mGraph(graph), mRun(graph.nodes().size(), 0.0) {}
    void reportLayerTime(const char* layerName, float ms) noexcept override {
        const auto& nodes = mGraph.nodes();
        for (size_t k = 0; k < nodes.size(); ++k) {
            const size_t i = (mCursor + k) % nodes.size();
            if (nodes[i]->name() == layerName) {
                mRun[i] += ms;
                mCursor = i + 1;
                return;
            }
        }
    }
    //! The run's times, and a fresh start for the next one.
    std::vector<double> take() {
        std::vector<double> run(mRun.size(), 0.0);
        run.swap(mRun);
        mCursor = 0;
        return run;
    }

private:
    const ir::Graph& mGraph;
    std::vector<double> mRun;
    size_t mCursor = 0;
};

}  // namespace

Result<std::vector<LayerTiming>> profileLayers(const Engine& engine, const ir::Graph& graph,
                                               const std::map<std::string, Tensor>& inputs, int iterations) {
    KILN_ASSIGN_OR_RETURN(auto context, engine.createExecutionContext());
    KILN_RETURN_IF_ERROR(context->infer(inputs).status());  // warm-up: caches, allocator, algorithm choice
    RunCollector collector(graph);
    context->setProfiler(&collector);
    std::vector<LayerTiming> timings(graph.nodes().size());
    for (int r = 0; r < iterations; ++r) {
        KILN_RETURN_IF_ERROR(context->infer(inputs).status());
        const std::vector<double> run = collector.take();
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

//! The fused ops, then the CUDA build's timed tactic where there is one.
std::string fusedText(const LayerInfo& l) {
    std::string s;
    for (const std::string& op : l.fused) s += (s.empty() ? "" : " + ") + op;
    if (!l.tactic.empty()) s += (s.empty() ? "" : "  ") + l.tactic;
    return s;
}

}  // namespace

void printLayers(const std::vector<LayerInfo>& layers, const std::vector<LayerTiming>* timings, int iterations) {
    const double total = timings ? grandTotal(*timings) : 0;
    // Fixed-width columns first; the output shape and the fused ops with the tactic (long, variable) last.
    std::printf("%4s  %-32s %-18s %-5s %10s %10s", "#", "name", "op", "prec", "memory", "weights");
    if (timings) std::printf(" %10s %6s", "ms/run", "%");
    std::printf("  %-24s %s\n", "output shape", "fused [tactic]");
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
