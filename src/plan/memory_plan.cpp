#include "plan/memory_plan.h"

#include <algorithm>

#include "backends/cpu/executor.h"
#include "plan/engine_file.h"

namespace kiln::plan {

namespace {

//! Values of `owner` read by `g` or graphs nested in it (outer-scope captures).
void collectCaptures(const ir::Graph& g, const ir::Graph& owner, std::vector<const ir::Value*>& out) {
    for (const auto& node : g.nodes()) {
        for (const ir::Value* in : node->inputs()) {
            if (in != nullptr && in->graph() == &owner) out.push_back(in);
        }
        for (const auto& [name, attr] : node->attrs().all()) {
            if (const auto* sub = std::get_if<std::shared_ptr<ir::Graph>>(&attr)) {
                if (*sub) collectCaptures(**sub, owner, out);
            } else if (const auto* subs = std::get_if<std::vector<std::shared_ptr<ir::Graph>>>(&attr)) {
                for (const auto& sg : *subs) {
                    if (sg) collectCaptures(*sg, owner, out);
                }
            }
        }
    }
    for (const ir::Value* o : g.outputs()) {
        if (o->graph() == &owner) out.push_back(o);
    }
}

size_t alignUp(size_t n, size_t a) { return (n + a - 1) / a * a; }

bool overlaps(const BufferAssignment& a, const BufferAssignment& b) {
    return a.firstUse <= b.lastUse && b.firstUse <= a.lastUse;
}

}  // namespace

std::optional<size_t> MemoryPlan::offsetOf(const ir::Value* v) const {
    const BufferAssignment* b = find(v);
    return b ? std::optional<size_t>(b->offset) : std::nullopt;
}

const BufferAssignment* MemoryPlan::find(const ir::Value* v) const {
    auto it = mIndex.find(v);
    return it == mIndex.end() ? nullptr : &buffers[it->second];
}

Result<MemoryPlan> planMemory(const ir::Graph& graph, const MemoryPlanOptions& options, const ShapeMap* shapes) {
    const size_t align = options.alignment;
    if (align == 0 || (align & (align - 1)) != 0) {
        return invalidArgument("memory plan alignment must be a power of two, got " + std::to_string(align));
    }
    MemoryPlan plan;
    plan.alignment = align;
    const auto end = static_cast<int64_t>(graph.nodes().size());

    for (int64_t i = 0; i < end; ++i) {
        const ir::Node& node = *graph.nodes()[static_cast<size_t>(i)];
        for (const ir::Value* v : node.outputs()) {
            if (v == nullptr || v->isConstant() || plan.mIndex.count(v)) continue;
            std::optional<Shape> shape;
            if (shapes != nullptr) {
                auto it = shapes->find(v);
                if (it != shapes->end()) shape = it->second;
            }
            if (!shape) shape = v->staticShape();
            if (!shape) {
                return invalidArgument(node.describe() + ": output '" + v->name() + "' has no static shape (" +
                                       ir::symbolicShapeToString(v->shape()) + "): resolve shapes before planning");
            }
            const size_t elem = dataTypeSize(v->dtype());
            if (elem == 0) {
                return unsupported(node.describe() + ": output '" + v->name() + "' of dtype " +
                                   dataTypeName(v->dtype()) + " has no fixed element size to plan");
            }
            // Shapes may come from an engine file: check them before multiplying.
            size_t bytes = elem;
            for (int64_t d : *shape) {
                if (d < 0 || (d > 0 && bytes > (size_t{1} << 62) / static_cast<size_t>(d))) {
                    return invalidArgument(node.describe() + ": output '" + v->name() + "' has an invalid shape " +
                                           shapeToString(*shape));
                }
                bytes *= static_cast<size_t>(d);
            }
            BufferAssignment b;
            b.value = v;
            b.bytes = bytes;
            b.firstUse = i;
            b.lastUse = i;
            plan.mIndex[v] = plan.buffers.size();
            plan.buffers.push_back(b);
        }
    }
    auto touch = [&](const ir::Value* v, int64_t at) {
        auto it = plan.mIndex.find(v);
        if (it != plan.mIndex.end()) {
            BufferAssignment& b = plan.buffers[it->second];
            b.lastUse = std::max(b.lastUse, at);
        }
    };
    for (int64_t i = 0; i < end; ++i) {
        const ir::Node& node = *graph.nodes()[static_cast<size_t>(i)];
        for (const ir::Value* in : node.inputs()) touch(in, i);
        std::vector<const ir::Value*> captures;
        for (const auto& [name, attr] : node.attrs().all()) {
            if (const auto* sub = std::get_if<std::shared_ptr<ir::Graph>>(&attr)) {
                if (*sub) collectCaptures(**sub, graph, captures);
            } else if (const auto* subs = std::get_if<std::vector<std::shared_ptr<ir::Graph>>>(&attr)) {
                for (const auto& sg : *subs) {
                    if (sg) collectCaptures(*sg, graph, captures);
                }
            }
        }
        for (const ir::Value* v : captures) touch(v, i);
    }
    for (const ir::Value* out : graph.outputs()) {
        auto it = plan.mIndex.find(out);
        if (it == plan.mIndex.end()) continue;
        BufferAssignment& b = plan.buffers[it->second];
        b.lastUse = end;
        if (options.outputs == OutputPolicy::kSeparate) b.firstUse = -1;
    }

    // Greedy by size: largest first (ties: earliest first), each into the best-fitting gap among the buffers
    // already placed whose lifetimes overlap its own.
    std::vector<size_t> order;
    for (size_t i = 0; i < plan.buffers.size(); ++i) {
        plan.totalBytes += plan.buffers[i].bytes;
        plan.totalAlignedBytes += alignUp(plan.buffers[i].bytes, align);
        if (plan.buffers[i].bytes > 0) order.push_back(i);
    }
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        const BufferAssignment& x = plan.buffers[a];
        const BufferAssignment& y = plan.buffers[b];
        const size_t xs = alignUp(x.bytes, align);
        const size_t ys = alignUp(y.bytes, align);
        return xs != ys ? xs > ys : x.firstUse < y.firstUse;
    });
    std::vector<size_t> placed;
    std::vector<const BufferAssignment*> live;
    for (size_t idx : order) {
        BufferAssignment& b = plan.buffers[idx];
        const size_t size = alignUp(b.bytes, align);
        live.clear();
        for (size_t p : placed) {
            if (overlaps(plan.buffers[p], b)) live.push_back(&plan.buffers[p]);
        }
        std::sort(live.begin(), live.end(),
                  [](const BufferAssignment* x, const BufferAssignment* y) { return x->offset < y->offset; });
        size_t cursor = 0;
        std::optional<size_t> best;
        size_t bestGap = 0;
        for (const BufferAssignment* o : live) {
            if (o->offset >= cursor && o->offset - cursor >= size) {
                const size_t gap = o->offset - cursor;
                if (!best || gap < bestGap) {
                    best = cursor;
                    bestGap = gap;
                }
            }
            cursor = std::max(cursor, o->offset + alignUp(o->bytes, align));
        }
        b.offset = best.value_or(cursor);
        plan.arenaBytes = std::max(plan.arenaBytes, b.offset + size);
        placed.push_back(idx);
    }
    return plan;
}

Status verifyMemoryPlan(const MemoryPlan& plan) {
    const auto& bs = plan.buffers;
    for (size_t i = 0; i < bs.size(); ++i) {
        const BufferAssignment& a = bs[i];
        if (a.bytes == 0) continue;
        const std::string name = "'" + a.value->name() + "'";
        if (plan.alignment == 0 || a.offset % plan.alignment != 0) return internalError(name + " is misaligned");
        if (a.offset + a.bytes > plan.arenaBytes) return internalError(name + " lies outside the arena");
        for (size_t j = i + 1; j < bs.size(); ++j) {
            const BufferAssignment& b = bs[j];
            if (b.bytes == 0 || !overlaps(a, b)) continue;
            if (a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes) {
                return internalError(name + " and '" + b.value->name() + "' are live together and overlap");
            }
        }
    }
    return Status::ok();
}

Result<ShapeMap> recordShapesByRunning(const ir::Graph& graph, const std::vector<Tensor>& inputs) {
    // A copy whose every node output is a graph output, so one run reports all shapes; values keep their index.
    KILN_ASSIGN_OR_RETURN(std::string bytes, serializeEngine(graph, EngineMetadata::current("cpu")));
    EngineExpectation expect;
    expect.verifyBodyChecksum = false;
    KILN_ASSIGN_OR_RETURN(EngineFile copy,
                          loadEngineFromMemory(bytes.data(), bytes.size(), nullptr, expect, nullptr, "shape copy"));
    ir::Graph& g = *copy.graph;
    std::vector<size_t> recorded;
    for (size_t i = 0; i < g.values().size(); ++i) {
        ir::Value* v = g.values()[i].get();
        if (v->producer() != nullptr && !v->isConstant()) {
            g.addOutput(v);
            recorded.push_back(i);
        }
    }
    KILN_ASSIGN_OR_RETURN(std::vector<Tensor> outs, cpu::Executor().run(g, inputs));
    const size_t first = outs.size() - recorded.size();
    ShapeMap shapes;
    for (size_t k = 0; k < recorded.size(); ++k) {
        shapes[graph.values()[recorded[k]].get()] = outs[first + k].shape();
    }
    return shapes;
}

}  // namespace kiln::plan
