#include "backends/cuda/placement.h"

#include <unordered_map>

#include "backends/cpu/executor.h"
#include "backends/cuda/kernel.h"
#include "ir/graph_edit.h"

namespace kiln::cuda {

namespace {

bool isIntegerLike(DataType t) { return isInteger(t) || t == DataType::kBool; }

bool touchesStrings(const ir::Node& n) {
    for (const ir::Value* v : n.inputs()) {
        if (v && v->dtype() == DataType::kString) return true;
    }
    for (const ir::Value* v : n.outputs()) {
        if (v && v->dtype() == DataType::kString) return true;
    }
    return false;
}

bool isHostInput(const ir::Node& n, size_t k) {
    const uint32_t mask = cudaKernel(n.op()).hostInputs;
    return k < 32 && (mask >> k & 1u);
}

std::string quoted(const ir::Value* v) { return "'" + v->name() + "'"; }

}  // namespace

NodePlacement placeNodes(const ir::Graph& graph) {
    const auto& nodes = graph.nodes();
    NodePlacement out;
    out.placement.resize(nodes.size(), Placement::kDevice);
    out.reason.resize(nodes.size());
    std::unordered_map<const ir::Value*, bool> hostProduced;
    for (size_t i = 0; i < nodes.size(); ++i) {
        const ir::Node& n = *nodes[i];
        Placement p = Placement::kDevice;
        std::string why;
        if (n.op() == ir::OpKind::kShape || n.op() == ir::OpKind::kSize) {
            p = Placement::kMeta;
            why = "reads only a shape";
        } else if (ir::hasSubgraphs(n)) {
            p = Placement::kHost;
            why = "control flow: its subgraphs run on the CPU reference executor";
        } else if (touchesStrings(n)) {
            p = Placement::kHost;
            why = "string tensors live on the host";
        } else if (cudaKernel(n.op()).fn == nullptr) {
            p = Placement::kHost;
            why = "no CUDA kernel";
        } else {
            bool hostInputs = true;
            for (const ir::Value* in : n.inputs()) {
                if (in && !in->isConstant() && !hostProduced[in]) hostInputs = false;
            }
            bool intOutputs = !n.outputs().empty();
            for (const ir::Value* o : n.outputs()) {
                if (o && !isIntegerLike(o->dtype())) intOutputs = false;
            }
            if (hostInputs && intOutputs) {
                p = Placement::kHost;
                why = "integer shape arithmetic on host values";
            }
        }
        out.placement[i] = p;
        out.reason[i] = why;
        if (p != Placement::kDevice) {
            for (const ir::Value* o : n.outputs()) {
                if (o) hostProduced[o] = true;
            }
        }
    }
    return out;
}

ShapeOnly analyzeShapeOnly(const ir::Graph& graph, const NodePlacement& placement) {
    const auto& nodes = graph.nodes();
    ShapeOnly r;
    r.node.resize(nodes.size(), false);
    // Values whose shape the input shapes fix (every value, unless a shape depends on data read at run time).
    std::unordered_set<const ir::Value*> fixedShape(graph.inputs().begin(), graph.inputs().end());
    auto isValue = [&](const ir::Value* v) { return v == nullptr || v->isConstant() || r.values.count(v) > 0; };
    auto isFixed = [&](const ir::Value* v) { return isValue(v) || fixedShape.count(v) > 0; };
    for (size_t i = 0; i < nodes.size(); ++i) {
        const ir::Node& n = *nodes[i];
        bool shapeOnly = false;
        bool outputsFixed = false;
        switch (placement.placement[i]) {
            case Placement::kMeta: shapeOnly = isFixed(n.input(0)); break;
            case Placement::kHost: {
                // Random ops draw anew every run; subgraph bodies may hold them (and are not worth the analysis).
                shapeOnly = ir::opInfo(n.op()).family != "Random" && !ir::hasSubgraphs(n);
                for (const ir::Value* in : n.inputs()) shapeOnly = shapeOnly && isValue(in);
                break;
            }
            case Placement::kDevice: {
                // A CUDA kernel's output shape follows from its input shapes and the values it reads on the host.
                outputsFixed = true;
                for (size_t k = 0; k < n.inputs().size(); ++k) {
                    const ir::Value* in = n.input(k);
                    outputsFixed = outputsFixed && (isHostInput(n, k) ? isValue(in) : isFixed(in));
                }
                break;
            }
        }
        r.node[i] = shapeOnly;
        for (const ir::Value* o : n.outputs()) {
            if (!o) continue;
            if (shapeOnly) r.values.insert(o);
            if (shapeOnly || outputsFixed) fixedShape.insert(o);
        }
    }
    std::unordered_set<const ir::Value*> kept;
    for (size_t i = 0; i < nodes.size(); ++i) {
        if (r.node[i]) continue;
        for (const ir::Value* in : nodes[i]->inputs()) {
            if (in && r.values.count(in) && kept.insert(in).second) r.kept.push_back(in);
        }
        for (const ir::Value* v : cpu::nodeCaptures(*nodes[i])) {
            if (r.values.count(v) && kept.insert(v).second) r.kept.push_back(v);
        }
    }
    for (const ir::Value* out : graph.outputs()) {
        if (r.values.count(out) && kept.insert(out).second) r.kept.push_back(out);
    }
    return r;
}

CaptureVerdict captureVerdict(const ir::Graph& graph, const NodePlacement& placement, const ShapeOnly& shapeOnly) {
    const auto& nodes = graph.nodes();
    // Values computed on the host during every run (by host nodes that are not shape-only), with their producer.
    std::unordered_map<const ir::Value*, size_t> onHost;
    auto steady = [&](const ir::Value* v) { return v == nullptr || v->isConstant() || shapeOnly.values.count(v); };
    auto fail = [](int64_t node, std::string why) { return CaptureVerdict{false, node, std::move(why)}; };
    for (size_t i = 0; i < nodes.size(); ++i) {
        if (shapeOnly.node[i]) continue;
        const ir::Node& n = *nodes[i];
        const std::string who = n.describe();
        switch (placement.placement[i]) {
            case Placement::kMeta: break;
            case Placement::kHost: {
                std::vector<const ir::Value*> reads(n.inputs().begin(), n.inputs().end());
                for (const ir::Value* v : cpu::nodeCaptures(n)) reads.push_back(v);
                for (const ir::Value* in : reads) {
                    if (steady(in) || onHost.count(in)) continue;
                    return fail(static_cast<int64_t>(i),
                                who + " runs on the host (" + placement.reason[i] + ") and reads " + quoted(in) +
                                    ", which is on the device: a download and a stream synchronization per enqueue");
                }
                break;
            }
            case Placement::kDevice: {
                for (size_t k = 0; k < n.inputs().size(); ++k) {
                    const ir::Value* in = n.input(k);
                    if (steady(in)) continue;
                    const auto host = onHost.find(in);
                    if (isHostInput(n, k)) {
                        return fail(static_cast<int64_t>(i),
                                    who + " reads input " + std::to_string(k) + " " + quoted(in) +
                                        " on the host, and its value is " +
                                        (host == onHost.end() ? "computed on the device: a download and a stream "
                                                                "synchronization per enqueue"
                                                              : "computed anew by every run"));
                    }
                    if (host != onHost.end()) {
                        return fail(static_cast<int64_t>(i),
                                    who + " reads " + quoted(in) + ", computed on the host by " +
                                        nodes[host->second]->describe() +
                                        " in every run: an upload from pageable memory per enqueue");
                    }
                }
                break;
            }
        }
        if (placement.placement[i] != Placement::kDevice) {
            for (const ir::Value* o : n.outputs()) {
                if (o) onHost.emplace(o, i);
            }
        }
    }
    for (const ir::Value* out : graph.outputs()) {
        if (auto host = onHost.find(out); host != onHost.end()) {
            return fail(-1, "graph output " + quoted(out) + " is computed on the host by " +
                                nodes[host->second]->describe() + " in every run");
        }
    }
    return {};
}

CaptureVerdict analyzeCapture(const ir::Graph& graph) {
    const NodePlacement placement = placeNodes(graph);
    return captureVerdict(graph, placement, analyzeShapeOnly(graph, placement));
}

}  // namespace kiln::cuda
